"""The dependency graph tool: the whole graph, or the neighbourhood of one service."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from pydantic import Field

from coral_mcp.errors import QueryError
from coral_mcp.models import TopologyView
from coral_mcp.tools.data import CoralData
from coral_mcp.tools.schemas import TopologyOut
from coral_mcp.tools.services import require_service

MAX_DEPTH = 10


def neighbourhood(view: TopologyView, center: str, depth: int) -> TopologyView:
    """Services within `depth` hops of `center` (either direction) and the edges among them."""
    adjacent: dict[str, set[str]] = {}
    for edge in view.edges:
        adjacent.setdefault(edge.caller, set()).add(edge.callee)
        adjacent.setdefault(edge.callee, set()).add(edge.caller)
    reached = {center}
    frontier = {center}
    for _ in range(depth):
        frontier = {n for s in frontier for n in adjacent.get(s, ())} - reached
        reached |= frontier
    return replace(
        view,
        services=tuple(s for s in view.services if s in reached),
        edges=tuple(e for e in view.edges if e.caller in reached and e.callee in reached),
        external=tuple(x for x in view.external if x.service in reached),
    )


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
    parties). Give a service (and depth) to see only its neighbourhood."""
    view = await data.topology()
    if service is None:
        if depth is not None:
            raise QueryError("get_topology: depth needs a service to count hops from")
        return TopologyOut.of(view)
    await require_service(data, service, "get_topology")
    hops = 1 if depth is None else depth
    if not 0 <= hops <= MAX_DEPTH:
        raise QueryError(f"get_topology: depth must be 0-{MAX_DEPTH} (got {hops})")
    return TopologyOut.of(neighbourhood(view, service, hops), center=service, depth=hops)
