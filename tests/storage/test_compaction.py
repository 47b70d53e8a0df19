"""Closed spans of raw summaries are rewritten in series order, so a query for one series
reads its own blocks only; nothing is lost, duplicated or changed by it."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from coral_mcp.models import MetricSummary, SummaryWindow
from coral_mcp.storage.compaction import SETTLE, SPAN
from coral_mcp.storage.ops import RegisterAgent, StoreSummaries
from coral_mcp.storage.store import ColonyStore

T0 = datetime(2026, 11, 1, 9, tzinfo=UTC)  # a span boundary
SERVICES = ("api", "db", "web")
METRICS = ("cpu_percent", "rss_bytes")


def ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def windows(store: ColonyStore, first_seq: int, start: datetime, count: int) -> int:
    """`count` 15 s windows of every service's series from `start`, interleaved as
    agents push them; the next sequence number."""
    rng = random.Random(first_seq)
    seq = first_seq
    for i in range(count):
        at = start + timedelta(seconds=15 * i)
        summaries = tuple(
            MetricSummary(s, m, v - 1, v + 1, v, v, v + 0.5, 15)
            for s in SERVICES
            for m in METRICS
            for v in [rng.uniform(0, 100)]
        )
        store.apply(
            [
                StoreSummaries(
                    "a1", seq, SummaryWindow(ms(at), ms(at + timedelta(seconds=15)), summaries)
                )
            ]
        )
        seq += 1
    return seq


def stored_order(store: ColonyStore, start: datetime, end: datetime) -> list[tuple[str, str]]:
    """(service, metric) of the raw rows in [start, end) as they lie in the table."""
    cur = store.reader()
    try:
        rows = cur.execute(
            "SELECT service, metric FROM metric_summaries"
            " WHERE window_start >= ? AND window_start < ? ORDER BY rowid",
            [start.replace(tzinfo=None), end.replace(tzinfo=None)],
        ).fetchall()
    finally:
        cur.close()
    return [(str(s), str(m)) for s, m in rows]


def every_series(store: ColonyStore, start: datetime, end: datetime) -> dict[str, object]:
    return {
        f"{s}/{m}": store.metric_series(s, m, start, end, 15) for s in SERVICES for m in METRICS
    }


def fresh_store(tmp_path: Path) -> ColonyStore:
    store = ColonyStore(tmp_path)
    store.apply([RegisterAgent("a1", "h", "v", 1, "p", (), ms(T0))])
    return store


def test_closed_spans_are_rewritten_in_series_order_and_every_query_answers_the_same(
    tmp_path: Path,
) -> None:
    store = fresh_store(tmp_path)
    assert store.compact(T0) == 0  # the first run marks where compaction starts
    end = T0 + 3 * SPAN
    windows(store, 1, T0, int((end - T0).total_seconds() // 15))
    before = every_series(store, T0, end)
    assert stored_order(store, T0, T0 + SPAN) != sorted(stored_order(store, T0, T0 + SPAN))

    rewritten = store.compact(end + SETTLE)

    assert rewritten == 3 * (SPAN.total_seconds() // 15) * len(SERVICES) * len(METRICS)
    assert every_series(store, T0, end) == before
    for i in range(3):
        span = stored_order(store, T0 + i * SPAN, T0 + (i + 1) * SPAN)
        assert span == sorted(span)
    assert store.compact(end + SETTLE) == 0  # done once


def test_a_span_not_yet_settled_is_left_as_written(tmp_path: Path) -> None:
    store = fresh_store(tmp_path)
    store.compact(T0)
    windows(store, 1, T0, int(SPAN.total_seconds() // 15))

    assert store.compact(T0 + SPAN + SETTLE - timedelta(seconds=1)) == 0


def test_a_window_arriving_after_its_span_was_compacted_is_still_found(tmp_path: Path) -> None:
    store = fresh_store(tmp_path)
    store.compact(T0)
    seq = windows(store, 1, T0 + timedelta(seconds=15), 4)
    store.compact(T0 + SPAN + SETTLE)
    windows(store, seq, T0, 1)  # a backlog replayed late

    (first, *_) = store.metric_series("api", "cpu_percent", T0, T0 + SPAN, 15)
    assert first.ts == T0
    assert len(store.metric_series("db", "rss_bytes", T0, T0 + SPAN, 15)) == 5


def test_ingestion_goes_on_while_a_span_is_compacted(tmp_path: Path) -> None:
    """Compaction runs beside the writer on a cursor of its own: the writer's batches
    (newer spans) and the rewrite of an older span both commit."""
    store = fresh_store(tmp_path)
    store.compact(T0)
    seq = windows(store, 1, T0, int(SPAN.total_seconds() // 15))
    errors: list[BaseException] = []

    def write_newer() -> None:
        try:
            windows(store, seq, T0 + SPAN, 40)
        except BaseException as exc:  # reported below
            errors.append(exc)

    writer = threading.Thread(target=write_newer)
    writer.start()
    store.compact(T0 + SPAN + SETTLE)
    writer.join()

    assert not errors
    assert len(store.metric_series("web", "cpu_percent", T0, T0 + 12 * SPAN, 15)) == 8 + 40
