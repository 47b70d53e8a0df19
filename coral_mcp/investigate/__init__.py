"""The `coral ask` loop: providers, the MCP client bridge to a colony, rendering."""
