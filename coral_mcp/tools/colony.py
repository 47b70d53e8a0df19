"""Tools about the colony itself and what happened: status, agents, events."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import Field

from coral_mcp.errors import QueryError
from coral_mcp.models.timerange import parse_range, rfc3339
from coral_mcp.tools.data import CoralData
from coral_mcp.tools.paging import decode_cursor, encode_cursor
from coral_mcp.tools.params import Cursor, Detail, End, Limit, Start, check_limit
from coral_mcp.tools.registry import tool
from coral_mcp.tools.schemas import AgentList, ColonyStatusOut, EventList
from coral_mcp.tools.services import require_service

MAX_EVENTS = 500
MAX_AGENTS = 1000


@tool(120, rest="status")
async def colony_status(
    data: CoralData,
    limit: Annotated[
        int, Field(description="Agents listed, 0-1000; those not online come first.")
    ] = 20,
) -> ColonyStatusOut:
    """The colony's own health: agents online, stale or offline (those needing
    attention first), data freshness, ingestion rate, disk use, retention. Check it
    when data looks missing or old."""
    if not 0 <= limit <= MAX_AGENTS:
        raise QueryError(f"colony_status: limit must be 0-{MAX_AGENTS} (got {limit})")
    return ColonyStatusOut.of(await data.status(), data.now(), limit)


@tool(125, rest="agents", mcp=False)
async def list_agents(data: CoralData) -> AgentList:
    """Agents and their state: online, stale or offline, when last heard from."""
    agents = await data.agents()
    return AgentList.model_validate({"agents": agents, "count": len(agents)})


@tool(50, rest="events")
async def get_events(
    data: CoralData,
    start: Start = None,
    end: End = None,
    service: Annotated[str | None, Field(description="Only this service.")] = None,
    kinds: Annotated[
        list[str] | None,
        Field(description="Only these kinds, e.g. ['crash', 'restart', 'deploy', 'oom_kill']."),
    ] = None,
    limit: Limit = 20,
    cursor: Cursor = None,
    detail: Detail = False,
) -> EventList:
    """What happened, newest first (default the last 24 h): crashes, restarts,
    deploys, OOM kills, health flips, new or lost dependencies, each with time,
    service, kind, severity and message (exit codes, pids, versions with
    detail=true). Changes just before a problem are the usual suspects. limit: 1-500."""
    check_limit("get_events", limit, MAX_EVENTS)
    span = parse_range(start, end, data.now(), default_span=timedelta(hours=24))
    if service is not None:
        await require_service(data, service, "get_events")
    offset = decode_cursor(cursor)
    found = await data.events(span.start, span.end, service, kinds or None, limit + 1, offset)
    more = len(found) > limit
    page = found[:limit]
    hint = None
    if not page and offset == 0:
        hint = (
            f"No events between {rfc3339(span.start)} and {rfc3339(span.end)}"
            + (f" for {service}" if service else "")
            + (f" of kinds {', '.join(kinds)}" if kinds else "")
            + "; events are crashes, restarts, deploys, OOM kills and health flips."
            " Try a wider range such as start='7d'."
        )
    found_page = EventList.model_validate(
        {
            "start": span.start,
            "end": span.end,
            "events": page,
            "count": len(page),
            "truncated": more,
            "next_cursor": encode_cursor(offset + limit) if more else None,
            "hint": hint,
        }
    )
    if detail:
        return found_page
    return found_page.model_copy(update={"events": [e.brief() for e in found_page.events]})
