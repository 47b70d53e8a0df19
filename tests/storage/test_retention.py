"""Roll-ups and retention keep history readable and the disk bounded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from coral_mcp.models import Event, EventBatch, MetricSummary, Severity, SummaryWindow
from coral_mcp.storage.ops import RegisterAgent, StoreEvents, StoreSummaries
from coral_mcp.storage.retention import Retention
from coral_mcp.storage.store import ColonyStore

T0 = datetime(2026, 11, 1, tzinfo=UTC)  # an hour boundary


def ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def window(at: datetime, value: float, count: int = 3, length_s: int = 15) -> SummaryWindow:
    return SummaryWindow(
        ms(at),
        ms(at + timedelta(seconds=length_s)),
        (MetricSummary("api", "rss", value - 1, value + 1, value, value, value + 0.5, count),),
    )


@pytest.fixture
def store(tmp_path: Path) -> ColonyStore:
    s = ColonyStore(tmp_path)
    s.apply([RegisterAgent("a1", "h", "v", 1, "p", (), ms(T0))])
    return s


def write(store: ColonyStore, seq: int, at: datetime, value: float, count: int = 3) -> None:
    store.apply([StoreSummaries("a1", seq, window(at, value, count))])


def hourly_rows(store: ColonyStore) -> list[tuple[object, ...]]:
    cur = store.reader()
    try:
        return cur.execute(
            "SELECT hour, min, max, avg, last, p95, count FROM metric_summaries_hourly"
            " ORDER BY hour"
        ).fetchall()
    finally:
        cur.close()


def raw_count(store: ColonyStore) -> int:
    cur = store.reader()
    try:
        row = cur.execute("SELECT count(*) FROM metric_summaries").fetchone()
    finally:
        cur.close()
    assert row is not None
    return int(row[0])


def test_roll_up_aggregates_closed_hours_only(store: ColonyStore) -> None:
    write(store, 1, T0 + timedelta(minutes=10), 10.0, count=1)
    write(store, 2, T0 + timedelta(minutes=50), 20.0, count=3)
    write(store, 3, T0 + timedelta(hours=1, minutes=5), 40.0)
    write(store, 4, T0 + timedelta(hours=2, minutes=1), 99.0)  # the open hour
    store.maintain(T0 + timedelta(hours=2, minutes=30), Retention())
    rows = hourly_rows(store)
    assert [r[0] for r in rows] == [
        T0.replace(tzinfo=None),
        (T0 + timedelta(hours=1)).replace(tzinfo=None),
    ]
    _, mn, mx, avg, last, p95, count = rows[0]
    assert (mn, mx, last, p95, count) == (9.0, 21.0, 20.0, 20.5, 4)
    assert avg == pytest.approx((10.0 * 1 + 20.0 * 3) / 4)  # weighted by sample count


def test_late_data_in_a_rolled_hour_is_rolled_again(store: ColonyStore) -> None:
    write(store, 1, T0 + timedelta(minutes=10), 10.0)
    store.maintain(T0 + timedelta(hours=1, minutes=1), Retention())
    assert hourly_rows(store)[0][2] == 11.0
    write(store, 2, T0 + timedelta(minutes=20), 50.0)  # replayed after an outage
    store.maintain(T0 + timedelta(hours=1, minutes=11), Retention())
    assert hourly_rows(store)[0][2] == 51.0


def test_retention_deletes_old_raw_rows_once_rolled_and_keeps_the_series(
    store: ColonyStore,
) -> None:
    for hour in range(48):
        write(store, hour + 1, T0 + timedelta(hours=hour, minutes=5), float(hour))
    now = T0 + timedelta(hours=48, minutes=5)
    store.maintain(now, Retention(raw_days=10))  # roll up only
    before = store.metric_series("api", "rss", T0, now, 3600)
    result = store.maintain(now, Retention(raw_days=1))
    assert result.raw_deleted == 24 and raw_count(store) == 24
    after = store.metric_series("api", "rss", T0, now, 3600)
    assert after == before  # long ranges read the hourly table: nothing visible is lost
    assert [p.avg for p in after] == [float(h) for h in range(48)]


def test_raw_rows_not_yet_rolled_up_are_never_deleted(store: ColonyStore) -> None:
    write(store, 1, T0, 1.0)
    # Nothing has been rolled up: even far past its age the raw row stays.
    result = store.maintain(T0 + timedelta(minutes=30), Retention(raw_days=0.0001))
    assert result.raw_deleted == 0 and raw_count(store) == 1


def test_hourly_rows_and_events_expire_on_their_own_schedules(store: ColonyStore) -> None:
    write(store, 1, T0, 1.0)
    event = Event(ms(T0), "api", "crash", Severity.CRITICAL, "exit 3")
    store.apply([StoreEvents("a1", 2, EventBatch((event,)), ms(T0))])
    retention = Retention(raw_days=1, hourly_days=10, events_days=20)
    store.maintain(T0 + timedelta(days=5), retention)
    assert len(hourly_rows(store)) == 1
    assert raw_count(store) == 0
    assert store.maintain(T0 + timedelta(days=11), retention).hourly_deleted == 1
    assert len(store.events(T0 - timedelta(days=1), T0 + timedelta(days=1))) == 1
    assert store.maintain(T0 + timedelta(days=21), retention).events_deleted == 1
    assert store.events(T0 - timedelta(days=1), T0 + timedelta(days=1)) == []
