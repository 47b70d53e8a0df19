"""Tools about services and the graph between them."""

from __future__ import annotations

import difflib

from coral_mcp.errors import QueryError
from coral_mcp.tools.data import CoralData
from coral_mcp.tools.paging import decode_cursor, encode_cursor
from coral_mcp.tools.params import Cursor, Detail, Limit, check_limit
from coral_mcp.tools.registry import tool
from coral_mcp.tools.schemas import ServiceList, ServiceOut

MAX_LIMIT = 200


@tool(10, rest="services")
async def list_services(
    data: CoralData, limit: Limit = 50, cursor: Cursor = None, detail: Detail = False
) -> ServiceList:
    """List every service Coral watches: status (up/down/stale), agents, pids,
    listening addresses and the latest value of its main metrics (every metric with
    detail=true, or get_service for one). Call it first to learn the service names the
    other tools take. limit: 1-200."""
    check_limit("list_services", limit, MAX_LIMIT)
    offset = decode_cursor(cursor)
    names = await data.service_names()
    now, stale_after = data.now(), data.service_stale_after()
    page = await data.services(names[offset : offset + limit]) if offset < len(names) else []
    more = offset + limit < len(names)
    hint = None
    if not names:
        hint = (
            "No services reported yet. Is an agent running and connected to this colony?"
            " Start one with `coral agent start --colony HOST:PORT`, or `coral up` on this host."
        )
    return ServiceList(
        services=[ServiceOut.of(v, now, stale_after, detail) for v in page],
        count=len(page),
        total=len(names),
        truncated=more,
        next_cursor=encode_cursor(offset + limit) if more else None,
        hint=hint,
    )


async def require_service(data: CoralData, service: str, query: str) -> None:
    """Raise QueryError naming the closest known services when `service` is unknown."""
    if await data.has_service(service):
        return
    names = await data.service_names()
    close = difflib.get_close_matches(service, names, n=3, cutoff=0.5)
    suggestion = (
        f"did you mean {', '.join(close)}?" if close else "call list_services for the names"
    )
    raise QueryError(f"{query}: unknown service {service!r}", hint=suggestion)
