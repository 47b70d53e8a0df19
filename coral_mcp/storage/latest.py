"""series_latest, kept up to date off the write path.

series_latest holds each series' newest value and its current and previous hour, so a
glance at "now" reads one row per series instead of scanning raw rows. Folding every
committed batch into it inside the batch's own transaction cost ~20 ms of DuckDB CPU per
batch, four times the rest of the write (benchmarks/RESULTS.md, issue 10). So the
summaries a batch committed wait here (their raw rows are the durable copy) and are
folded in now and then by the writer (FOLD_EVERY_S, FOLD_ROWS) and at close. A read of
series_latest sees them all the same: it folds what waits for its services into a copy
of their rows of its own (`fold_into_copy`), writing nothing. Reads used to fold into
the table itself, holding the fold's lock: under 1,000 agents that was most of what
list_services, get_service and list_metrics waited for, and the writer waited for them.

A fold is DuckDB's upsert, which scans the whole table whatever the batch size: at 300
agents (60,000 series) ~20 ms CPU for a few hundred rows, ~40 ms for a second's 4,000,
~165 ms for all 60,000. So the writer folds every second only while series_latest is
being read (a read's copy then folds in at most a second of rows); with no reader about, it folds
after a push interval (FOLD_IDLE_S) or FOLD_ROWS, once per series instead of fifteen
times (benchmarks/RESULTS.md, issue 10). Those folds run in a thread of their own
(`ColonyStore`), so agents' commits do not wait for them.

A colony stopped without close (killed, power lost) may have had summaries waiting: the
table is marked "folding" while the store is open and "folded" by a clean close, and a
store opened on a "folding" mark refolds the last day of raw rows first.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import NamedTuple

import duckdb
import numpy as np

from coral_mcp.storage import queries as q
from coral_mcp.storage.transaction import execute_with_columns, transaction

logger = logging.getLogger(__name__)

#: While agents write and series_latest was read in the last READ_RECENTLY_S, waiting
#: summaries are folded into it this often; with no recent read, every FOLD_IDLE_S (an
#: agent's push interval: each series once per fold); either way once FOLD_ROWS wait. A
#: read folds what waits for its services into its own copy, so these bound the rows a
#: read filters (not how fresh it is), the memory held and the work after an unclean
#: stop. READ_RECENTLY_S spans two refreshes of the dashboard (every 15 s).
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
        #: One fold at a time. Re-entrant: maintenance holds it across a fold and its
        #: own transaction that writes the table.
        self._folds = threading.RLock()
        #: Guards the batches and a fold's COMMIT, never a fold's SQL: a read copying
        #: rows waits at most for a COMMIT (fold_into_copy).
        self._lock = threading.Lock()
        self._waiting: list[_Batch] = []
        self._folding: list[_Batch] = []  # the batches a fold writes
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
        batch = _Batch(columns, frozenset(columns["service"].tolist()))
        with self._lock:
            self._waiting.append(batch)
            self._rows += len(columns["service"])
            if self._rows > MAX_WAITING_ROWS:
                logger.error("series_latest could not be folded for long: refolded at restart")
                self._waiting, self._rows, self._dropped = [], 0, True

    def waiting_for(self, services: Collection[str] | None) -> bool:
        """Whether summaries of `services` (None: any) wait to be folded in. Without
        the lock: a batch added meanwhile is one a read may miss, as if made earlier."""
        batches = self._folding + self._waiting
        if services is None:
            return bool(batches)
        wanted = frozenset(services)
        return any(not batch.services.isdisjoint(wanted) for batch in batches)

    def reading(self) -> None:
        """series_latest is about to be read: the writer folds promptly for a while."""
        self._read_s = self._clock()

    def due(self) -> bool:
        if not self._waiting:
            return False
        now = self._clock()
        every = FOLD_EVERY_S if now - self._read_s <= READ_RECENTLY_S else FOLD_IDLE_S
        return self._rows >= FOLD_ROWS or now - self._folded_s >= every

    def waiting_metrics(self, service: str) -> set[str]:
        """The metrics of `service` among the summaries waiting to be folded in (without
        the lock, as `waiting_for`: names only ever join)."""
        metrics: set[str] = set()
        for batch in self._folding + self._waiting:
            if service in batch.services:
                columns = batch.columns
                metrics.update(columns["metric"][columns["service"] == service].tolist())
        return metrics

    @contextmanager
    def held(self) -> Iterator[None]:
        """No fold runs meanwhile (for a transaction of its own that writes the table)."""
        with self._folds:
            yield

    def fold(self, cur: duckdb.DuckDBPyConnection) -> None:
        """Fold every waiting batch into series_latest in one transaction on `cur` (any
        thread's cursor: only one fold runs at a time). Raises duckdb.Error; what
        waited then waits on."""
        with self._folds:
            with self._lock:
                if not self._waiting:
                    return
                self._folding, self._waiting, self._rows = self._waiting, [], 0
            try:
                cur.execute("BEGIN TRANSACTION")
                merged = _merged(self._folding)
                execute_with_columns(cur, (q.BATCH_HOURS, q.UPSERT_SERIES_LATEST), merged)
                with self._lock:  # committed and gone from the batches as one step
                    cur.execute("COMMIT")
                    self._folding = []
                self._folded_s = self._clock()
            except BaseException:
                with contextlib.suppress(duckdb.TransactionException):
                    cur.execute("ROLLBACK")  # refused when the COMMIT itself failed
                with self._lock:
                    self._waiting = self._folding + self._waiting
                    self._rows += sum(len(batch.columns["service"]) for batch in self._folding)
                    self._folding = []
                raise

    def fold_into_copy(
        self,
        cur: duckdb.DuckDBPyConnection,
        copy: Callable[[], object],
        services: Collection[str] | None,
    ) -> None:
        """For a read on `cur`: `copy()` copies the stored rows of `services` (None:
        every one) into a table of `cur`'s own named series_latest (it shadows the
        stored one on that cursor), with no fold committing meanwhile, so rows and
        waiting batches are one state; what waits for those services is then folded
        into the copy. Nothing is written to the database: what waits waits on for
        the writer's fold, and a read never does the writer's work. Raises duckdb.Error."""
        with self._lock:
            batches = self._folding + self._waiting
            copy()
        if services is not None:
            wanted = frozenset(services)
            batches = [b for b in batches if not b.services.isdisjoint(wanted)]
            batches = [_of_services(b, wanted) for b in batches]
        if batches:
            execute_with_columns(cur, (q.BATCH_HOURS, q.UPSERT_SERIES_LATEST), _merged(batches))


class _Batch(NamedTuple):
    """Summaries committed together (columns as inserted) and the services among them
    (a read passes over batches of other services without looking at their rows)."""

    columns: Mapping[str, np.ndarray]
    services: frozenset[str]


def _merged(batches: Sequence[_Batch]) -> dict[str, np.ndarray]:
    """Batches as one set of columns."""
    return {k: np.concatenate([b.columns[k] for b in batches]) for k in batches[0].columns}


def _of_services(batch: _Batch, services: frozenset[str]) -> _Batch:
    """The rows of `batch` of those services."""
    if batch.services <= services:
        return batch
    names = batch.columns["service"]
    keep = np.fromiter((name in services for name in names), dtype=bool, count=len(names))
    return _Batch(
        {k: column[keep] for k, column in batch.columns.items()}, batch.services & services
    )
