"""The intelligence tools: get_baselines, find_anomalies, get_correlations, investigate."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import Field

from coral_mcp.errors import QueryError
from coral_mcp.models.timerange import parse_range, rfc3339
from coral_mcp.tools.data import CoralData
from coral_mcp.tools.intelligence_schemas import (
    AnomalyList,
    BaselineList,
    CorrelationList,
    InvestigationOut,
)
from coral_mcp.tools.paging import decode_cursor, encode_cursor
from coral_mcp.tools.params import (
    Cursor,
    Detail,
    End,
    Limit,
    OnlyService,
    StartHourAgo,
    check_limit,
)
from coral_mcp.tools.registry import tool
from coral_mcp.tools.services import require_service

MAX_BASELINES = 500
MAX_ANOMALIES = 500
MAX_CORRELATIONS = 100
MAX_RANGE = timedelta(days=7)


@tool(100)
async def get_baselines(
    data: CoralData,
    service: OnlyService = None,
    metric: Annotated[str | None, Field(description="Only this metric.")] = None,
    all_hours: Annotated[
        bool, Field(description="Include the per-hour-of-day baselines too.")
    ] = False,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> BaselineList:
    """What normal looks like: the learned robust centre (median) and spread of each
    service metric, overall and (with all_hours) per UTC hour of day once there are
    3 days of history. limit: 1-500."""
    check_limit("get_baselines", limit, MAX_BASELINES)
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
    return BaselineList.model_validate(
        {
            "baselines": page,
            "count": len(page),
            "truncated": more,
            "next_cursor": encode_cursor(offset + limit) if more else None,
            "hint": hint,
        }
    )


@tool(90, rest="anomalies")
async def find_anomalies(
    data: CoralData,
    start: StartHourAgo = None,
    end: End = None,
    service: OnlyService = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> AnomalyList:
    """Anomalies the colony detected (continuously, against learned baselines) going
    on at some time in the range: metric, kind (level_shift, spike, trend, saturation,
    stopped), onset, robust z-score, value, normal level, and when it ended (null: still
    going on). A long anomaly is one entry however long it lasts. Earliest first.
    limit: 1-500."""
    check_limit("find_anomalies", limit, MAX_ANOMALIES)
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
            f"No anomalies going on between {rfc3339(span.start)} and"
            f" {rfc3339(span.end)}. Detection runs every minute against learned baselines;"
            " try a wider range, or investigate to analyse the range afresh."
        )
    return AnomalyList.model_validate(
        {
            "start": span.start,
            "end": span.end,
            "anomalies": page,
            "count": len(page),
            "truncated": more,
            "next_cursor": encode_cursor(offset + limit) if more else None,
            "hint": hint,
        }
    )


@tool(110)
async def get_correlations(
    data: CoralData,
    limit: Annotated[int, Field(description="Groups to return, 1-100.")] = 20,
) -> CorrelationList:
    """Recent groups of anomalies that happened together, newest first, each with
    the services involved and its top root-cause hypothesis."""
    check_limit("get_correlations", limit, MAX_CORRELATIONS)
    found = await data.correlations(limit)
    hint = None if found else "No correlated groups: no anomalies clustered in time recently."
    return CorrelationList.model_validate(
        {"correlations": found, "count": len(found), "hint": hint}
    )


@tool(80, rest="investigate")
async def investigate(
    data: CoralData,
    question: Annotated[
        str | None, Field(description="What the user asked, kept with the result.")
    ] = None,
    start: StartHourAgo = None,
    end: End = None,
    service: Annotated[
        str | None,
        Field(
            description="The symptom: the service the user asks about (e.g. checkout"
            " in 'why is checkout slow?'). Omit to let Coral infer it."
        ),
    ] = None,
    metric: Annotated[
        str | None,
        Field(
            description="The symptom's metric: a metric name, or latency, errors, cpu"
            " or memory ('slow' is latency). Needs service."
        ),
    ] = None,
    detail: Detail = False,
) -> InvestigationOut:
    """What went wrong, where it started, and why: ranks root-cause hypotheses over a
    range (default the last hour) from robust anomalies (with their own onset
    estimates, so a rough range is fine), the dependency graph and recent changes
    (deploys, restarts, OOM kills). Each hypothesis has a service, a fault kind, a
    confidence, evidence and counter-evidence (time + value) and a recommendation
    for a person. Explains the symptom given (service, metric) by walking its
    dependencies from the symptom's onset. Says "no_significant_anomaly" or
    "no_clear_root_cause" when that is the truth. By default the three likeliest
    hypotheses with their main evidence; detail=true for all of it."""
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
    found = InvestigationOut.model_validate(result)
    return found if detail else found.brief()


async def recorded_investigation(data: CoralData, investigation_id: str) -> InvestigationOut:
    """A recorded investigation in the same shape `investigate` returned it."""
    found = await data.investigation(investigation_id)
    if found is None:
        raise QueryError(
            f"no investigation {investigation_id!r}",
            hint="ids come from the investigate tool's results",
        )
    return InvestigationOut.model_validate(found)
