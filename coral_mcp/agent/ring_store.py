"""The agent's raw-sample ring store: SQLite in WAL mode, bounded by age and by bytes.

Raw samples of the last hour (by default) stay on the host, so the colony can ask for
detail, and survive an agent restart. `evict()` removes the oldest samples first until
both bounds hold; SQLite reuses the freed pages, so the file stops growing once the
bound is reached.

The same file is the agent's durable backlog: every message for the colony is kept
(`keep`) with its sequence number until the colony acknowledges it (`forget`), and a
restarted agent sends what it finds there again (`load`) and numbers new messages above
every sequence number it kept (`last_seq`), so none is given twice. With `last_push_end_s` the
next push starts where the last one ended, across restarts: no window is skipped.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path

from coral_mcp.errors import StorageError
from coral_mcp.models import Event, Sample, Severity

_SCHEMA = """
CREATE TABLE IF NOT EXISTS samples (
    ts_s REAL NOT NULL,
    service TEXT NOT NULL,
    metric TEXT NOT NULL,
    value REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS samples_ts ON samples (ts_s);
CREATE TABLE IF NOT EXISTS events (
    ts_ms INTEGER NOT NULL,
    service TEXT NOT NULL,
    kind TEXT NOT NULL,
    severity TEXT NOT NULL,
    message TEXT NOT NULL,
    attributes TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_ts ON events (ts_ms);
CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY, message BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS progress (key TEXT PRIMARY KEY, value REAL NOT NULL);
"""
_KEEP = "INSERT OR REPLACE INTO outbox (seq, message) VALUES (?, ?)"
_FORGET = "DELETE FROM outbox WHERE seq <= ?"
_LOAD = "SELECT seq, message FROM outbox ORDER BY seq"
_FORGOTTEN = (
    "INSERT INTO progress (key, value) VALUES ('forgotten_seq', ?)"
    " ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)"
)
_LAST_SEQ = (
    "SELECT max(coalesce((SELECT max(seq) FROM outbox), 0),"
    " coalesce((SELECT value FROM progress WHERE key = 'forgotten_seq'), 0))"
)
_SET_PROGRESS = "INSERT OR REPLACE INTO progress (key, value) VALUES (?, ?)"
_GET_PROGRESS = "SELECT value FROM progress WHERE key = ?"
_INSERT_EVENT = (
    "INSERT INTO events (ts_ms, service, kind, severity, message, attributes)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)
_SELECT_EVENTS = (
    "SELECT ts_ms, service, kind, severity, message, attributes FROM events"
    " WHERE ts_ms >= ? AND ts_ms < ? ORDER BY ts_ms DESC, rowid DESC LIMIT ?"
)
_DELETE_OLDER_EVENTS = "DELETE FROM events WHERE ts_ms < ?"
_DELETE_EXCESS_EVENTS = (
    "DELETE FROM events WHERE rowid NOT IN (SELECT rowid FROM events ORDER BY ts_ms DESC LIMIT ?)"
)
MAX_EVENTS = 10_000
_INSERT = "INSERT INTO samples (ts_s, service, metric, value) VALUES (?, ?, ?, ?)"
_SELECT_RANGE = (
    "SELECT ts_s, service, metric, value FROM samples"
    " WHERE ts_s >= ? AND ts_s < ? ORDER BY ts_s, rowid"
)
_DELETE_OLDER = "DELETE FROM samples WHERE ts_s < ?"
_DELETE_OLDEST = (
    "DELETE FROM samples WHERE rowid IN (SELECT rowid FROM samples ORDER BY ts_s LIMIT ?)"
)
_COUNT = "SELECT count(*) FROM samples"
_OLDEST = "SELECT min(ts_s) FROM samples"


class RingStore:
    """Raw samples on disk, oldest evicted first."""

    def __init__(self, path: Path, max_age_s: float, max_bytes: int) -> None:
        self.path = path
        self.max_age_s = max_age_s
        self.max_bytes = max_bytes
        try:
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            path.chmod(0o600)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            # After each checkpoint the WAL file is cut back to this size.
            self._db.execute("PRAGMA journal_size_limit=4194304")
            # A small page cache: appends are sequential, reads are rare (detail queries).
            self._db.execute("PRAGMA cache_size=-512")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StorageError(
                f"cannot open the agent's ring store {path}: {exc}",
                hint="check that the data directory is writable and the disk is not full",
            ) from exc
        self._page_size = int(self._db.execute("PRAGMA page_size").fetchone()[0])
        # The sampler and detail queries run in different worker threads.
        self._lock = threading.Lock()

    def append(self, samples: Iterable[Sample]) -> None:
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.executemany(_INSERT, samples)

    def append_events(self, events: Iterable[Event]) -> None:
        rows = [
            (e.ts_ms, e.service, e.kind, e.severity.value, e.message, json.dumps(e.attributes))
            for e in events
        ]
        if rows:
            with self._lock, self._db:
                self._db.execute("BEGIN")
                self._db.executemany(_INSERT_EVENT, rows)

    def read_events(self, start_ms: int, end_ms: int, limit: int) -> list[Event]:
        """Events with start_ms <= ts_ms < end_ms, newest first, at most `limit`."""
        with self._lock:
            rows = self._db.execute(_SELECT_EVENTS, (start_ms, end_ms, limit)).fetchall()
        return [
            Event(ts, service, kind, Severity(severity), message, _attrs(attributes))
            for ts, service, kind, severity, message, attributes in rows
        ]

    def read(self, start_s: float, end_s: float) -> list[Sample]:
        """Samples with start_s <= ts_s < end_s, oldest first."""
        with self._lock:
            return [Sample(*row) for row in self._db.execute(_SELECT_RANGE, (start_s, end_s))]

    def used_bytes(self) -> int:
        """Bytes of pages holding live data (the file may keep free pages for reuse)."""
        pages = int(self._db.execute("PRAGMA page_count").fetchone()[0])
        free = int(self._db.execute("PRAGMA freelist_count").fetchone()[0])
        return (pages - free) * self._page_size

    def count(self) -> int:
        return int(self._db.execute(_COUNT).fetchone()[0])

    def oldest_s(self) -> float | None:
        value = self._db.execute(_OLDEST).fetchone()[0]
        return None if value is None else float(value)

    def evict(self, now_s: float) -> int:
        """Drop samples older than max_age_s, then the oldest until under max_bytes.

        Returns how many samples were dropped.
        """
        with self._lock:
            return self._evict(now_s)

    def _evict(self, now_s: float) -> int:
        self._db.execute(_DELETE_OLDER_EVENTS, (int((now_s - self.max_age_s) * 1000),))
        self._db.execute(_DELETE_EXCESS_EVENTS, (MAX_EVENTS,))
        dropped = self._db.execute(_DELETE_OLDER, (now_s - self.max_age_s,)).rowcount
        while self.used_bytes() > self.max_bytes:
            total = self.count()
            if total == 0:
                break
            # Drop a tenth at a time (at least one) so eviction stays a few statements.
            batch = max(1, total // 10)
            dropped += self._db.execute(_DELETE_OLDEST, (batch,)).rowcount
        return int(dropped)

    # -- the durable backlog -------------------------------------------------------

    def keep(self, messages: Iterable[tuple[int, bytes]]) -> None:
        """Keep encoded messages, by sequence number, until `forget` (one transaction)."""
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.executemany(_KEEP, messages)

    def forget(self, upto_seq: int) -> None:
        """Drop kept messages up to and including `upto_seq` (acknowledged, or dropped),
        remembering that sequence numbers up to it were used."""
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.execute(_FORGET, (upto_seq,))
            self._db.execute(_FORGOTTEN, (upto_seq,))

    @property
    def last_seq(self) -> int:
        """The highest sequence number ever kept here (0: none): the next message's
        must be above it, after a restart too."""
        with self._lock:
            return int(self._db.execute(_LAST_SEQ).fetchone()[0])

    def load(self) -> list[tuple[int, bytes]]:
        """Every kept message, oldest first."""
        with self._lock:
            return [(int(seq), bytes(blob)) for seq, blob in self._db.execute(_LOAD)]

    @property
    def last_push_end_s(self) -> float | None:
        with self._lock:
            row = self._db.execute(_GET_PROGRESS, ("last_push_end_s",)).fetchone()
        return None if row is None else float(row[0])

    @last_push_end_s.setter
    def last_push_end_s(self, value: float) -> None:
        with self._lock, self._db:
            self._db.execute(_SET_PROGRESS, ("last_push_end_s", value))

    def close(self) -> None:
        self._db.close()


def _attrs(text: str) -> tuple[tuple[str, str], ...]:
    return tuple((str(k), str(v)) for k, v in json.loads(text))
