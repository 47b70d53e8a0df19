"""Roll-ups and retention: the two functions that keep the colony's disk bounded.

`roll_up` aggregates raw summaries into hourly rows for every closed hour not yet
rolled (and re-rolls hours that late data touched); `enforce_retention` then deletes
raw summaries past their age, but never rows not yet rolled up, and hourly rows and
events past theirs. Both run inside the caller's transaction, in the writer thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb

HOURLY = "hourly"

_ROLLED_UPTO = "SELECT upto FROM rollups WHERE name = ?"
_SET_ROLLED_UPTO = """
INSERT INTO rollups (name, upto) VALUES (?, ?)
ON CONFLICT (name) DO UPDATE SET upto = excluded.upto
"""
_OLDEST_RAW = "SELECT min(window_start) FROM metric_summaries"
# avg is weighted by sample count; p95 of an hour is the largest window p95 (an upper bound).
# Rows go in by series, so a query for one series skips the blocks of the others.
_ROLL_UP_HOURS = """
INSERT INTO metric_summaries_hourly
SELECT agent_id, service, metric, time_bucket(INTERVAL 1 HOUR, window_start) AS hour,
       min(min), max(max),
       sum(avg * count) / greatest(sum(count), 1),
       arg_max(last, window_end), max(p95), sum(count)
FROM metric_summaries
WHERE window_start >= ? AND window_start < ?
GROUP BY agent_id, service, metric, hour
ORDER BY service, metric, hour
ON CONFLICT (agent_id, service, metric, hour) DO UPDATE SET
    min = excluded.min, max = excluded.max, avg = excluded.avg, last = excluded.last,
    p95 = excluded.p95, count = excluded.count
"""
_DELETE_RAW = "DELETE FROM metric_summaries WHERE window_start < ?"
_DELETE_HOURLY = "DELETE FROM metric_summaries_hourly WHERE hour < ?"
_DELETE_EVENTS = "DELETE FROM events WHERE ts < ?"
_DELETE_PEERS = "DELETE FROM peer_connections WHERE last_seen < ?"
_DELETE_ENDPOINTS = "DELETE FROM service_endpoints WHERE last_seen < ?"
_DELETE_EDGES = "DELETE FROM edges WHERE last_seen < ?"


@dataclass(frozen=True, slots=True)
class Retention:
    """How long each kind of data is kept."""

    raw_days: float = 7.0
    hourly_days: float = 90.0
    events_days: float = 180.0


@dataclass(frozen=True, slots=True)
class MaintenanceResult:
    rolled_upto: datetime | None
    raw_deleted: int
    hourly_deleted: int
    events_deleted: int


def hour_floor(value: datetime) -> datetime:
    return value.replace(minute=0, second=0, microsecond=0)


def rolled_upto(cur: duckdb.DuckDBPyConnection) -> datetime | None:
    row = cur.execute(_ROLLED_UPTO, [HOURLY]).fetchone()
    return None if row is None else row[0]


def roll_up(
    cur: duckdb.DuckDBPyConnection, now: datetime, dirty_since: datetime | None = None
) -> datetime | None:
    """Roll up every closed hour (before hour_floor(now)); return the new high-water mark.

    Hours from `dirty_since` (the oldest window written since the last run) are rolled
    again, so late data reaches the hourly table too. `now` is naive UTC.
    """
    upto = hour_floor(now)
    start = rolled_upto(cur)
    if start is None:
        oldest = cur.execute(_OLDEST_RAW).fetchone()
        if oldest is None or oldest[0] is None:
            return None
        start = hour_floor(oldest[0])
    if dirty_since is not None:
        start = min(start, hour_floor(dirty_since))
    if start < upto:
        cur.execute(_ROLL_UP_HOURS, [start, upto])
    high_water = max(upto, rolled_upto(cur) or upto)
    cur.execute(_SET_ROLLED_UPTO, [HOURLY, high_water])
    return high_water


def enforce_retention(
    cur: duckdb.DuckDBPyConnection, now: datetime, retention: Retention
) -> MaintenanceResult:
    """Delete what is past its age; raw rows only once rolled up. `now` is naive UTC."""
    rolled = rolled_upto(cur)
    raw_cutoff = now - timedelta(days=retention.raw_days)
    # Nothing rolled up yet: keep every raw row.
    raw_cutoff = min(raw_cutoff, rolled) if rolled is not None else datetime.min
    raw = _count(cur.execute(_DELETE_RAW, [raw_cutoff]))
    hourly = _count(cur.execute(_DELETE_HOURLY, [now - timedelta(days=retention.hourly_days)]))
    events = _count(cur.execute(_DELETE_EVENTS, [now - timedelta(days=retention.events_days)]))
    socket_cutoff = now - timedelta(days=retention.raw_days)
    for statement in (_DELETE_PEERS, _DELETE_ENDPOINTS, _DELETE_EDGES):
        cur.execute(statement, [socket_cutoff])
    return MaintenanceResult(rolled, raw, hourly, events)


def _count(cur: duckdb.DuckDBPyConnection) -> int:
    row = cur.fetchone()
    return int(row[0]) if row else 0
