"""The intelligence layer's storage: series as the analysis sees them, edge freshness,
anomalies that last."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from coral_mcp.analysis.detect import Series
from coral_mcp.models import MetricSummary, SummaryWindow
from coral_mcp.models.intelligence import AnomalyView
from coral_mcp.storage import analysis_store as st
from coral_mcp.storage.ops import RegisterAgent, StoreSummaries, WriteOp
from coral_mcp.storage.store import ColonyStore

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def window(minute: int, *rows: tuple[str, str, float]) -> SummaryWindow:
    start = int((T0 + timedelta(minutes=minute)).timestamp() * 1000)
    return SummaryWindow(
        start, start + 60_000, tuple(MetricSummary(s, m, v, v, v, v, v, 1) for s, m, v in rows)
    )


def test_series_come_sorted_per_service_and_metric_with_agents_averaged(tmp_path: Path) -> None:
    store = ColonyStore(tmp_path)
    try:
        store.apply(
            [
                RegisterAgent("a", "h", "1", 1, "", (), 0),
                RegisterAgent("b", "h", "1", 1, "", (), 0),
                StoreSummaries("a", 1, window(2, ("api", "cpu", 3.0), ("db", "cpu", 9.0))),
                StoreSummaries("a", 2, window(0, ("api", "cpu", 1.0))),
                StoreSummaries("b", 1, window(0, ("api", "cpu", 2.0))),
                StoreSummaries("a", 3, window(1, ("api", "cpu", 5.0))),
            ]
        )
        cur = store.reader()
        series = st.load_series(cur, T0, T0 + timedelta(hours=1))
        cur.close()
    finally:
        store.close()
    assert [(s.service, s.metric) for s in series] == [("api", "cpu"), ("db", "cpu")]
    api = series[0]
    assert api.ts_s.tolist() == [T0.timestamp() + 60 * i for i in range(3)]
    assert np.allclose(api.values, [1.5, 5.0, 3.0])


def test_edges_not_seen_for_a_day_are_left_out(tmp_path: Path) -> None:
    store = ColonyStore(tmp_path)
    try:
        cur = store.reader()
        st.upsert_edges(cur, [("web", "api")], T0)
        st.upsert_edges(cur, [("api", "old-db")], T0 - timedelta(days=3))
        assert st.load_edges(cur, T0 - timedelta(days=1)) == [("web", "api")]
        cur.close()
    finally:
        store.close()


def test_non_finite_window_averages_are_left_out(tmp_path: Path) -> None:
    store = ColonyStore(tmp_path)
    try:
        store.apply(
            [
                RegisterAgent("a", "h", "1", 1, "", (), 0),
                StoreSummaries("a", 1, window(0, ("api", "cpu", 1.0))),
                StoreSummaries("a", 2, window(1, ("api", "cpu", float("inf")))),
            ]
        )
        cur = store.reader()
        series = st.load_series(cur, T0, T0 + timedelta(hours=1))
        cur.close()
    finally:
        store.close()
    assert series[0].values.tolist() == [1.0]


def test_a_range_too_big_for_the_budget_keeps_every_series_thinned_evenly(tmp_path: Path) -> None:
    store = ColonyStore(tmp_path)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    windows = [
        SummaryWindow(
            int((start + timedelta(seconds=15 * i)).timestamp() * 1000),
            int((start + timedelta(seconds=15 * i + 15)).timestamp() * 1000),
            tuple(MetricSummary(f"s{k}", "m", 1, 1, float(i), 1, 1, 1) for k in range(4)),
        )
        for i in range(400)
    ]
    store.apply([RegisterAgent("a", "h", "v", 1, "p", (), 0)])
    store.apply([StoreSummaries("a", i + 1, w) for i, w in enumerate(windows)])
    end = start + timedelta(seconds=15 * 400)
    cur = store.reader()
    try:
        full = st.load_series(cur, start, end)
        thin = st.load_series(cur, start, end, budget=400)  # 4 series x 400 windows: 1 in 4
    finally:
        cur.close()
    assert [len(s.values) for s in full] == [400] * 4
    assert [s.service for s in thin] == ["s0", "s1", "s2", "s3"]
    assert all(90 <= len(s.values) <= 110 for s in thin)
    assert sum(len(s.values) for s in thin) <= 440


def stored_hour(tmp_path: Path, ops: Sequence[WriteOp]) -> dict[str, Series]:
    """The series of the hour from T0 as the analysis reads them after `ops`, by metric."""
    store = ColonyStore(tmp_path)
    try:
        store.apply(ops)
        cur = store.reader()
        series = {s.metric: s for s in st.load_series(cur, T0, T0 + timedelta(hours=1))}
        cur.close()
    finally:
        store.close()
    return series


def test_windows_an_agent_left_out_as_unchanged_hold_the_value_last_sent(tmp_path: Path) -> None:
    # The agent sends "fds" at minute -2 (before the range) and minute 3, "cpu" every
    # minute; the windows without "fds" mean it stayed where it was.
    ops = [RegisterAgent("a", "h", "1", 1, "", (), 0)]
    for seq, minute in enumerate(range(-2, 6), 1):
        rows = [("api", "cpu", float(minute))]
        if minute in (-2, 3):
            rows.append(("api", "fds", 10.0 if minute < 0 else 40.0))
        ops.append(StoreSummaries("a", seq, window(minute, *rows)))
    series = stored_hour(tmp_path, ops)
    fds = series["fds"]
    assert fds.ts_s.tolist() == [T0.timestamp() + 60 * i for i in range(6)]
    assert fds.values.tolist() == [10.0, 10.0, 10.0, 40.0, 40.0, 40.0]
    assert fds.resolution > 0, "a held value is known only to its dead band"
    assert series["cpu"].resolution == 0


def test_windows_left_out_after_a_burst_hold_where_the_burst_ended_not_its_average(
    tmp_path: Path,
) -> None:
    # A rate that is 0, jumps to 5 for one sample and is 0 again: the window holding the
    # burst averages 2.5 but ends at 0, and the agent leaves out the windows after it as
    # unchanged from that 0. They must read 0, not a level shift to 2.5.
    ops = [RegisterAgent("a", "h", "1", 1, "", (), 0)]
    for seq, minute in enumerate(range(6), 1):
        rows = [MetricSummary("api", "cpu", 1.0, 1.0, 1.0, 1.0, 1.0, 1)]
        if minute == 0:
            rows.append(MetricSummary("api", "gc_rate", 0.0, 0.0, 0.0, 0.0, 0.0, 2))
        if minute == 2:
            rows.append(MetricSummary("api", "gc_rate", 0.0, 5.0, 2.5, 0.0, 5.0, 2))
        start = int((T0 + timedelta(minutes=minute)).timestamp() * 1000)
        ops.append(StoreSummaries("a", seq, SummaryWindow(start, start + 60_000, tuple(rows))))
    series = stored_hour(tmp_path, ops)
    assert series["gc_rate"].values.tolist() == [0.0, 0.0, 2.5, 0.0, 0.0, 0.0]


def test_a_held_value_is_not_filled_in_past_the_refresh_horizon() -> None:
    grid = np.arange(st.REFRESH_WINDOWS + 10, dtype=np.int64) * 1000
    agent = np.ones(grid.size + 1, dtype=np.int64)
    series = np.r_[np.full(grid.size, 2), 1].astype(np.int64)  # series 2 marks the windows
    ts = np.r_[grid, 0].astype(np.int64)
    values = np.r_[np.zeros(grid.size), 7.0]
    ids, _, filled_values, filled = st.fill_unchanged(agent, series, ts, values)
    held = filled_values[ids == 1]
    assert held.tolist() == [7.0] * st.REFRESH_WINDOWS
    assert int(filled[ids == 1].sum()) == st.REFRESH_WINDOWS - 1


def test_a_thinned_read_keeps_fine_stretches_whole_and_one_window_a_bucket_elsewhere(
    tmp_path: Path,
) -> None:
    # 2 h of 1-minute windows, api's cpu = the minute; read in 10-minute buckets except
    # the last half hour.
    ops = [RegisterAgent("a", "h", "1", 1, "", (), 0)]
    ops += [StoreSummaries("a", m + 1, window(m, ("api", "cpu", float(m)))) for m in range(120)]
    end = T0 + timedelta(hours=2)
    thinning = st.Thinning(600, end - timedelta(minutes=30))
    store = ColonyStore(tmp_path)
    try:
        store.apply(ops)
        cur = store.reader()
        (cpu,) = st.load_series(cur, T0, end, thinning=thinning)
        cur.close()
    finally:
        store.close()
    minutes = ((cpu.ts_s - T0.timestamp()) / 60).tolist()
    assert minutes == [*range(0, 90, 10), *range(90, 120)]
    assert cpu.values.tolist() == minutes, "each bucket's first window, as stored"
    assert cpu.step_s == 60, "the stored step, which the thinned samples no longer show"


def test_a_steady_series_sent_only_now_and_then_is_held_through_thinned_buckets(
    tmp_path: Path,
) -> None:
    # "fds" is sent every REFRESH_WINDOWS minutes, off the 4-minute bucket boundaries.
    refresh = st.REFRESH_WINDOWS
    ops = [RegisterAgent("a", "h", "1", 1, "", (), 0)]
    for m in range(6 * refresh):
        rows = [("api", "cpu", 1.0)]
        if m % refresh == 1:
            rows.append(("api", "fds", float(m)))
        ops.append(StoreSummaries("a", m + 1, window(m, *rows)))
    end = T0 + timedelta(minutes=6 * refresh)
    store = ColonyStore(tmp_path)
    try:
        store.apply(ops)
        cur = store.reader()
        series = st.load_series(cur, T0, end, thinning=st.Thinning(240, end))
        cur.close()
    finally:
        store.close()
    cpu, fds = series
    assert fds.ts_s.tolist() == cpu.ts_s.tolist(), "held in every bucket"
    assert fds.values.tolist() == [float(refresh * (i // 5) + 1) for i in range(len(fds.ts_s))]


def test_some_series_are_read_alone_in_full(tmp_path: Path) -> None:
    ops = [RegisterAgent("a", "h", "1", 1, "", (), 0)]
    rows = [("api", "cpu", 1.0), ("api", "fds", 2.0), ("db", "cpu", 3.0)]
    ops += [StoreSummaries("a", m + 1, window(m, *rows)) for m in range(10)]
    store = ColonyStore(tmp_path)
    try:
        store.apply(ops)
        cur = store.reader()
        only = [("db", "cpu"), ("api", "cpu")]
        series = st.load_series(cur, T0, T0 + timedelta(hours=1), only=only)
        cur.close()
    finally:
        store.close()
    assert [(s.service, s.metric, s.values.tolist()) for s in series] == [
        ("api", "cpu", [1.0] * 10),
        ("db", "cpu", [3.0] * 10),
    ]


def anomaly(minute: int, score: float, service: str = "api") -> AnomalyView:
    """api's latency anomalous from `minute` on, as one detection run reports it."""
    onset = T0 + timedelta(minutes=minute)
    return AnomalyView(
        f"an-{service}-{minute}", service, "latency_ms", "level_shift", onset, onset,
        score, 400.0 + score, 50.0, f"latency {score}",
    )  # fmt: skip


def test_an_anomaly_found_again_with_a_later_onset_is_extended_not_stored_again(
    tmp_path: Path,
) -> None:
    store = ColonyStore(tmp_path)
    try:
        cur = store.reader()
        hour = (T0 - timedelta(hours=1), T0 + timedelta(hours=1))
        assert st.store_anomalies(cur, [anomaly(0, 5.0)], T0) == [anomaly(0, 5.0)]
        # Detection looks back only so far: 20 minutes on, the same anomaly has a
        # later onset, and a higher score.
        assert st.store_anomalies(cur, [anomaly(20, 9.0)], T0 + timedelta(minutes=20)) == []
        (kept,) = st.load_anomalies(cur, *hour, None, 100)
        assert (kept.id, kept.onset, kept.score, kept.ended_at) == ("an-api-0", T0, 9.0, None)
        assert kept.detail == "latency 9.0"
        # Still going on: a range after its onset lists it.
        later = (T0 + timedelta(minutes=25), T0 + timedelta(minutes=30))
        assert [a.id for a in st.load_anomalies(cur, *later, None, 100)] == ["an-api-0"]
        # A run that no longer finds it ends it; a range after its end leaves it out.
        ended_at = T0 + timedelta(minutes=30)
        assert st.store_anomalies(cur, [anomaly(29, 4.0, "db")], ended_at) != []
        (api,) = st.load_anomalies(cur, *hour, "api", 100)
        assert api.ended_at == ended_at
        after = (ended_at + timedelta(minutes=1), ended_at + timedelta(minutes=5))
        assert [a.id for a in st.load_anomalies(cur, *after, None, 100)] == ["an-db-29"]
        # After it ended, api's latency anomalous again is a new anomaly.
        again = st.store_anomalies(cur, [anomaly(40, 6.0)], T0 + timedelta(minutes=40))
        assert [a.id for a in again] == ["an-api-40"]
        # Each anomaly is one event of kind `anomaly`, at its onset.
        events = store.events(*hour, kinds=["anomaly"])
        assert sorted(dict(e.event.attributes)["id"] for e in events) == [
            "an-api-0", "an-api-40", "an-db-29",
        ]  # fmt: skip
        cur.close()
    finally:
        store.close()
