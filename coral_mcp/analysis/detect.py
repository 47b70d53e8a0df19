"""Anomaly detection per series: robust z with persistence, onset, and the shape of it.

`detect_series` needs no incident time: the normal reference is the part of the series
before its CUSUM change point (or a learned baseline, whichever spread is larger), the
score is the largest robust z that persists for `RUN` samples, and the onset is where
that excursion began. The shape tells level shifts, spikes, steady growth (trend, with
slope and time to the limit), saturation and a series that stopped reporting apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from coral_mcp.analysis.changepoint import MIN_SEGMENT, change_point, linear_trend
from coral_mcp.analysis.changepoint import seconds_to_limit as time_to_limit
from coral_mcp.analysis.metric_names import MetricClass, metric_class
from coral_mcp.analysis.robust import (
    ABSOLUTE_FLOOR,
    RELATIVE_FLOOR,
    FloatArray,
    Robust,
    persistent,
    robust_stats,
    robust_z,
)

#: Samples an excursion must last to count (no one-sample blips).
RUN = 3
#: Persistent robust z at or above this is an anomaly.
THRESHOLD = 6.0
#: |z| at which an excursion is taken to have begun (walking back from its peak).
ONSET_Z = 3.0
#: A trend needs this goodness of fit and this many samples.
TREND_R2 = 0.8
TREND_MIN_SAMPLES = 8
#: Samples before the change point needed to use them alone as the normal reference.
MIN_REFERENCE = 20
#: Standardised CUSUM below which a series cannot hold an anomaly (see worth_a_look).
SCREEN_CUSUM = 4.0
#: Score given to a series that stopped reporting while the others went on.
STOPPED_SCORE = 20.0
#: CPU percent at or above which a CPU anomaly is saturation.
CPU_SATURATED = 90.0
#: Share of a known limit at or above which a series is saturated.
LIMIT_SHARE = 0.9


@dataclass(frozen=True, slots=True, eq=False)
class Series:
    """One metric of one service: times (epoch s, ascending) and values (window averages)."""

    service: str
    metric: str
    ts_s: FloatArray
    values: FloatArray


@dataclass(frozen=True, slots=True)
class MetricAnomaly:
    service: str
    metric: str
    kind: str  # level_shift, spike, trend, saturation, stopped
    onset_s: float
    peak_s: float
    score: float
    value: float
    baseline: float
    direction: int  # +1 up, -1 down
    slope_per_s: float | None = None
    seconds_to_limit: float | None = None
    detail: str = field(default="")


def median_step_s(ts_s: FloatArray) -> float:
    return float(np.median(np.diff(ts_s))) if ts_s.size > 1 else 60.0


def worth_a_look(series: Sequence[Series]) -> list[bool]:
    """A fast screen, vectorised over series of equal length: False only where no mean
    shift stands out of the noise (standardised CUSUM below SCREEN_CUSUM) and no run of
    RUN samples stays THRESHOLD/2 noise units from the median, the noise measured robustly
    from first differences. `detect_series` would find nothing there:
    an excursion it reports moves the CUSUM far more. Saves most of the work on quiet
    series when there are hundreds of them."""
    keep = [True] * len(series)
    by_length: dict[int, list[int]] = {}
    for i, s in enumerate(series):
        by_length.setdefault(s.values.size, []).append(i)
    for n, members in by_length.items():
        if n < 2 * MIN_SEGMENT:
            continue
        x = np.stack([series[i].values for i in members])
        noise = np.median(np.abs(np.diff(x, axis=1)), axis=1) / 0.6745 / np.sqrt(2)
        centre = np.median(x, axis=1)
        noise = np.maximum(noise, np.maximum(RELATIVE_FLOOR * np.abs(centre), ABSOLUTE_FLOOR))
        cusum = np.cumsum(x - x.mean(axis=1, keepdims=True), axis=1)[:, :-1]
        k = np.arange(1, n, dtype=np.float64)
        shift = (np.abs(cusum) / np.sqrt(k * (n - k) / n)).max(axis=1) / noise
        z = (x - centre[:, None]) / noise[:, None]
        runs = np.stack([z[:, j : n - RUN + 1 + j] for j in range(RUN)])
        lasting = np.maximum(runs.min(axis=0), -runs.max(axis=0)).max(axis=1)
        wanted = (shift >= SCREEN_CUSUM) | (lasting >= THRESHOLD / 2)
        for i, flag in zip(members, wanted, strict=True):
            keep[i] = bool(flag)
    return keep


def stale(series: Series, end_s: float) -> bool:
    """The series stopped reporting well before `end_s` (while others went on)."""
    return bool(end_s - series.ts_s[-1] > max(4 * median_step_s(series.ts_s), 120.0))


def detect_series(
    series: Series, end_s: float, learned: Robust | None = None, limit: float | None = None
) -> MetricAnomaly | None:
    """The most significant anomaly of one series up to `end_s`, or None."""
    ts, x = series.ts_s, series.values
    if x.size < 2 * MIN_SEGMENT:
        return None
    if stale(series, end_s):
        step = median_step_s(ts)
        return MetricAnomaly(
            series.service,
            series.metric,
            "stopped",
            float(ts[-1] + step),
            float(ts[-1]),
            STOPPED_SCORE,
            float(x[-1]),
            float(np.median(x)),
            -1,
            detail=f"no data for {end_s - ts[-1]:.0f} s while other series went on",
        )
    cp = change_point(x)
    # Too short a stretch before the change point is no reference: use the whole series.
    stats = robust_stats(x[:cp] if cp is not None and cp >= MIN_REFERENCE else x)
    if learned is not None and learned.spread > stats.spread:
        stats = Robust(stats.center, learned.spread, stats.samples)
    return _excursion(series, stats, THRESHOLD, limit)


def _excursion(
    series: Series, stats: Robust, threshold: float, limit: float | None
) -> MetricAnomaly | None:
    """The largest persistent excursion from `stats`, walked back to its onset."""
    z = robust_z(series.values, stats)
    pz = persistent(z, RUN)
    if pz.size == 0 or float(pz.max()) < threshold:
        return None
    start = int(np.argmax(pz))
    peak = start + int(np.argmax(np.abs(z[start : start + RUN])))
    direction = 1 if z[peak] > 0 else -1
    onset = start
    while onset > 0 and z[onset - 1] * direction >= ONSET_Z:
        onset -= 1
    return _shape(series, stats, z, onset, peak, direction, float(pz.max()), limit)


def _shape(
    series: Series,
    stats: Robust,
    z: FloatArray,
    onset: int,
    peak: int,
    direction: int,
    score: float,
    limit: float | None,
) -> MetricAnomaly:
    ts, x = series.ts_s, series.values
    ongoing = bool(np.all(z[-RUN:] * direction >= ONSET_Z))
    cls = metric_class(series.metric)
    value = float(x[peak])
    kind, slope, eta = ("level_shift" if ongoing else "spike"), None, None
    detail = f"{series.metric} {value:.4g} vs normal {stats.center:.4g} (z {score:.1f})"
    tail_ts, tail = ts[onset:], x[onset:]
    trend = linear_trend(tail_ts, tail) if ongoing and tail.size >= TREND_MIN_SAMPLES else None
    if trend is not None and trend.r_squared >= TREND_R2 and trend.slope_per_s * direction > 0:
        kind, slope = "trend", trend.slope_per_s
        detail = (
            f"{series.metric} {'grows' if slope > 0 else 'falls'} {abs(slope) * 3600:.4g}/h"
            f" since onset (r2 {trend.r_squared:.2f})"
        )
        if limit is not None:
            eta = time_to_limit(trend, float(x[-1]), limit)
            if eta is not None:
                detail += f"; reaches limit {limit:.4g} in {eta / 60:.0f} min"
    saturated = (cls is MetricClass.CPU and value >= CPU_SATURATED) or (
        limit is not None and value >= LIMIT_SHARE * limit
    )
    if direction > 0 and (saturated or cls is MetricClass.THROTTLE) and kind != "trend":
        kind = "saturation"
        if limit is not None:
            detail += f"; at {value / limit:.0%} of limit {limit:.4g}"
    return MetricAnomaly(
        series.service,
        series.metric,
        kind,
        float(ts[onset]),
        float(ts[peak]),
        score,
        value,
        stats.center,
        direction,
        slope,
        eta,
        detail,
    )


def detect_against_baseline(
    series: Series, baseline: Robust, threshold: float = THRESHOLD
) -> MetricAnomaly | None:
    """Live detection: recent windows of one series against its learned baseline."""
    return _excursion(series, baseline, threshold, None)
