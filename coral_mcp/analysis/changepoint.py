"""Onset estimation and trends: where a series changed, and whether it grows steadily.

`change_point` is the classic CUSUM estimate of a single mean shift (the split that
maximises the standardised difference of the two segment means), computed in O(n).
It lets the analysis find the onset itself, so a wrong or missing incident time does
not decide what counts as normal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from coral_mcp.analysis.robust import FloatArray

#: The shortest segment either side of a change point.
MIN_SEGMENT = 5


def change_point(values: FloatArray) -> int | None:
    """Index of the first sample after the most likely mean shift; None if too short."""
    n = values.size
    if n < 2 * MIN_SEGMENT:
        return None
    centred = values - values.mean()
    cusum = np.cumsum(centred)[:-1]  # split after k+1 samples
    k = np.arange(1, n, dtype=np.float64)
    stat = np.abs(cusum) / np.sqrt(k * (n - k) / n)
    stat[: MIN_SEGMENT - 1] = 0.0
    stat[n - MIN_SEGMENT :] = 0.0
    return int(np.argmax(stat)) + 1


@dataclass(frozen=True, slots=True)
class Trend:
    slope_per_s: float
    intercept: float
    r_squared: float


def linear_trend(ts_s: FloatArray, values: FloatArray) -> Trend | None:
    """Least-squares line through the points; None for fewer than 3 or no time span."""
    if values.size < 3:
        return None
    t = ts_s - ts_s[0]
    t_var = float(np.var(t))
    if t_var == 0.0:
        return None
    slope = float(np.mean((t - t.mean()) * (values - values.mean()))) / t_var
    intercept = float(values.mean()) - slope * float(t.mean())
    fitted = intercept + slope * t
    total = float(np.sum((values - values.mean()) ** 2))
    r2 = 1.0 - float(np.sum((values - fitted) ** 2)) / total if total > 0 else 0.0
    return Trend(slope, intercept, r2)


def seconds_to_limit(trend: Trend, current: float, limit: float) -> float | None:
    """When a growing series reaches `limit` at the trend's slope; None if it never does."""
    if trend.slope_per_s <= 0 or current >= limit:
        return None if current < limit else 0.0
    return (limit - current) / trend.slope_per_s
