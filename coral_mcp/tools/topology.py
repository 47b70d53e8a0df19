"""The dependency graph tool: the whole graph, or the neighbourhood of one service."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from coral_mcp.errors import QueryError
from coral_mcp.tools.data import CoralData
from coral_mcp.tools.registry import tool
from coral_mcp.tools.schemas import TopologyOut
from coral_mcp.tools.services import require_service

MAX_DEPTH = 10
#: Services, edges and external peers listed at most, each.
MAX_ITEMS = 500


@tool(60, rest="topology")
async def get_topology(
    data: CoralData,
    service: Annotated[str | None, Field(description="Draw the graph around this service.")] = None,
    depth: Annotated[
        int | None, Field(description="Hops from the service, 0-10. Default 1.")
    ] = None,
) -> TopologyOut:
    """The service dependency graph seen on the wire: an edge caller -> callee means
    the caller holds TCP connections to the callee's listening port. `external`
    lists connections to addresses that are no watched service (databases, third
    parties). Give a service (and depth) for its neighbourhood; over 500 services,
    edges or peers the graph is cut (truncated says so)."""
    if service is None:
        if depth is not None:
            raise QueryError("get_topology: depth needs a service to count hops from")
        return TopologyOut.of(await data.topology(limit=MAX_ITEMS), max_items=MAX_ITEMS)
    hops = 1 if depth is None else depth
    if not 0 <= hops <= MAX_DEPTH:
        raise QueryError(f"get_topology: depth must be 0-{MAX_DEPTH} (got {hops})")
    await require_service(data, service, "get_topology")
    view = await data.topology(around=service, depth=hops, limit=MAX_ITEMS)
    return TopologyOut.of(view, center=service, depth=hops, max_items=MAX_ITEMS)
