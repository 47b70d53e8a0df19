"""series_latest: each series' newest value and its current and previous hour, in memory.

A glance at "now" (list_services, get_service, list_metrics) reads one row per series
from here instead of scanning raw rows. The table lives in the colony's memory as NumPy
columns, one slot per (service, metric), and is written to the DuckDB file only as a
snapshot (by maintenance and at close), so ingestion never updates it on disk.

It used to be a DuckDB table with a primary key, folded in by an upsert: DuckDB runs
that as a MERGE whose hash join reads the whole table whatever the batch size (~165 ms
CPU per fold of 300 agents' 60,000 series), and every fold updated 60,000 rows through
the write-ahead log and the next checkpoint; the colony spent ~1.4x the CPU of the
store without the table at the same load, and its file grew three-fold
(benchmarks/RESULTS.md, issue 10). Here a fold is a few NumPy operations over the rows
that waited and the slots they touch (~22 ms CPU for 60,000 rows, ~1 ms for 4,000), and
finding a summary's slot is a dict lookup when it is added (~0.2 ms per window of 200).

The summaries a batch committed wait as numbers (their slots resolved when added) and
are folded in after a push interval (FOLD_IDLE_S) or FOLD_ROWS, and before any read,
so a read always sees every committed summary. The raw rows are the durable copy: the
file's series_latest is marked "folding" while a store is open and "folded" by a clean
close after its last snapshot; a store opened on a "folding" mark refolds the last day
of raw rows over the snapshot (series silent for longer keep the snapshot's row).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any

import duckdb
import numpy as np

from coral_mcp.storage import queries as q
from coral_mcp.storage.transaction import execute_with_columns, transaction

logger = logging.getLogger(__name__)

#: Waiting summaries are folded in once the oldest waited this long (an agent's push
#: interval: each series about once per fold) or once FOLD_ROWS wait; a read folds
#: what waits first. These bound the memory held, not how fresh a read is.
FOLD_IDLE_S = 15.0
FOLD_ROWS = 100_000

HOUR_MS = 3_600_000
#: window_end and hour of a slot made for a waiting summary, not yet folded in.
_NEVER = np.iinfo(np.int64).min

_MARK = "SELECT value FROM store_state WHERE name = 'series_latest'"
_SET_MARK = """
INSERT INTO store_state (name, value) VALUES ('series_latest', ?)
ON CONFLICT (name) DO UPDATE SET value = excluded.value
"""
FOLDING, FOLDED = "folding", "folded"

#: The stored columns of a slot beside its service and metric (times: epoch ms; a
#: missing previous hour's extremes: +inf and -inf, NULL in the file and in SQL).
_NUMBERS: dict[str, Any] = {
    "last": np.float64,
    "window_end": np.int64,
    "hour": np.int64,
    "weighted": np.float64,
    "count": np.int64,
    "min": np.float64,
    "max": np.float64,
    "prev_weighted": np.float64,
    "prev_count": np.int64,
    "prev_min": np.float64,
    "prev_max": np.float64,
}
_EMPTY: dict[str, float | int] = {"window_end": _NEVER, "hour": _NEVER}
_EMPTY |= {"prev_min": np.inf, "prev_max": -np.inf}
#: A waiting summary, as held until folded in.
_WAITING = ("slot", "hour", "window_end", "last", "weighted", "count", "min", "max")


class LatestSeries:
    """The table in memory, the summaries waiting to be folded into it, and its snapshot
    in the file. Thread-safe: the writer adds, readers read, one lock between them."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._slots: dict[tuple[str, str], int] = {}
        self._of_service: dict[str, list[int]] = {}
        self._size = 0
        self._service = np.empty(0, dtype=object)
        self._metric = np.empty(0, dtype=object)
        self._columns = {name: np.empty(0, dtype=kind) for name, kind in _NUMBERS.items()}
        self._waiting: list[dict[str, np.ndarray]] = []
        self._waiting_rows = 0
        self._folded_s = clock()

    # -- the file -----------------------------------------------------------------------

    def open(self, cur: duckdb.DuckDBPyConnection) -> None:
        """Load the snapshot (and refold the last day of raw rows over it after an
        unclean stop), then mark the file's table as behind the memory's."""
        row = cur.execute(_MARK).fetchone()
        self._replace(cur.execute(q.LOAD_SERIES_LATEST).fetchnumpy())
        if row is not None and row[0] == FOLDING:
            logger.warning("the colony was not stopped cleanly: refolding series_latest")
            self._replace(cur.execute(q.REFOLDED_SERIES_LATEST).fetchnumpy())
        cur.execute(_SET_MARK, [FOLDING])

    def save(self, cur: duckdb.DuckDBPyConnection, mark: str = FOLDING) -> None:
        """Write the table as it stands (every committed summary folded in) to the file,
        replacing the last snapshot, with `mark`. Call from the writer thread (no batch
        added meanwhile). Raises duckdb.Error."""
        with transaction(cur):
            execute_with_columns(cur, q.SAVE_SERIES_LATEST, self.rows(None))
            cur.execute(_SET_MARK, [mark])

    # -- writes (writer thread) -----------------------------------------------------------

    def add(self, columns: Mapping[str, np.ndarray]) -> None:
        """Summaries just committed (the columns of the raw rows' insert); folded in
        now when due."""
        start = columns["window_start"].astype("datetime64[ms]").view(np.int64)
        count = columns["count"].astype(np.int64)
        with self._lock, _as_sql():
            waiting = {
                "slot": self._slots_of(columns["service"], columns["metric"]),
                "hour": start - start % HOUR_MS,
                "window_end": columns["window_end"].astype("datetime64[ms]").view(np.int64),
                "last": columns["last"],
                "weighted": columns["avg"] * count,
                "count": count,
                "min": columns["min"],
                "max": columns["max"],
            }
            self._waiting.append(waiting)
            self._waiting_rows += len(start)
            if self._waiting_rows >= FOLD_ROWS or self._clock() - self._folded_s >= FOLD_IDLE_S:
                self._fold()

    def forget_before(self, end_ms: int) -> None:
        """Drop the series whose newest summary ended before `end_ms` (retention)."""
        with self._lock:
            self._fold()
            keep = np.flatnonzero(self._columns["window_end"][: self._size] >= end_ms)
            if len(keep) == self._size:
                return
            kept = self._take(keep)
            self._slots, self._of_service, self._size = {}, {}, 0
            self._put(kept)

    # -- reads (any thread) ---------------------------------------------------------------

    def rows(self, services: Collection[str] | None) -> dict[str, np.ndarray]:
        """The rows of `services` (None: every one) as columns for SQL (`rows_in`):
        service, metric, and the numbers with times as timestamps and a missing
        previous hour's extremes as +inf / -inf."""
        with self._lock:
            self._fold()
            if services is None:
                slots = np.arange(self._size)
            else:
                found = [self._of_service.get(name, []) for name in services]
                slots = np.array([s for of in found for s in of], dtype=np.int64)
            taken = self._take(slots[self._columns["window_end"][slots] != _NEVER])
        for name in ("window_end", "hour"):
            taken[name] = taken[name].astype("datetime64[ms]").astype("datetime64[us]")
        return taken

    def metrics(self, service: str) -> list[str]:
        """The metrics of `service` kept here, waiting ones too."""
        with self._lock:
            return [str(m) for m in self._metric[self._of_service.get(service, [])]]

    # -- inside (lock held) ---------------------------------------------------------------

    def _slots_of(self, services: np.ndarray, metrics: np.ndarray) -> np.ndarray:
        """The slots of these series, made (empty) for new ones."""
        get = self._slots.get
        keys = list(zip(services.tolist(), metrics.tolist(), strict=True))
        slots = [get(key, -1) for key in keys]
        if -1 in slots:
            pairs = zip(keys, slots, strict=True)
            slots = [self._slot(key) if slot < 0 else slot for key, slot in pairs]
        return np.array(slots, dtype=np.int64)

    def _slot(self, key: tuple[str, str]) -> int:
        slot = self._slots.get(key)
        if slot is not None:  # made earlier in this same batch
            return slot
        if self._size == len(self._service):
            self._grow()
        slot, self._size = self._size, self._size + 1
        service, metric = key
        self._slots[key] = slot
        self._of_service.setdefault(service, []).append(slot)
        self._service[slot], self._metric[slot] = service, metric
        for name, column in self._columns.items():
            column[slot] = _EMPTY.get(name, 0)
        return slot

    def _grow(self) -> None:
        size = max(1024, 2 * len(self._service))
        extra = size - len(self._service)
        self._service = np.concatenate([self._service, np.empty(extra, dtype=object)])
        self._metric = np.concatenate([self._metric, np.empty(extra, dtype=object)])
        for name, column in self._columns.items():
            self._columns[name] = np.concatenate([column, np.empty(extra, dtype=column.dtype)])

    def _take(self, slots: np.ndarray) -> dict[str, np.ndarray]:
        taken = {"service": self._service[slots], "metric": self._metric[slots]}
        return taken | {name: column[slots] for name, column in self._columns.items()}

    def _put(self, rows: Mapping[str, np.ndarray]) -> None:
        """Set these rows (times in epoch ms), replacing the series' own."""
        slots = self._slots_of(rows["service"], rows["metric"])
        for name, column in self._columns.items():
            column[slots] = rows[name]

    def _replace(self, rows: Mapping[str, np.ndarray]) -> None:
        with self._lock:
            self._put(rows)

    def _fold(self) -> None:
        """Fold what waits into the table: per series, as DuckDB's upsert of the
        waiting rows did (the newest value; sums and extremes of the newest hour of the
        rows and the one before it, added to the slot's current or previous hour, or
        replacing them when newer; older hours are not counted)."""
        self._folded_s = self._clock()
        if not self._waiting:
            return
        w = {k: np.concatenate([batch[k] for batch in self._waiting]) for k in _WAITING}
        self._waiting, self._waiting_rows = [], 0
        with _as_sql():
            self._fold_in(w)

    def _fold_in(self, w: Mapping[str, np.ndarray]) -> None:
        x = _per_series(w)
        s = {name: column[x["slot"]] for name, column in self._columns.items()}
        same = x["hour"] == s["hour"]
        later = x["hour"] > s["hour"]
        next_hour = x["hour"] == s["hour"] + HOUR_MS  # the slot's hour becomes previous
        hour_before = x["hour"] + HOUR_MS == s["hour"]  # the rows' newest is the previous

        def current(name: str, both: np.ndarray) -> np.ndarray:
            return np.where(same, both, np.where(later, x[name], s[name]))

        def previous(name: str, cases: list[np.ndarray]) -> np.ndarray:
            p = "prev_" + name
            conditions = [same, next_hour, later, hour_before]
            return np.select(conditions, [*cases[:2], x[p], cases[2]], s[p])

        new = {
            "last": np.where(x["window_end"] >= s["window_end"], x["last"], s["last"]),
            "window_end": np.maximum(x["window_end"], s["window_end"]),
            "hour": np.maximum(x["hour"], s["hour"]),
            "weighted": current("weighted", s["weighted"] + x["weighted"]),
            "count": current("count", s["count"] + x["count"]),
            "min": current("min", np.minimum(s["min"], x["min"])),
            "max": current("max", np.maximum(s["max"], x["max"])),
        }
        for name, add in (("weighted", np.add), ("count", np.add)):
            p = "prev_" + name
            new[p] = previous(name, [add(s[p], x[p]), add(s[name], x[p]), add(s[p], x[name])])
        for name, pick in (("min", np.minimum), ("max", np.maximum)):
            p = "prev_" + name
            new[p] = previous(name, [pick(s[p], x[p]), pick(s[name], x[p]), pick(s[p], x[name])])
        for name, column in self._columns.items():
            column[x["slot"]] = new[name]


def _per_series(w: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Waiting rows per slot (ascending): the newest value and end, the newest hour's
    sums and extremes, and the hour before it's (zero / +inf / -inf when absent)."""
    slot, hour = w["slot"], w["hour"]
    by_end = np.lexsort((w["window_end"], slot))
    ends = by_end[_last_of_runs(slot[by_end])]
    by_hour = np.lexsort((hour, slot))
    s, h = slot[by_hour], hour[by_hour]
    starts = np.flatnonzero(np.r_[True, (s[1:] != s[:-1]) | (h[1:] != h[:-1])])
    groups = {
        "weighted": np.add.reduceat(w["weighted"][by_hour], starts),
        "count": np.add.reduceat(w["count"][by_hour], starts),
        "min": np.minimum.reduceat(w["min"][by_hour], starts),
        "max": np.maximum.reduceat(w["max"][by_hour], starts),
    }
    g_slot, g_hour = s[starts], h[starts]
    newest = _last_of_runs(g_slot)
    before = np.maximum(newest - 1, 0)
    has_before = (newest > 0) & (g_slot[before] == g_slot[newest])
    has_before &= g_hour[before] + HOUR_MS == g_hour[newest]
    absent = {"weighted": 0.0, "count": 0, "min": np.inf, "max": -np.inf}
    x = {"slot": g_slot[newest], "hour": g_hour[newest]}
    x["last"], x["window_end"] = w["last"][ends], w["window_end"][ends]
    for name, group in groups.items():
        x[name] = group[newest]
        x["prev_" + name] = np.where(has_before, group[before], absent[name])
    return x


def _as_sql() -> np.errstate:
    """Arithmetic as SQL's: a value that is not finite (replayed data may hold them;
    agents' never do) makes NaN or infinity silently, not a warning."""
    return np.errstate(invalid="ignore", over="ignore")


def _last_of_runs(sorted_keys: np.ndarray) -> np.ndarray:
    """Indexes of the last element of each run of equal keys."""
    return np.flatnonzero(np.r_[sorted_keys[1:] != sorted_keys[:-1], True])
