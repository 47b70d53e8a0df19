"""Learned baselines: robust centre and spread per (service, metric), over a trailing
window, and per hour of day once enough days of history exist (seasonality)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from coral_mcp.analysis.detect import Series
from coral_mcp.analysis.robust import Robust, robust_stats

ALL_HOURS = -1
#: Days of history before per-hour baselines are learned.
SEASONAL_MIN_DAYS = 3.0
#: Samples an hour-of-day bucket needs.
SEASONAL_MIN_SAMPLES = 10
#: Samples a series needs for any baseline.
MIN_SAMPLES = 10


@dataclass(frozen=True, slots=True)
class Baseline:
    service: str
    metric: str
    hour_of_day: int
    stats: Robust
    window_start_s: float
    window_end_s: float


def learn_baselines(series: Iterable[Series]) -> list[Baseline]:
    """Baselines of every series with enough samples (all hours, plus per hour of day)."""
    out: list[Baseline] = []
    for s in series:
        if s.values.size < MIN_SAMPLES:
            continue
        lo, hi = float(s.ts_s[0]), float(s.ts_s[-1])
        out.append(Baseline(s.service, s.metric, ALL_HOURS, robust_stats(s.values), lo, hi))
        if hi - lo < SEASONAL_MIN_DAYS * 86400:
            continue
        hours = ((s.ts_s // 3600) % 24).astype(np.int64)
        for hour in range(24):
            values = s.values[hours == hour]
            if values.size >= SEASONAL_MIN_SAMPLES:
                out.append(Baseline(s.service, s.metric, hour, robust_stats(values), lo, hi))
    return out


def baseline_at(
    baselines: Mapping[tuple[str, str, int], Robust], service: str, metric: str, ts_s: float
) -> Robust | None:
    """The hour-of-day baseline for `ts_s` when learned, else the all-hours one."""
    hour = int(ts_s // 3600) % 24
    found = baselines.get((service, metric, hour))
    return found if found is not None else baselines.get((service, metric, ALL_HOURS))
