"""Summarize raw samples into one compact record per series and push window. Pure."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable

from coral_mcp.models import MetricSummary, Sample, SummaryWindow


def percentile(sorted_values: list[float], q: float) -> float:
    """The q-quantile (0..1) of already sorted values, linearly interpolated."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    position = (len(sorted_values) - 1) * q
    low = math.floor(position)
    high = math.ceil(position)
    if low == high:
        return sorted_values[low]
    fraction = position - low
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * fraction


def summarize(samples: Iterable[Sample], start_ms: int, end_ms: int) -> SummaryWindow:
    """min, max, avg, last, p95 and count per (service, metric) of the samples given.

    `last` is the value with the latest timestamp; series come out sorted by
    (service, metric) so the result does not depend on input order.
    """
    series: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    for sample in samples:
        series[(sample.service, sample.metric)].append((sample.ts_s, sample.value))
    summaries = []
    for (service, metric), points in sorted(series.items()):
        values = sorted(value for _, value in points)
        last = max(points, key=lambda point: point[0])[1]
        summaries.append(
            MetricSummary(
                service=service,
                metric=metric,
                min=values[0],
                max=values[-1],
                avg=math.fsum(values) / len(values),
                last=last,
                p95=percentile(values, 0.95),
                count=len(values),
            )
        )
    return SummaryWindow(start_ms=start_ms, end_ms=end_ms, summaries=tuple(summaries))
