"""query_agent: raw recent detail from the agent that watches a service."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import Field

from coral_mcp.errors import QueryError
from coral_mcp.models import DetailKind, DetailQuery
from coral_mcp.models.timerange import parse_range, rfc3339
from coral_mcp.tools.data import CoralData
from coral_mcp.tools.params import End, Service, Start, check_limit
from coral_mcp.tools.registry import tool
from coral_mcp.tools.schemas import AgentDetail
from coral_mcp.tools.services import require_service

MAX_LIMIT = 2000
TIMEOUT_S = 10.0
KINDS = ", ".join(k.value for k in DetailKind)


@tool(70)
async def query_agent(
    data: CoralData,
    service: Service,
    kind: Annotated[
        Literal["samples", "connections", "processes", "events"],
        Field(
            description="samples: raw samples (last hour at most); connections: current"
            " sockets; processes: the process tree; events: the agent's recent events."
        ),
    ],
    metric: Annotated[str | None, Field(description="For samples: only this metric.")] = None,
    start: Start = None,
    end: End = None,
    limit: Annotated[int, Field(description="Most items returned, 1-2000.")] = 200,
) -> AgentDetail:
    """Raw, recent detail from the agent on the service's host, fetched live: every
    sample (not summaries) of the last hour, current connections, the process tree.
    Use it when summaries hide what you need. Fails fast if the agent is offline."""
    try:
        detail = DetailKind(kind)
    except ValueError:
        raise QueryError(
            f"query_agent: kind {kind!r} is unknown", hint=f"use one of {KINDS}"
        ) from None
    check_limit("query_agent", limit, MAX_LIMIT)
    await require_service(data, service, "query_agent")
    ranged = detail in (DetailKind.SAMPLES, DetailKind.EVENTS)
    span = (
        parse_range(start, end, data.now(), default_span=timedelta(minutes=15)) if ranged else None
    )
    view = next(v for v in await data.services([service]) if v.name == service)
    states = data.agent_states(view.agents)
    online = [a for a in view.agents if states.get(a) == "online"] or list(view.agents)
    query = DetailQuery(
        query_id=0,
        kind=detail,
        service=service,
        metric=metric or "",
        start_ms=int(span.start.timestamp() * 1000) if span else 0,
        end_ms=int(span.end.timestamp() * 1000) if span else 0,
        limit=limit,
    )
    where = f" between {rfc3339(span.start)} and {rfc3339(span.end)}" if span else ""
    try:
        reply = await data.query_agent(online[0], query, TIMEOUT_S)
    except QueryError as exc:
        raise QueryError(
            f"query_agent ({detail.value} of {service}{where}): {exc.message}", hint=exc.hint
        ) from None
    if reply.error:
        raise QueryError(
            f"query_agent ({detail.value} of {service}{where}): the agent said: {reply.error}",
            hint="summaries stored in the colony still answer: try query_metrics",
        )
    return AgentDetail(
        service=service,
        agent_id=online[0],
        kind=detail.value,
        start=span.start if span else None,
        end=span.end if span else None,
        truncated=reply.truncated,
        result=readable(json.loads(reply.json)),
    )


def readable(document: Any) -> Any:
    """The agent's answer in the tools' one time format: raw samples as one row per time
    (`metrics` names the columns), and every epoch-millisecond `*_ms` field as an RFC 3339
    UTC time without the suffix."""
    if isinstance(document, list):
        return [readable(item) for item in document]
    if not isinstance(document, dict):
        return document
    found: dict[str, Any] = {}
    for key, value in document.items():
        if key == "samples" and isinstance(value, list):
            found.update(_sample_rows(value))
        elif key.endswith("_ms") and isinstance(value, int):
            found[key.removesuffix("_ms")] = _time_ms(value)
        else:
            found[key] = readable(value)
    return found


def _sample_rows(samples: list[Any]) -> dict[str, Any]:
    """[[ts_ms, metric, value], ...] -> {"metrics": [...], "rows": [[time, v1, v2, ...]]}."""
    metrics = sorted({str(s[1]) for s in samples})
    column = {name: i + 1 for i, name in enumerate(metrics)}
    rows: dict[int, list[Any]] = {}
    for ts_ms, metric, value in samples:
        row = rows.setdefault(int(ts_ms), [_time_ms(int(ts_ms))] + [None] * len(metrics))
        row[column[str(metric)]] = value
    return {"metrics": metrics, "rows": [rows[ts] for ts in sorted(rows)]}


def _time_ms(ts_ms: int) -> str:
    at = datetime.fromtimestamp(ts_ms // 1000, UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts_ms % 1000:03d}Z"
