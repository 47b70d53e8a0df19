"""Tools about the colony itself and what happened: status, agents, events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from coral_mcp.errors import QueryError
from coral_mcp.models.timerange import parse_range, rfc3339
from coral_mcp.tools.data import CoralData
from coral_mcp.tools.paging import decode_cursor, encode_cursor
from coral_mcp.tools.schemas import (
    AgentOut,
    ColonyStatusOut,
    EventList,
    agent_out,
    event_out,
    status_out,
)
from coral_mcp.tools.services import require_service

MAX_EVENTS = 500


async def colony_status(data: CoralData) -> ColonyStatusOut:
    return status_out(await data.status(), data.now())


async def list_agents(data: CoralData) -> list[AgentOut]:
    return [agent_out(a) for a in await data.agents()]


async def get_events(
    data: CoralData,
    start: str | None = None,
    end: str | None = None,
    service: str | None = None,
    kinds: Sequence[str] | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> EventList:
    if not 1 <= limit <= MAX_EVENTS:
        raise QueryError(f"get_events: limit must be 1-{MAX_EVENTS} (got {limit})")
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
    return EventList(
        start=rfc3339(span.start),
        end=rfc3339(span.end),
        events=[event_out(e) for e in page],
        count=len(page),
        truncated=more,
        next_cursor=encode_cursor(offset + limit) if more else None,
        hint=hint,
    )
