"""The colony's web dashboard: server-rendered pages over the same tools MCP and REST
serve, with the scripts and styles shipped in the package (no CDN: works air-gapped)."""
