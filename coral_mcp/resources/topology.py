"""`coral://topology`: the service graph as JSON."""

from __future__ import annotations

from coral_mcp.tools.data import CoralData
from coral_mcp.tools.services import get_topology

URI = "coral://topology"


async def read_topology(data: CoralData) -> str:
    """The same document `get_topology` returns, as JSON text."""
    return (await get_topology(data)).model_dump_json()
