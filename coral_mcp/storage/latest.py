"""series_latest, kept up to date off the write path.

series_latest holds each series' newest value and its current and previous hour, so a
glance at "now" reads one row per series instead of scanning raw rows. Folding every
committed batch into it inside the batch's own transaction cost ~20 ms of DuckDB CPU per
batch, four times the rest of the write (benchmarks/RESULTS.md, issue 10). So the
summaries a batch committed wait here (their raw rows are the durable copy) and are
folded in now and then while agents write (FOLD_EVERY_S, FOLD_ROWS), before any read of
series_latest, and at close.

A fold is DuckDB's upsert, which scans the whole table whatever the batch size: at 300
agents (60,000 series) ~20 ms CPU for a few hundred rows, ~40 ms for a second's 4,000,
~165 ms for all 60,000. So the writer folds every second only while series_latest is
being read (a read then folds at most a second of rows); with no reader about, it folds
after a push interval (FOLD_IDLE_S) or FOLD_ROWS, once per series instead of fifteen
times (benchmarks/RESULTS.md, issue 10). Those folds run in a thread of their own
(`ColonyStore`), so agents' commits do not wait for them.

A colony stopped without close (killed, power lost) may have had summaries waiting: the
table is marked "folding" while the store is open and "folded" by a clean close, and a
store opened on a "folding" mark refolds the last day of raw rows first.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

import duckdb
import numpy as np

from coral_mcp.storage import queries as q
from coral_mcp.storage.transaction import execute_with_columns, transaction

logger = logging.getLogger(__name__)

#: While agents write and series_latest was read in the last READ_RECENTLY_S, waiting
#: summaries are folded into it this often; with no recent read, every FOLD_IDLE_S (an
#: agent's push interval: each series once per fold); either way once FOLD_ROWS wait. A
#: read folds what waits first, so these bound what a read may have to fold (the first
#: read after a quiet spell: up to FOLD_ROWS), the memory held and the work after an
#: unclean stop; not how fresh a read is. READ_RECENTLY_S spans two refreshes of the
#: dashboard (every 15 s).
FOLD_EVERY_S = 1.0
FOLD_IDLE_S = 15.0
READ_RECENTLY_S = 30.0
FOLD_ROWS = 50_000
#: Rows waiting beyond this (folds failing for long) are dropped; the table is then
#: refolded from the raw rows at the next open.
MAX_WAITING_ROWS = 2_000_000

_MARK = "SELECT value FROM store_state WHERE name = 'series_latest'"
_SET_MARK = """
INSERT INTO store_state (name, value) VALUES ('series_latest', ?)
ON CONFLICT (name) DO UPDATE SET value = excluded.value
"""
FOLDING, FOLDED = "folding", "folded"


class LatestFolder:
    """Summaries committed but not yet in series_latest, and their folding."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        #: Guards what waits; held only briefly (the writer adds while a fold runs).
        self._lock = threading.Lock()
        #: One fold at a time, and none while maintenance writes the table.
        self._folding = threading.Lock()
        self._waiting: list[Mapping[str, np.ndarray]] = []
        self._rows = 0
        self._folded_s = self._clock()
        self._read_s = -FOLD_IDLE_S - READ_RECENTLY_S  # when series_latest was last read
        self._dropped = False

    def open(self, cur: duckdb.DuckDBPyConnection) -> None:
        """Refold after an unclean stop, then mark the table as being folded."""
        row = cur.execute(_MARK).fetchone()
        with transaction(cur):
            if row is not None and row[0] == FOLDING:
                logger.warning("the colony was not stopped cleanly: rebuilding series_latest")
                cur.execute(q.REFOLD_SERIES_LATEST)
            cur.execute(_SET_MARK, [FOLDING])

    def close(self, cur: duckdb.DuckDBPyConnection) -> None:
        """Fold what waits and mark the table complete (unless rows were dropped)."""
        self.fold(cur)
        if not self._dropped:
            cur.execute(_SET_MARK, [FOLDED])

    def add(self, columns: Mapping[str, np.ndarray]) -> None:
        """Summaries just committed (the columns of the raw rows' insert)."""
        with self._lock:
            self._waiting.append(columns)
            self._rows += len(columns["service"])
            if self._rows > MAX_WAITING_ROWS:
                logger.error("series_latest could not be folded for long: refolded at restart")
                self._waiting, self._rows, self._dropped = [], 0, True

    def reading(self) -> None:
        """series_latest is about to be read: the writer folds promptly for a while."""
        self._read_s = self._clock()

    def due(self) -> bool:
        if not self._waiting:
            return False
        now = self._clock()
        every = FOLD_EVERY_S if now - self._read_s <= READ_RECENTLY_S else FOLD_IDLE_S
        return self._rows >= FOLD_ROWS or now - self._folded_s >= every

    @contextmanager
    def held(self) -> Iterator[None]:
        """No fold runs meanwhile (for a transaction of its own that writes the table)."""
        with self._folding:
            yield

    def fold(self, cur: duckdb.DuckDBPyConnection) -> None:
        """Fold every batch waiting into series_latest in one transaction on `cur` (any
        thread's cursor). A fold already running elsewhere is waited for first, so on
        return every batch added before the call is in the table. Raises duckdb.Error;
        what was taken then waits again."""
        with self._folding:
            with self._lock:
                taken, self._waiting, self._rows = self._waiting, [], 0
                self._folded_s = self._clock()
            if not taken:
                return
            merged = {k: np.concatenate([c[k] for c in taken]) for k in taken[0]}
            try:
                with transaction(cur):
                    execute_with_columns(cur, (q.BATCH_HOURS, q.UPSERT_SERIES_LATEST), merged)
            except BaseException:
                with self._lock:
                    self._waiting[:0] = taken
                    self._rows += len(merged["service"])
                raise
