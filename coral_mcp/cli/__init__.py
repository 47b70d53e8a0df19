"""Command-line entry points: `coral` and `coral-mcp`."""
