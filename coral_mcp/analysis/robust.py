"""Robust statistics: centre and spread that a few outliers cannot move, robust z-scores.

The spread has a floor (a small share of the centre), so a flat line or a quantized
counter that rarely moves never yields huge scores from tiny wiggles, and a constant
series is never anomalous (its z-scores are all zero).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

#: MAD and IQR scaled to the standard deviation of a normal distribution.
MAD_TO_SIGMA = 1.4826
IQR_TO_SIGMA = 1 / 1.349
#: The spread is never below this share of |centre| ...
RELATIVE_FLOOR = 0.02
#: ... nor below this absolute value.
ABSOLUTE_FLOOR = 1e-6


@dataclass(frozen=True, slots=True)
class Robust:
    center: float
    spread: float
    samples: int


def robust_stats(values: FloatArray) -> Robust:
    """Median and the larger of scaled MAD and scaled IQR, floored."""
    if values.size == 0:
        return Robust(0.0, ABSOLUTE_FLOOR, 0)
    center = float(np.median(values))
    mad = float(np.median(np.abs(values - center))) * MAD_TO_SIGMA
    q1, q3 = np.percentile(values, [25.0, 75.0])
    iqr = float(q3 - q1) * IQR_TO_SIGMA
    return Robust(center, spread_floor(center, max(mad, iqr)), int(values.size))


def spread_floor(center: float, spread: float) -> float:
    return max(spread, RELATIVE_FLOOR * abs(center), ABSOLUTE_FLOOR)


def robust_z(values: FloatArray, stats: Robust) -> FloatArray:
    return (values - stats.center) / stats.spread


def persistent(z: FloatArray, run: int) -> FloatArray:
    """Per start index, the smallest |z| of `run` consecutive points on the same side.

    One-sample blips score low; a shift that lasts `run` samples keeps its size.
    """
    if z.size < run:
        return np.zeros(0)
    windows = np.lib.stride_tricks.sliding_window_view(z, run)
    up = windows.min(axis=1)
    down = -windows.max(axis=1)
    out: FloatArray = np.maximum(np.maximum(up, down), 0.0)
    return out
