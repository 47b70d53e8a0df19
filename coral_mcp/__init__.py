"""Coral: an observability brain for distributed applications, spoken over MCP."""

__version__ = "0.1.0"

#: Version of the agent <-> colony protocol (coral.v1). The colony refuses an agent
#: whose protocol version it does not speak.
PROTOCOL_VERSION = 1
