"""Anomaly detection per series: robust z with persistence, onset, and the shape of it.

`detect_series` needs no incident time: the normal reference is the part of the series
before its CUSUM change point (or a learned baseline, whichever spread is larger), the
score is the largest robust z that persists for `RUN` samples, and the onset is where
that excursion began. The shape tells level shifts, spikes, steady growth (trend, with
slope and time to the limit), saturation and a series that stopped reporting apart.

`detect_at` answers a narrower question once the incident's onset is known: did this
series change at that onset? Its reference is everything before the onset (a few
windows are enough: a newly started colony has no more), and an excursion it finds is
marked *chronic* when the series was already anomalous before the onset or the
excursion stays within the range the reference itself already showed (what is always
odd is reported, never taken for what changed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from coral_mcp.analysis.changepoint import MIN_SEGMENT, change_point, linear_trend
from coral_mcp.analysis.changepoint import seconds_to_limit as time_to_limit
from coral_mcp.analysis.metric_names import MetricClass, metric_class, resolution
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
#: Samples before the change point for a full reference; from SHORT_REFERENCE to
#: MIN_REFERENCE the reference is short and its spread gets SHORT_RELATIVE_FLOOR.
MIN_REFERENCE = 20
SHORT_REFERENCE = 5
SHORT_RELATIVE_FLOOR = 0.1
#: `detect_at`: samples before the onset it needs, and the run an excursion must last
#: after it when fewer than 2 x RUN samples follow the onset (a recent incident seen
#: at one-minute steps may have lasted only a few windows).
AT_REFERENCE = 3
AT_RUN = 2
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
    #: How precisely the values are known (0: as given): a series an agent held steady
    #: within a dead band is known to about half the band, and no spread is smaller.
    resolution: float = 0.0
    #: The step between samples where the series is read in full (0: the median step of
    #: `ts_s`). A long range read thinned away from the incident gives it.
    step_s: float = 0.0


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
    #: Why this is not new at the incident's onset ("" = it is): see `detect_at`.
    chronic: str = field(default="")


def median_step_s(ts_s: FloatArray) -> float:
    return float(np.median(np.diff(ts_s))) if ts_s.size > 1 else 60.0


def step_of(series: Series) -> float:
    """The series' sampling step at full resolution."""
    return series.step_s or median_step_s(series.ts_s)


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
    gap = end_s - float(series.ts_s[-1])
    return gap > 120.0 and gap > 4 * step_of(series)


def detect_series(
    series: Series, end_s: float, learned: Robust | None = None, limit: float | None = None
) -> MetricAnomaly | None:
    """The most significant anomaly of one series up to `end_s`, or None."""
    x = series.values
    if x.size < 2 * MIN_SEGMENT:
        return None
    if stale(series, end_s):
        return _stopped(series, end_s)
    cp = change_point(x)
    # Too short a stretch before the change point is no reference: use the whole series.
    reference = x[:cp] if cp is not None and cp >= SHORT_REFERENCE else x
    stats = reference_stats(reference, _floor(series))
    if learned is not None and learned.spread > stats.spread:
        stats = Robust(stats.center, learned.spread, stats.samples)
    return _excursion(series, stats, THRESHOLD, limit)


def _floor(series: Series) -> float:
    return max(resolution(series.metric), series.resolution)


def reference_stats(reference: FloatArray, floor: float = 0.0) -> Robust:
    """Robust centre and spread of a normal reference, the spread at least `floor` (the
    metric's resolution); a short one (a new colony, a few windows) gets a wider spread
    floor, as its MAD may be small by chance."""
    stats = robust_stats(reference)
    if reference.size < MIN_REFERENCE:
        floor = max(floor, SHORT_RELATIVE_FLOOR * abs(stats.center))
    if floor > stats.spread:
        stats = Robust(stats.center, floor, stats.samples)
    return stats


def _stopped(series: Series, end_s: float) -> MetricAnomaly:
    ts, x = series.ts_s, series.values
    step = step_of(series)
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


def detect_at(
    series: Series,
    onset_s: float,
    end_s: float,
    learned: Robust | None = None,
    limit: float | None = None,
) -> MetricAnomaly | None:
    """The series' change at the incident's onset `onset_s` (reference: what came
    before it), or None. Falls back to `detect_series` with too little before it."""
    ts, x = series.ts_s, series.values
    step = step_of(series)
    before = ts < onset_s - step / 2
    if int(before.sum()) < AT_REFERENCE or not bool((~before).any()):
        return detect_series(series, end_s, learned, limit)
    if stale(series, end_s):
        return _stopped(series, end_s)
    reference = x[before]
    stats = reference_stats(reference, _floor(series))
    if learned is not None and learned.spread > stats.spread:
        stats = Robust(stats.center, learned.spread, stats.samples)
    z = robust_z(x, stats)
    z[before] = 0.0
    # A short stretch since the onset cannot show a long run: ask for AT_RUN there.
    run = RUN if int((~before).sum()) >= 2 * RUN else AT_RUN
    found = _excursion_z(series, stats, z, THRESHOLD, limit, run)
    if found is None:
        return None
    return replace(found, chronic=_chronic(series, before, reference, stats, found))


def change_score(series: Series, onset_s: float, rise: bool = False) -> float:
    """The largest robust z persisting AT_RUN samples after `onset_s` against what came
    before it, anomalous or not (0 with too little on either side): a weak signal, for
    suspects whose fault barely shows. `rise`: upward changes only."""
    ts, x = series.ts_s, series.values
    before = ts < onset_s - step_of(series) / 2
    if int(before.sum()) < AT_REFERENCE or int((~before).sum()) < AT_RUN:
        return 0.0
    z = robust_z(x[~before], reference_stats(x[before], _floor(series)))
    pz = persistent(np.maximum(z, 0.0) if rise else z, AT_RUN)
    return float(pz.max()) if pz.size else 0.0


def _chronic(
    series: Series,
    before: npt.NDArray[np.bool_],
    reference: FloatArray,
    stats: Robust,
    found: MetricAnomaly,
) -> str:
    """Why `found` is not new at the onset, or "" when it is."""
    if reference.size >= 2 * MIN_SEGMENT:
        earlier = replace(series, ts_s=series.ts_s[before], values=reference, resolution=0.0)
        old = detect_series(earlier, float(series.ts_s[before][-1]))
        if old is not None and old.direction == found.direction:
            return f"already anomalous before the onset ({old.detail})"
    # Runs of AT_RUN samples: has the reference ever held a run this far out?
    after = series.values[~before]
    width = min(AT_RUN, after.size, reference.size)
    now = np.lib.stride_tricks.sliding_window_view(after, width)
    then = np.lib.stride_tricks.sliding_window_view(reference, width)
    if found.direction > 0:
        beyond = float(now.min(axis=1).max() - then.min(axis=1).max())
    else:
        beyond = float(then.max(axis=1).min() - now.max(axis=1).min())
    if reference.size >= MIN_REFERENCE // 2 and beyond / stats.spread < THRESHOLD / 2:
        return "within the range it already showed before the onset"
    return ""


def _excursion(
    series: Series, stats: Robust, threshold: float, limit: float | None
) -> MetricAnomaly | None:
    """The largest persistent excursion from `stats`, walked back to its onset."""
    return _excursion_z(series, stats, robust_z(series.values, stats), threshold, limit, RUN)


def _excursion_z(
    series: Series,
    stats: Robust,
    z: FloatArray,
    threshold: float,
    limit: float | None,
    run: int,
) -> MetricAnomaly | None:
    pz = persistent(z, run)
    if pz.size == 0 or float(pz.max()) < threshold:
        return None
    start = int(np.argmax(pz))
    peak = start + int(np.argmax(np.abs(z[start : start + run])))
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
    detail = f"{series.metric} {value:.4g} vs normal {stats.center:.4g} ({_z_text(score)})"
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


#: A robust z this large says the normal stretch barely moved (a flat line, often all
#: zeros), not how large the change is: told as such rather than as a number.
FLAT_Z = 1000.0


def _z_text(score: float) -> str:
    return f"z {score:.1f}" if score < FLAT_Z else f"z > {FLAT_Z:.0f}: flat before"


def detect_against_baseline(
    series: Series, baseline: Robust, threshold: float = THRESHOLD
) -> MetricAnomaly | None:
    """Live detection: recent windows of one series against its learned baseline."""
    return _excursion(series, baseline, threshold, None)
