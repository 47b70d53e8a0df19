"""Robust statistics, change points and per-series detection."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from coral_mcp.analysis.changepoint import change_point, linear_trend, seconds_to_limit
from coral_mcp.analysis.detect import Series, detect_series, stale, worth_a_look
from coral_mcp.analysis.robust import persistent, robust_stats, robust_z

T0 = 1_700_000_000.0


def series(
    values: list[float] | np.ndarray, metric: str = "latency_ms", step: float = 60.0
) -> Series:
    x = np.asarray(values, dtype=np.float64)
    return Series("svc", metric, T0 + step * np.arange(x.size), x)


def wiggle(n: int, level: float, amplitude: float) -> np.ndarray:
    """A deterministic noisy-looking signal: level + amplitude * (-1, 0, 1, ...)."""
    return level + amplitude * np.array([(-1, 0, 1, 0.5, -0.5)[i % 5] for i in range(n)])


@settings(max_examples=60, deadline=None)
@given(
    value=st.floats(min_value=-1e9, max_value=1e9, allow_nan=False),
    n=st.integers(min_value=10, max_value=300),
)
def test_a_constant_series_is_never_anomalous(value: float, n: int) -> None:
    s = series([value] * n)
    assert detect_series(s, float(s.ts_s[-1]) + 60) is None
    assert np.all(robust_z(s.values, robust_stats(s.values)) == 0)


def test_one_sample_blips_do_not_persist() -> None:
    z = np.array([0.0, 0.0, 50.0, 0.0, 0.0, -40.0, 0.0])
    assert persistent(z, 3).max() == 0.0


def test_a_level_shift_is_found_with_its_onset() -> None:
    values = np.concatenate([wiggle(60, 50.0, 2.0), wiggle(30, 120.0, 2.0)])
    s = series(values)
    found = detect_series(s, float(s.ts_s[-1]) + 60)
    assert found is not None
    assert found.kind == "level_shift"
    assert found.onset_s == T0 + 60 * 60
    assert found.direction == 1


def test_a_change_from_a_flat_zero_says_so_instead_of_an_astronomical_z() -> None:
    values = np.zeros(60)
    values[40:] = 4780.0  # a database's first disk writes after an all-zero stretch
    found = detect_series(series(values, "write_bytes_per_s"), T0 + 60 * 60)
    assert found is not None and found.score > 1000
    assert found.detail == "write_bytes_per_s 4780 vs normal 0 (z > 1000: flat before)"
    shifted_values = np.concatenate([wiggle(60, 50.0, 2.0), wiggle(30, 120.0, 2.0)])
    shifted = detect_series(series(shifted_values), T0 + 90 * 60)
    assert shifted is not None and "(z " in shifted.detail and "flat" not in shifted.detail


def test_a_recovered_excursion_is_a_spike() -> None:
    values = wiggle(90, 50.0, 2.0)
    values[40:46] = 150.0
    s = series(values)
    found = detect_series(s, float(s.ts_s[-1]) + 60)
    assert found is not None and found.kind == "spike"
    assert found.onset_s == T0 + 40 * 60


def test_change_point_splits_at_the_mean_shift() -> None:
    values = np.concatenate([np.zeros(37), np.ones(50) * 10])
    assert change_point(values) == 37


def test_linear_growth_is_a_trend_with_slope_and_time_to_limit() -> None:
    flat = wiggle(50, 2e8, 1e6)
    ramp = 2e8 + 1e6 * np.arange(40)  # +1 MB per minute
    s = series(np.concatenate([flat, ramp]), metric="rss_bytes")
    found = detect_series(s, float(s.ts_s[-1]) + 60, limit=1e9)
    assert found is not None and found.kind == "trend"
    assert found.slope_per_s is not None
    assert abs(found.slope_per_s * 60 - 1e6) < 1e5
    assert found.seconds_to_limit is not None
    # from 2.39e8 at 1 MB/min to 1e9: about 761 minutes
    assert 700 * 60 < found.seconds_to_limit < 820 * 60


def test_seconds_to_limit_is_none_for_a_falling_series() -> None:
    trend = linear_trend(np.arange(10.0), -np.arange(10.0))
    assert trend is not None
    assert seconds_to_limit(trend, 5.0, 10.0) is None


def test_cpu_pinned_near_100_percent_is_saturation() -> None:
    values = np.concatenate([wiggle(60, 30.0, 2.0), wiggle(30, 97.0, 1.0)])
    s = series(values, metric="cpu_percent")
    found = detect_series(s, float(s.ts_s[-1]) + 60)
    assert found is not None and found.kind == "saturation"


def test_a_series_that_stopped_reporting_is_flagged() -> None:
    s = series(wiggle(60, 10.0, 1.0))
    found = detect_series(s, float(s.ts_s[-1]) + 30 * 60)
    assert found is not None and found.kind == "stopped"
    assert found.onset_s == float(s.ts_s[-1]) + 60


def test_a_thinned_series_that_stopped_reporting_is_judged_by_its_stored_step() -> None:
    # A long range read thinned: 6-minute samples, then the last hour of 1-minute
    # windows, the last of them 10 minutes before the end.
    ts = np.r_[np.arange(0.0, 20 * 3600, 360), 20 * 3600 + np.arange(0.0, 3600, 60)]
    values = 10.0 + np.arange(ts.size) % 3
    end_s = float(ts[-1]) + 600
    thinned = Series("api", "cpu_percent", ts, values)
    assert not stale(thinned, end_s), "the median step (6 min) hides the gap"
    assert stale(replace(thinned, step_s=60.0), end_s)


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    n=st.integers(min_value=10, max_value=600),
    size=st.floats(min_value=0.0, max_value=40.0),
    start=st.floats(min_value=0.0, max_value=1.0),
    width=st.integers(min_value=1, max_value=600),
    ramp=st.booleans(),
)
def test_the_fast_screen_never_drops_a_series_detection_would_flag(
    seed: int, n: int, size: float, start: float, width: int, ramp: bool
) -> None:
    rng = np.random.default_rng(seed)
    values = 100 + rng.normal(0, 2, n)
    a = int(start * (n - 1))
    b = min(n, a + width)
    values[a:b] += size * 2 * (np.linspace(0, 1, b - a) if ramp else 1)
    s = series(values)
    flagged = detect_series(s, float(s.ts_s[-1]) + 60) is not None
    assert worth_a_look([s]) == [True] or not flagged


def test_white_noise_is_rarely_anomalous() -> None:
    rng = np.random.default_rng(2026)
    flagged = 0
    for _ in range(300):
        s = series(50 + rng.normal(0, 3, 240))
        flagged += detect_series(s, float(s.ts_s[-1]) + 60) is not None
    assert flagged <= 3  # at most 1 % false alarms on 4-hour series of pure noise
