"""The colony: ingests agent streams, stores them, serves REST and MCP."""
