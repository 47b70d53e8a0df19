"""Summarize raw samples into one compact record per series and push window. Pure."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from operator import itemgetter

from coral_mcp.models import MetricSummary, Sample, SummaryWindow
from coral_mcp.models.metrics import DEAD_BAND_ABSOLUTE, DEAD_BAND_RELATIVE, absolute_band

_TIME = itemgetter(0)


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
        if len(points) == 1:  # most series: one sample per window
            value = points[0][1]
            summaries.append(MetricSummary(service, metric, value, value, value, value, value, 1))
            continue
        values = sorted(value for _, value in points)
        last = max(points, key=_TIME)[1]  # the latest timestamp's value
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


SeriesKey = tuple[str, str]


def drop_unchanged(
    window: SummaryWindow,
    last_sent: dict[SeriesKey, tuple[float, int]],
    refresh_every: int,
    relative: float = DEAD_BAND_RELATIVE,
    absolute: float = DEAD_BAND_ABSOLUTE,
) -> tuple[SummaryWindow, dict[SeriesKey, tuple[float, int]]]:
    """Leave out series that stayed near the value last sent, to keep pushes small.

    A series is left out when its window's min, max and last all lie within a dead band
    around the `last` value most recently sent for it: `relative` of that value, or
    `absolute` (`models.metrics.absolute_band`: wider for jittery series, a millisecond
    for durations in seconds), whichever is wider. It is sent
    anyway once every `refresh_every` windows, so the colony never goes long without
    hearing of it. `last_sent` maps a series to (last value sent, windows since then);
    the updated map is returned with the compacted window. A series absent from a
    window (a steady service sampled less often) keeps its place, and is forgotten
    once absent for `refresh_every` windows.
    """
    kept: list[MetricSummary] = []
    state: dict[SeriesKey, tuple[float, int]] = {}
    floors: dict[str, float] = {}  # services share metric names: each band worked out once
    for summary in window.summaries:
        key = (summary.service, summary.metric)
        previous = last_sent.get(key)
        if previous is not None and previous[1] + 1 < refresh_every:
            reference, age = previous
            floor = floors.get(summary.metric)
            if floor is None:
                floor = floors[summary.metric] = absolute_band(summary.metric, absolute)
            band = max(abs(reference) * relative, floor)
            if (
                abs(summary.min - reference) <= band
                and abs(summary.max - reference) <= band
                and abs(summary.last - reference) <= band
            ):
                state[key] = (reference, age + 1)
                continue
        kept.append(summary)
        state[key] = (summary.last, 0)
    for key, (reference, age) in last_sent.items():
        if key not in state and age + 1 < refresh_every:
            state[key] = (reference, age + 1)
    return SummaryWindow(window.start_ms, window.end_ms, tuple(kept)), state
