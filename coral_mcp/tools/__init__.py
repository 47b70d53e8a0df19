"""MCP tools: thin functions that validate, ask the colony's data, and shape results."""
