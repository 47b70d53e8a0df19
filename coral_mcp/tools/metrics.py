"""The metric query tool."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Annotated

from pydantic import Field

from coral_mcp.errors import QueryError
from coral_mcp.models import MetricPoint
from coral_mcp.models.timerange import parse_range, rfc3339
from coral_mcp.tools.data import CoralData
from coral_mcp.tools.params import End, Service, Start
from coral_mcp.tools.registry import tool
from coral_mcp.tools.schemas import MetricSeriesOut
from coral_mcp.tools.services import require_service

#: At most this many buckets per query; a smaller step is widened to fit.
MAX_POINTS = 500
MIN_STEP_S = 10
#: How long after its last report a steady series still counts as reported.
CARRY_S = 330
#: Ranges longer than this are answered in hourly (or wider) buckets.
LONG_RANGE_S = 86400


def _known(service: str, metric: str, metrics: list[str]) -> None:
    """Raise QueryError naming the service's metrics when `metric` is not one."""
    if metric not in metrics:
        known = ", ".join(metrics) or "none yet"
        raise QueryError(
            f"query_metrics: service {service!r} has no metric {metric!r}",
            hint=f"metrics of {service}: {known}",
        )


def _step(span_s: float, step_s: int | None) -> int:
    """The bucket width for a span: as asked, widened to at most MAX_POINTS points and
    to an hour past LONG_RANGE_S (served from hourly roll-ups: fast and complete)."""
    auto_step = max(MIN_STEP_S, int(span_s // MAX_POINTS) + 1)
    if span_s > LONG_RANGE_S:
        auto_step = max(auto_step, 3600)
    return max(step_s or 60, auto_step)


def carry_forward(points: list[MetricPoint], step_s: int, end: datetime) -> list[MetricPoint]:
    """Fill buckets an agent left empty because the series did not change.

    Agents leave a steady series out of a push (it stayed within 5 % of the value last
    sent) and re-send it every 5 minutes, so an empty bucket within CARRY_S of the last
    report holds that report's value. Carried buckets have count 0.
    """
    filled: list[MetricPoint] = []
    step = timedelta(seconds=step_s)
    for point in points:
        if filled:
            last = filled[-1]
            at = last.ts + step
            while at < point.ts and (at - last.ts).total_seconds() <= CARRY_S:
                filled.append(_carried(last, at))
                at += step
        filled.append(point)
    if filled:
        last = filled[-1]
        at = last.ts + step
        while at < end and (at - last.ts).total_seconds() <= CARRY_S:
            filled.append(_carried(last, at))
            at += step
    return filled


def _carried(point: MetricPoint, at: datetime) -> MetricPoint:
    value = point.last
    return MetricPoint(at, value, value, value, value, value, 0)


@tool(40, rest="metrics")
async def query_metrics(
    data: CoralData,
    service: Service,
    metric: Annotated[str, Field(description="Metric name from list_metrics, e.g. rss_bytes.")],
    start: Start = None,
    end: End = None,
    step_s: Annotated[
        int | None, Field(description="Bucket width in seconds (>= 10). Default 60.")
    ] = None,
) -> MetricSeriesOut:
    """A service's metric over a time range (default the last hour), bucketed: avg,
    min, max, p95 and last per bucket. The result echoes the resolved range in UTC.
    Ranges longer than a day use buckets of at least an hour."""
    await require_service(data, service, "query_metrics")
    names = asyncio.ensure_future(data.metric_names(service))
    try:
        span = parse_range(start, end, data.now())
        if step_s is not None and step_s < MIN_STEP_S:
            raise QueryError(f"query_metrics: step_s must be at least {MIN_STEP_S} (got {step_s})")
    except QueryError:
        _known(service, metric, await names)  # an unknown metric is said first
        raise
    step = _step(span.seconds, step_s)
    # The series is read beside the names, each on its own cursor.
    metrics, series = await asyncio.gather(
        names, data.metric_series(service, metric, span.start, span.end, step)
    )
    _known(service, metric, metrics)
    points = carry_forward(series, step, span.end)
    hint = None
    if not points:
        hint = (
            f"No {metric} summaries for {service} between {rfc3339(span.start)} and"
            f" {rfc3339(span.end)}; try a wider range such as start='24h'."
        )
    elif step != (step_s or 60):
        hint = (
            f"step widened to {step} s: at most {MAX_POINTS} points, and ranges over a day"
            " use hourly buckets"
        )
    return MetricSeriesOut.model_validate(
        {
            "service": service,
            "metric": metric,
            "start": span.start,
            "end": span.end,
            "step_s": step,
            "points": points,
            "hint": hint,
        }
    )
