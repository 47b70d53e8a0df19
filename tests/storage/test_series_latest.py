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

import duckdb
import numpy as np
import pytest

from coral_mcp.models import MetricGlance, MetricSummary, SummaryWindow
from coral_mcp.storage import latest
from coral_mcp.storage.latest import FOLD_IDLE_S, LatestFolder
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


def test_glances_read_while_folds_run_beside_the_writer_equal_the_raw_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(latest, "FOLD_ROWS", 3)  # a fold in the fold thread every other push
    store = ColonyStore(tmp_path)
    newest = datetime.min.replace(tzinfo=UTC)
    for i, op in enumerate(pushes(random.Random(23))):
        store.apply([op])
        if isinstance(op, StoreSummaries):
            newest = max(newest, datetime.fromtimestamp(op.window.start_ms / MS, UTC))
        if i % 4 == 3:  # a read now and then, racing the fold thread
            previous_hour = newest.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
            assert approx(kept(store), raw_glance(store, previous_hour)), i
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


def test_a_fold_committing_while_a_read_copies_its_rows_is_not_counted_twice(
    tmp_path: Path,
) -> None:
    """The writer folds once a second while reads copy rows: a read's copy and the
    summaries it folds in are one state, whenever the writer's fold lands."""
    store = ColonyStore(tmp_path)
    for op in pushes(random.Random(24)):
        store.apply([op])
    counted = """
        SELECT metric, sum(count) FROM metric_summaries
        WHERE service = 'api' AND window_start >= ? GROUP BY metric ORDER BY metric
    """
    cur = store.reader()
    expected = cur.execute(counted, [HOUR.replace(tzinfo=None) - timedelta(hours=1)]).fetchall()
    folder = store._latest

    def fold_then_copy() -> None:
        # The writer's fold tries to land between the read's look at what waits and
        # its copy of the stored rows; it may only land before or after both.
        writer_cur = store.reader()
        fold = threading.Thread(target=folder.fold, args=(writer_cur,))
        fold.start()
        fold.join(timeout=0.5)
        cur.execute(store._latest_copy.create)
        cur.execute(store._latest_copy.fill, {"names": ["api"]})
        writers.append((fold, writer_cur))

    writers: list[tuple[threading.Thread, duckdb.DuckDBPyConnection]] = []
    try:
        folder.fold_into_copy(cur, fold_then_copy, ["api"])
        counts = cur.execute(
            "SELECT metric, count + prev_count FROM series_latest ORDER BY metric"
        ).fetchall()
    finally:
        cur.close()
        for fold, writer_cur in writers:
            fold.join()
            writer_cur.close()
    assert counts == expected
    assert not folder.waiting_for(None)  # the writer's fold did land, after the copy
    store.close()


def test_a_fold_that_fails_leaves_every_summary_waiting_for_the_next(tmp_path: Path) -> None:
    store = ColonyStore(tmp_path)
    for op in pushes(random.Random(25)):
        store.apply([op])
    cur = store.reader()
    try:
        cur.execute("ALTER TABLE series_latest RENAME TO away")
        with pytest.raises(duckdb.Error):
            store._latest.fold(cur)
        cur.execute("ALTER TABLE away RENAME TO series_latest")
        store._latest.fold(cur)
    finally:
        cur.close()
    assert not store._latest.waiting_for(None)
    assert approx(kept(store), raw_glance(store, HOUR - timedelta(hours=1)))
    store.close()


def test_metric_names_include_summaries_not_yet_folded_in(tmp_path: Path) -> None:
    store = ColonyStore(tmp_path)
    store.apply(pushes(random.Random(26))[:3])
    assert store._latest.waiting_for(None)
    assert store.metric_names("api") == ["cpu_percent", "rss_bytes"]
    assert store.metric_names("web") == []
    store.close()


def test_the_writer_folds_every_second_while_read_and_once_a_push_interval_otherwise() -> None:
    now = [1000.0]
    unread, read = LatestFolder(clock=lambda: now[0]), LatestFolder(clock=lambda: now[0])
    for folder in (unread, read):
        folder.add({"service": np.array(["api"], dtype=object)})
    read.reading()
    now[0] += 2.0
    assert read.due()
    assert not unread.due()  # nobody reads it: waits for the push interval
    now[0] += FOLD_IDLE_S
    assert unread.due()
