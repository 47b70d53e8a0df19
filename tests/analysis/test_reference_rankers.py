"""The reference rankers BARO and graph traversal, on a case built here."""

from __future__ import annotations

import numpy as np

from coral_mcp.analysis.detect import Series
from coral_mcp.analysis.reference_rankers import baro, default_onset, rank_of, traversal
from coral_mcp.analysis.topology import ServiceGraph

T0 = 1_767_225_600.0
N = 40
AT = 30


def s(service: str, factor: float, wiggle: float = 0.05) -> Series:
    values = 10.0 * (1 + wiggle * np.sin(np.arange(N)))
    values[AT:] *= factor
    return Series(service, "latency_ms", T0 + 60 * np.arange(N), values)


def test_baro_ranks_services_by_their_largest_robust_change_after_the_onset() -> None:
    ranked = baro([s("db", 3.0), s("api", 2.0), s("web", 1.0)], T0 + 60 * AT)
    assert [name for name, _ in ranked] == ["db", "api", "web"]
    assert ranked[2][1] < 3.0


def test_traversal_prefers_the_anomalous_service_without_anomalous_dependencies() -> None:
    # api changes more than db, but db is what api depends on: db is the root.
    graph = ServiceGraph([("web", "api"), ("api", "db")])
    data = [s("db", 1.5), s("api", 4.0), s("web", 3.0)]
    ranked = traversal(data, T0 + 60 * AT, graph, "web")
    assert rank_of(ranked, "db") == 1
    assert rank_of(baro(data, T0 + 60 * AT), "db") == 3
    assert rank_of(ranked, "nobody") is None


def test_without_an_incident_time_the_onset_is_where_the_series_changed() -> None:
    onset = default_onset([s("db", 3.0, 0.01), s("api", 2.0, 0.01)])
    assert onset is not None and abs(onset - (T0 + 60 * AT)) <= 60


def test_baro_scales_a_constant_reference_by_one_as_robustscaler_does() -> None:
    # db's reference is constant: RobustScaler divides by 1, not by a tiny floor, so its
    # small step does not outrank api's threefold rise.
    flat = np.full(N, 10.0)
    flat[AT:] = 10.5
    db = Series("db", "latency_ms", T0 + 60 * np.arange(N), flat)
    ranked = baro([db, s("api", 3.0)], T0 + 60 * AT)
    assert [name for name, _ in ranked] == ["api", "db"]
    assert ranked[1][1] == 0.5


def test_baro_scores_a_rise_not_a_fall() -> None:
    ranked = baro([s("db", 0.2), s("api", 1.5)], T0 + 60 * AT)
    assert [name for name, _ in ranked] == ["api", "db"]
    assert ranked[1][1] < 1.0
