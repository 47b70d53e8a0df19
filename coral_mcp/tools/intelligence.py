"""The intelligence tools: get_baselines, find_anomalies, get_correlations, investigate."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from coral_mcp.errors import QueryError
from coral_mcp.models.timerange import parse_range, rfc3339
from coral_mcp.tools.data import CoralData
from coral_mcp.tools.intelligence_schemas import (
    AnomalyList,
    BaselineList,
    CorrelationList,
    InvestigationOut,
    anomaly_out,
    baseline_out,
    correlation_out,
    investigation_out,
)
from coral_mcp.tools.paging import decode_cursor, encode_cursor
from coral_mcp.tools.services import require_service

MAX_BASELINES = 500
MAX_ANOMALIES = 500
MAX_CORRELATIONS = 100
MAX_RANGE = timedelta(days=7)


def _limit(query: str, limit: int, maximum: int) -> None:
    if not 1 <= limit <= maximum:
        raise QueryError(f"{query}: limit must be 1-{maximum} (got {limit})")


async def get_baselines(
    data: CoralData,
    service: str | None = None,
    metric: str | None = None,
    all_hours: bool = False,
    limit: int = 100,
    cursor: str | None = None,
) -> BaselineList:
    _limit("get_baselines", limit, MAX_BASELINES)
    if service is not None:
        await require_service(data, service, "get_baselines")
    offset = decode_cursor(cursor)
    found = [
        b
        for b in await data.baselines(service)
        if (metric is None or b.metric == metric) and (all_hours or b.hour_of_day == -1)
    ]
    page = found[offset : offset + limit]
    more = offset + limit < len(found)
    hint = None
    if not found:
        hint = (
            "No baselines yet: they are learned from stored summaries (refreshed every 10"
            " minutes) once a series has enough history; hour-of-day baselines need 3 days."
        )
    return BaselineList(
        baselines=[baseline_out(b) for b in page],
        count=len(page),
        truncated=more,
        next_cursor=encode_cursor(offset + limit) if more else None,
        hint=hint,
    )


async def find_anomalies(
    data: CoralData,
    start: str | None = None,
    end: str | None = None,
    service: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> AnomalyList:
    _limit("find_anomalies", limit, MAX_ANOMALIES)
    span = parse_range(start, end, data.now(), default_span=timedelta(hours=1))
    if service is not None:
        await require_service(data, service, "find_anomalies")
    offset = decode_cursor(cursor)
    found = await data.anomalies(span.start, span.end, service, offset + limit + 1)
    page = found[offset : offset + limit]
    more = len(found) > offset + limit
    hint = None
    if not page and offset == 0:
        hint = (
            f"No anomalies with an onset between {rfc3339(span.start)} and"
            f" {rfc3339(span.end)}. Detection runs every minute against learned baselines;"
            " try a wider range, or investigate to analyse the range afresh."
        )
    return AnomalyList(
        start=rfc3339(span.start),
        end=rfc3339(span.end),
        anomalies=[anomaly_out(a) for a in page],
        count=len(page),
        truncated=more,
        next_cursor=encode_cursor(offset + limit) if more else None,
        hint=hint,
    )


async def get_correlations(data: CoralData, limit: int = 20) -> CorrelationList:
    _limit("get_correlations", limit, MAX_CORRELATIONS)
    found = await data.correlations(limit)
    hint = None if found else "No correlated groups: no anomalies clustered in time recently."
    return CorrelationList(
        correlations=[correlation_out(c) for c in found], count=len(found), hint=hint
    )


async def investigate(
    data: CoralData,
    question: str | None = None,
    start: str | None = None,
    end: str | None = None,
    service: str | None = None,
    metric: str | None = None,
) -> InvestigationOut:
    span = parse_range(start, end, data.now(), default_span=timedelta(hours=1))
    if span.end - span.start > MAX_RANGE:
        raise QueryError(
            f"investigate: range {rfc3339(span.start)} to {rfc3339(span.end)} is longer"
            " than 7 days",
            hint="narrow it to the hours around the incident",
        )
    if service is not None:
        await require_service(data, service, "investigate")
    if metric is not None and service is None:
        raise QueryError(
            f"investigate: metric {metric!r} without a service",
            hint="name the service whose metric is the symptom (service=...)",
        )
    result = await data.investigate(question, span.start, span.end, service, metric)
    return investigation_out(result)


async def investigation_document(data: CoralData, investigation_id: str) -> dict[str, Any]:
    found = await data.investigation(investigation_id)
    if found is None:
        raise QueryError(
            f"no investigation {investigation_id!r}",
            hint="ids come from the investigate tool's results",
        )
    return found
