"""MCP resources: read-only JSON views of the colony's state."""
