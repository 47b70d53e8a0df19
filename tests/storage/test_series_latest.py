"""Each series' newest value and its current and previous hour are kept up to date as
summaries are written, so a glance at "now" reads one row per series instead of
scanning raw rows: what it says must equal what the raw rows say."""

from __future__ import annotations

import random
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from coral_mcp.models import MetricGlance, MetricSummary, SummaryWindow
from coral_mcp.storage import latest
from coral_mcp.storage.latest import FOLD_IDLE_S, LatestSeries
from coral_mcp.storage.ops import RegisterAgent, StoreSummaries, WriteOp
from coral_mcp.storage.retention import Retention
from coral_mcp.storage.store import ColonyStore

HOUR = datetime(2026, 11, 28, 9, tzinfo=UTC)  # the current hour of the data
MS = 1000


def window(start: datetime, rng: random.Random, seconds: int = 15) -> SummaryWindow:
    summaries = []
    for metric in ("cpu_percent", "rss_bytes"):
        lo = rng.uniform(0, 50)
        summaries.append(
            MetricSummary(
                "api", metric, lo, lo + rng.uniform(0, 50), lo + 10, lo + 5, lo + 40,
                rng.choice([0, 3, 15]),
            )
        )  # fmt: skip
    begin = int(start.timestamp() * MS)
    return SummaryWindow(begin, begin + seconds * MS, tuple(summaries))


def raw_glance(store: ColonyStore, since: datetime) -> list[tuple[object, ...]]:
    """The same glance computed from every raw row since `since`."""
    cur = store.reader()
    try:
        return cur.execute(
            """
            SELECT metric, arg_max(last, window_end),
                   sum(avg * count) / greatest(sum(count), 1), min(min), max(max),
                   max(window_end)
            FROM metric_summaries WHERE service = 'api' AND window_start >= ?
            GROUP BY metric ORDER BY metric
            """,
            [since.replace(tzinfo=None)],
        ).fetchall()
    finally:
        cur.close()


def kept(store: ColonyStore) -> list[tuple[object, ...]]:
    glances = kept_glances(store)
    return [(g.metric, g.latest, g.avg, g.min, g.max, g.last_seen.replace(tzinfo=None))
            for g in glances]  # fmt: skip


def approx(a: list[tuple[object, ...]], b: list[tuple[object, ...]]) -> bool:
    return len(a) == len(b) and all(
        x == y or (isinstance(x, float) and abs(x - float(y)) < 1e-9)  # type: ignore[arg-type]
        for ra, rb in zip(a, b, strict=True)
        for x, y in zip(ra, rb, strict=True)
    )


def test_the_kept_glance_equals_the_raw_rows_of_this_hour_and_the_one_before(
    tmp_path: Path,
) -> None:
    store = ColonyStore(tmp_path)
    rng = random.Random(5)
    now_ms = int(HOUR.timestamp() * MS)
    ops: list[WriteOp] = [RegisterAgent("a1", "h", "0.1.0", 1, "p", (), now_ms)]
    seq = 1
    # Two hours before (not counted), the previous hour, this hour; in batches as pushed.
    starts = [HOUR - timedelta(hours=2) + timedelta(seconds=15 * i) for i in range(4)]
    starts += [HOUR - timedelta(hours=1) + timedelta(minutes=7 * i) for i in range(8)]
    starts += [HOUR + timedelta(minutes=5 * i) for i in range(6)]
    for start in starts:
        seq += 1
        ops.append(StoreSummaries("a1", seq, window(start, rng)))
        if len(ops) == 3:
            store.apply(ops)
            ops = []
    store.apply(ops)
    expected = raw_glance(store, HOUR - timedelta(hours=1))
    assert approx(kept(store), expected), (kept(store), expected)

    # Late data for the previous hour counts there; older than that is stored, not kept.
    late = [window(HOUR - timedelta(minutes=30, seconds=3), rng)]
    late.append(window(HOUR - timedelta(hours=3), rng))
    store.apply([StoreSummaries("a1", seq + 1 + i, w) for i, w in enumerate(late)])
    assert approx(kept(store), raw_glance(store, HOUR - timedelta(hours=1)))

    # A new hour: the previous one becomes "this hour", the one before is dropped.
    store.apply([StoreSummaries("a1", seq + 3, window(HOUR + timedelta(hours=1), rng))])
    assert approx(kept(store), raw_glance(store, HOUR))
    store.close()


def test_services_show_the_newest_value_and_retention_forgets_dead_series(
    tmp_path: Path,
) -> None:
    store = ColonyStore(tmp_path)
    rng = random.Random(9)
    now_ms = int(HOUR.timestamp() * MS)
    windows = [window(HOUR + timedelta(seconds=15 * i), rng) for i in range(5)]
    store.apply(
        [
            RegisterAgent("a1", "h", "0.1.0", 1, "p", (), now_ms),
            # Out of order within one batch: the newest window still wins.
            *(StoreSummaries("a1", 2 + i, w) for i, w in enumerate(reversed(windows))),
        ]
    )
    newest = {s.metric: s.last for s in windows[-1].summaries}
    assert {g.metric: g.latest for g in kept_glances(store)} == newest
    store.maintain(HOUR + timedelta(days=9), Retention(raw_days=7))
    assert kept_glances(store) == []
    store.close()


def kept_glances(store: ColonyStore) -> list[MetricGlance]:
    return store.metric_glance("api", HOUR - timedelta(days=1), recent=True)


def test_a_glance_over_hours_equals_the_raw_rows_of_those_whole_hours(tmp_path: Path) -> None:
    """list_metrics' glance: roll-ups for the older hours, series_latest for the last two."""
    store = ColonyStore(tmp_path)
    rng = random.Random(11)
    now_ms = int(HOUR.timestamp() * MS)
    starts = [HOUR - timedelta(hours=5) + timedelta(minutes=9 * i) for i in range(36)]
    store.apply(
        [
            RegisterAgent("a1", "h", "0.1.0", 1, "p", (), now_ms),
            *(StoreSummaries("a1", 2 + i, window(s, rng)) for i, s in enumerate(starts)),
        ]
    )
    store.maintain(HOUR + timedelta(minutes=20), Retention())  # rolls the closed hours
    since = HOUR - timedelta(hours=3, minutes=40)
    glances = store.metric_glance("api", since)
    found = [(g.metric, g.latest, g.avg, g.min, g.max, g.last_seen.replace(tzinfo=None))
             for g in glances]  # fmt: skip
    expected = raw_glance(store, HOUR - timedelta(hours=4))  # whole hours from since's
    assert approx(found, expected), (found, expected)
    assert store.metric_glance("api", HOUR + timedelta(hours=2)) == []  # none reported since
    store.close()


def pushes(rng: random.Random) -> list[WriteOp]:
    """Batches as agents push them: three hours of windows, late data among them."""
    starts = [HOUR - timedelta(hours=2) + timedelta(minutes=6 * i) for i in range(30)]
    starts.insert(25, HOUR - timedelta(minutes=80))  # late, for the previous hour
    ops: list[WriteOp] = [RegisterAgent("a1", "h", "0.1.0", 1, "p", (), int(HOUR.timestamp()))]
    ops += [StoreSummaries("a1", 2 + i, window(s, rng)) for i, s in enumerate(starts)]
    return ops


def test_many_batches_written_between_two_reads_give_the_same_glance(tmp_path: Path) -> None:
    store = ColonyStore(tmp_path)
    for op in pushes(random.Random(21)):  # one commit each, no read in between
        store.apply([op])
    assert approx(kept(store), raw_glance(store, HOUR - timedelta(hours=1)))
    store.close()


def test_glances_read_while_the_writer_writes_and_folds_equal_the_raw_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(latest, "FOLD_ROWS", 3)  # the writer folds every other push
    store = ColonyStore(tmp_path)
    done = threading.Event()
    failures: list[BaseException] = []

    def read() -> None:  # readers fold too: both race for the same table
        while not done.is_set():
            try:
                kept_glances(store)
                store.services(HOUR + timedelta(hours=1))
            except BaseException as exc:  # reported below
                failures.append(exc)
                return

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for op in pushes(random.Random(23)):
            store.apply([op])
    finally:
        done.set()
        reader.join()
    assert failures == []
    assert approx(kept(store), raw_glance(store, HOUR - timedelta(hours=1)))
    store.close()


_KILLED = """
import os, random, sys
from pathlib import Path
sys.path.insert(0, {root!r})
from tests.storage.test_series_latest import pushes
from coral_mcp.storage.store import ColonyStore
store = ColonyStore(Path({data!r}))
for op in pushes(random.Random(22)):
    store.apply([op])
os._exit(0)  # no close: as if killed
"""


def test_a_colony_killed_before_its_glance_caught_up_has_it_right_after_restart(
    tmp_path: Path,
) -> None:
    root = str(Path(__file__).resolve().parents[2])
    script = _KILLED.format(root=root, data=str(tmp_path))
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    store = ColonyStore(tmp_path)
    assert len(raw_glance(store, HOUR - timedelta(hours=1))) == 2  # the rows were committed
    assert approx(kept(store), raw_glance(store, HOUR - timedelta(hours=1)))
    store.close()


def old_and_new(rng: random.Random) -> tuple[list[WriteOp], list[WriteOp]]:
    """An "old" service silent for three days before the data's current hour (longer
    than the day refolded after an unclean stop), then pushes of "api"."""
    begin = HOUR - timedelta(days=3)
    ops: list[WriteOp] = [RegisterAgent("a1", "h", "0.1.0", 1, "p", (), int(HOUR.timestamp()))]
    for i in range(3):
        w = window(begin + timedelta(minutes=10 * i), rng)
        old = tuple(s._replace(service="old") for s in w.summaries)
        ops.append(StoreSummaries("a1", 2 + i, SummaryWindow(w.start_ms, w.end_ms, old)))
    return ops, [StoreSummaries("a1", 10 + i, window(HOUR + timedelta(minutes=5 * i), rng))
                 for i in range(6)]  # fmt: skip


def glances(store: ColonyStore, service: str) -> list[MetricGlance]:
    return store.metric_glance(service, HOUR - timedelta(days=4), recent=True)


def as_rows(found: list[MetricGlance]) -> list[tuple[object, ...]]:
    return [(g.metric, g.latest, g.avg, g.min, g.max, g.last_seen) for g in found]


def test_a_clean_restart_keeps_every_series_as_it_was(tmp_path: Path) -> None:
    store = ColonyStore(tmp_path)
    old, new = old_and_new(random.Random(31))
    for op in old + new:
        store.apply([op])
    before = {name: glances(store, name) for name in ("old", "api")}
    assert all(before.values())
    store.close()
    store = ColonyStore(tmp_path)
    assert {name: glances(store, name) for name in ("old", "api")} == before
    store.close()


_KILLED_AFTER_MAINTENANCE = """
import os, random, sys
from datetime import timedelta
from pathlib import Path
sys.path.insert(0, {root!r})
from tests.storage.test_series_latest import HOUR, old_and_new
from coral_mcp.storage.retention import Retention
from coral_mcp.storage.store import ColonyStore
store = ColonyStore(Path({data!r}))
old, new = old_and_new(random.Random(32))
for op in old:
    store.apply([op])
store.maintain(HOUR - timedelta(days=2), Retention(raw_days=7))  # a snapshot
for op in new:
    store.apply([op])
os._exit(0)  # no close: as if killed
"""


def test_a_colony_killed_after_maintenance_keeps_series_silent_for_longer_than_a_day(
    tmp_path: Path,
) -> None:
    """After an unclean stop the last day of raw rows is refolded over the last
    snapshot (maintenance writes one): a series silent for longer is in the snapshot."""
    root = str(Path(__file__).resolve().parents[2])
    script = _KILLED_AFTER_MAINTENANCE.format(root=root, data=str(tmp_path))
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    (tmp_path / "reference").mkdir()
    reference = ColonyStore(tmp_path / "reference")
    old, new = old_and_new(random.Random(32))
    for op in old + new:
        reference.apply([op])
    store = ColonyStore(tmp_path)
    try:
        for name in ("old", "api"):
            found, expected = as_rows(glances(store, name)), as_rows(glances(reference, name))
            assert expected and approx(found, expected), (name, found, expected)
    finally:
        store.close()
        reference.close()


def test_random_pushes_of_many_series_give_each_the_glance_of_its_raw_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many series, windows out of order and late, folded in batches of any size."""
    monkeypatch.setattr(latest, "FOLD_ROWS", 40)
    rng = random.Random(41)
    store = ColonyStore(tmp_path)
    services = [f"svc{i}" for i in range(12)]
    ops: list[WriteOp] = [RegisterAgent("a1", "h", "0.1.0", 1, "p", (), int(HOUR.timestamp()))]
    for i in range(150):
        start = HOUR + timedelta(minutes=rng.uniform(-150, 90))
        w = window(start, rng, seconds=rng.choice([10, 15, 60]))
        name = rng.choice(services)
        rows = tuple(s._replace(service=name) for s in w.summaries)
        ops.append(StoreSummaries("a1", 2 + i, SummaryWindow(w.start_ms, w.end_ms, rows)))
    while ops:
        take = rng.randint(1, 6)
        batch, ops = ops[:take], ops[take:]
        store.apply(batch)
    cur = store.reader()
    try:
        newest = dict(cur.execute(
            "SELECT service, max(date_trunc('hour', window_start)) FROM metric_summaries"
            " GROUP BY service"
        ).fetchall())  # fmt: skip
        for name in services:
            if name not in newest:
                continue
            since = newest[name] - timedelta(hours=1)
            expected = cur.execute(
                """
                SELECT metric, arg_max(last, window_end),
                       sum(avg * count) / greatest(sum(count), 1), min(min), max(max),
                       max(window_end)
                FROM metric_summaries WHERE service = ? AND window_start >= ?
                GROUP BY metric ORDER BY metric
                """,
                [name, since],
            ).fetchall()
            found = [
                (g.metric, g.latest, g.avg, g.min, g.max, g.last_seen.replace(tzinfo=None))
                for g in store.metric_glance(name, HOUR - timedelta(days=1), recent=True)
            ]
            assert approx(found, expected), (name, found, expected)
    finally:
        cur.close()
    store.close()


def test_a_read_sees_summaries_still_waiting_without_writing_them(tmp_path: Path) -> None:
    """Reads fold nothing into the stored table (that is the writer's work): what waits
    for the service read is folded into a copy of the reader's own."""
    store = ColonyStore(tmp_path)
    for op in pushes(random.Random(23)):
        store.apply([op])
    assert approx(kept(store), raw_glance(store, HOUR - timedelta(hours=1)))
    other = store.reader()
    try:
        stored = other.execute("SELECT count(*) FROM series_latest").fetchone()
    finally:
        other.close()
    assert stored == (0,)  # still waiting: the read wrote nothing
    store.close()  # folds what waits
    store = ColonyStore(tmp_path)
    assert approx(kept(store), raw_glance(store, HOUR - timedelta(hours=1)))
    store.close()


def test_metric_names_include_summaries_not_yet_folded_in(tmp_path: Path) -> None:
    store = ColonyStore(tmp_path)
    store.apply(pushes(random.Random(26))[:3])
    assert store._latest._waiting  # not folded in yet
    assert store.metric_names("api") == ["cpu_percent", "rss_bytes"]
    assert store.metric_names("web") == []
    store.close()


def test_the_writer_folds_once_a_push_interval_or_once_enough_rows_wait() -> None:
    now = [1000.0]
    table = LatestSeries(clock=lambda: now[0])
    rows = window(HOUR, random.Random(1))
    columns = {
        "service": np.array([r.service for r in rows.summaries], dtype=object),
        "metric": np.array([r.metric for r in rows.summaries], dtype=object),
        "window_start": np.array([rows.start_ms] * 2, dtype="datetime64[ms]"),
        "window_end": np.array([rows.end_ms] * 2, dtype="datetime64[ms]"),
        **{k: np.array([getattr(r, k) for r in rows.summaries], dtype=np.float64)
           for k in ("min", "max", "avg", "last")},
        "count": np.array([r.count for r in rows.summaries], dtype=np.int32),
    }  # fmt: skip
    table.add(columns)
    assert table._waiting_rows == 2  # not yet: a push interval has not passed
    now[0] += FOLD_IDLE_S
    table.add(columns)
    assert table._waiting_rows == 0
    assert sorted(table.rows(["api"])["count"].tolist()) == sorted(
        2 * r.count for r in rows.summaries
    )


def test_a_replayed_summary_that_is_not_finite_is_kept_as_sql_would_keep_it(
    tmp_path: Path,
) -> None:
    """Agents never send them (the codec refuses), but replayed cases write summaries
    straight to the store: an infinite average over no samples is stored, and its glance
    says NaN as SQL's arithmetic does, without a warning stopping the write."""
    store = ColonyStore(tmp_path)
    begin = int(HOUR.timestamp() * MS)
    rows = (MetricSummary("api", "cpu_percent", 1.0, 2.0, float("inf"), 2.0, 2.0, 0),)
    store.apply([StoreSummaries("a1", 1, SummaryWindow(begin, begin + 15 * MS, rows))])
    (glance,) = kept_glances(store)
    assert (glance.metric, glance.latest, glance.min, glance.max) == ("cpu_percent", 2.0, 1.0, 2.0)
    assert np.isnan(glance.avg)
    store.close()
