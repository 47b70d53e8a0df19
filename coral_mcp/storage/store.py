"""The colony store: one DuckDB file, written by one thread, read through cursors.

Writes arrive as small operation values (`storage.ops`); `apply()` commits a list of
them in one transaction (`storage.bulk`), so the single writer batches across agents.
Every data operation also advances the agent's committed sequence number in the same
transaction: what is acknowledged is exactly what is stored.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from coral_mcp.errors import DataDirError, StorageError, StorageFullError
from coral_mcp.models import (
    AgentView,
    EdgeView,
    Endpoint,
    Event,
    EventView,
    ExternalPeerView,
    MetricGlance,
    MetricPoint,
    ServiceView,
    Severity,
    TopologyView,
)
from coral_mcp.storage import queries as q
from coral_mcp.storage.bulk import apply_batch, resolve_edges
from coral_mcp.storage.compaction import compact
from coral_mcp.storage.latest import FOLDED, LatestSeries
from coral_mcp.storage.migrations import migrate
from coral_mcp.storage.ops import (
    StoreSummaries,
    WriteOp,
    db_time,
    from_db_time,
    to_db_time,
)
from coral_mcp.storage.retention import (
    MaintenanceResult,
    Retention,
    enforce_retention,
    roll_up,
    rolled_upto,
)
from coral_mcp.storage.transaction import execute_with_columns, transaction

logger = logging.getLogger(__name__)

DB_FILE = "colony.duckdb"


class ColonyStore:
    """Opens (creating and migrating) the colony's DuckDB file under `data_dir`."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / DB_FILE
        try:
            # DuckDB's own worker threads (one per core): one thread saved CPU on the
            # colony's small writes measured alone, but end to end ingestion was within
            # noise of two, while raw-row queries took ~35 % longer (benchmarks/RESULTS.md,
            # issue 10: query_metrics p50 7.1 vs 4.5 ms).
            self._conn = duckdb.connect(str(self.path))
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                raise DataDirError(
                    f"another process is using {self.path}",
                    hint="stop the other colony, or give this one its own --data-dir",
                ) from None
            raise DataDirError(f"cannot open {self.path}: {exc}") from None
        except duckdb.Error as exc:
            raise DataDirError(f"cannot open {self.path}: {exc}") from None
        self.path.chmod(0o600)
        try:
            migrate(self._conn)
        except duckdb.Error as exc:
            raise StorageError(f"cannot migrate {self.path}: {exc}") from exc
        self._writer = self._conn.cursor()
        self._latest = LatestSeries()
        try:
            self._latest.open(self._writer)
        except duckdb.Error as exc:
            raise StorageError(f"cannot open {self.path}: {exc}") from exc
        self._dirty_since: datetime | None = None  # oldest window written since maintain()
        #: Sockets were written since edges were last resolved.
        self.edges_dirty = False
        #: Per agent, its services with pids as last written (storage.bulk.Running).
        self._running: dict[str, frozenset[str]] = {}

    def close(self) -> None:
        try:
            self._latest.save(self._writer, FOLDED)
        except duckdb.Error as exc:  # refolded from the raw rows at the next open
            logger.warning("series_latest not saved at close: %s", exc)
        self._writer.close()
        self._conn.close()

    def reader(self) -> duckdb.DuckDBPyConnection:
        """A cursor for one reader thread; close it when done."""
        return self._conn.cursor()

    # -- writes (writer thread only) -------------------------------------------------

    def apply(self, ops: Sequence[WriteOp]) -> None:
        """Commit all ops in one transaction, or none of them."""
        cur = self._writer
        try:
            with transaction(cur):
                written = apply_batch(cur, ops, self._running)
        except (duckdb.Error, OverflowError, ValueError, TypeError) as exc:
            raise storage_error("write failed", exc) from exc
        self._running.update(written.running)
        self._mark_dirty(ops)
        self.edges_dirty = self.edges_dirty or written.sockets
        if written.summaries is not None:
            self._latest.add(written.summaries)

    def resolve_edges(self) -> bool:
        """Resolve edges if sockets changed since the last time; True when it ran."""
        if not self.edges_dirty:
            return False
        self.edges_dirty = False
        cur = self._writer
        try:
            with transaction(cur):
                resolve_edges(cur)
        except duckdb.Error as exc:
            self.edges_dirty = True
            raise storage_error("edge resolution failed", exc) from exc
        return True

    def _mark_dirty(self, ops: Sequence[WriteOp]) -> None:
        starts = [op.window.start_ms for op in ops if isinstance(op, StoreSummaries)]
        if starts:
            oldest = to_db_time(min(starts))
            self._dirty_since = (
                oldest if self._dirty_since is None else min(self._dirty_since, oldest)
            )

    # -- reads (any thread, through its own cursor) ----------------------------------

    def committed_seq(self, agent_id: str) -> int:
        with _Reader(self) as cur:
            row = cur.execute(q.SELECT_COMMITTED_SEQ, [agent_id]).fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def agents(self) -> list[AgentView]:
        with _Reader(self) as cur:
            rows = cur.execute(q.LIST_AGENTS).fetchall()
        return [
            AgentView(a, h, v, p, from_db_time(f), from_db_time(last), int(seq))
            for a, h, v, p, f, last, seq in rows
        ]

    def services(self, now: datetime, names: Sequence[str] | None = None) -> list[ServiceView]:
        """Services (those named, or all), sorted by name."""
        wanted = None if names is None else list(names)
        since = db_time(now - q.SOCKET_FRESHNESS)
        with _Reader(self) as cur:
            rows = cur.execute(q.LIST_SERVICES, {"names": wanted}).fetchall()
            endpoints = cur.execute(
                q.SERVICE_ENDPOINTS, {"since": since, "names": wanted}
            ).fetchall()
        kept = self._latest.rows(wanted)
        fresh = kept["window_end"] >= np.datetime64(since, "us")
        latest = zip(
            kept["service"][fresh].tolist(),
            kept["metric"][fresh].tolist(),
            kept["last"][fresh].tolist(),
            strict=True,
        )
        listen: dict[str, set[Endpoint]] = {}
        for service, ip, port in endpoints:
            listen.setdefault(service, set()).add(Endpoint(ip, int(port)))
        metrics: dict[str, list[tuple[str, float]]] = {}
        for service, metric, value in sorted(latest):
            metrics.setdefault(service, []).append((metric, float(value)))
        return [
            ServiceView(
                name=name,
                agents=tuple(agents),
                specs=tuple(specs),
                pids=tuple(sorted(set(pids or ()))),
                listen=tuple(sorted(listen.get(name, ()))),
                first_seen=from_db_time(first),
                last_seen=from_db_time(last),
                latest=tuple(metrics.get(name, ())),
            )
            for name, agents, pids, specs, first, last in rows
        ]

    def service_names(self) -> list[str]:
        with _Reader(self) as cur:
            return [row[0] for row in cur.execute(q.SERVICE_NAMES).fetchall()]

    def metric_names(self, service: str) -> list[str]:
        """The metrics `service` has reported: series_latest's and the roll-ups'."""
        with _Reader(self) as cur:
            rows = cur.execute(q.METRIC_NAMES, [service]).fetchall()
        return sorted(set(self._latest.metrics(service)).union(row[0] for row in rows))

    def metric_glance(
        self, service: str, since: datetime, recent: bool = False
    ) -> list[MetricGlance]:
        """Each metric of `service` reported since `since`: latest value, and average and
        extremes over whole UTC hours from the one holding `since` (with `recent`: over
        its current and previous hour only). Neither scans raw rows: the hourly roll-ups
        and series_latest hold what they need."""
        sql = q.RECENT_GLANCE if recent else q.METRIC_GLANCE
        kept = self._latest.rows([service])
        with _Reader(self) as cur:
            params = {"service": service, "since": db_time(since)}
            if recent:
                del params["service"]
            execute_with_columns(cur, sql, kept, params)
            rows = cur.fetchall()
        return [
            MetricGlance(m, float(latest), float(avg), float(mn), float(mx), from_db_time(seen))
            for m, latest, avg, mn, mx, seen in rows
        ]

    def events(
        self,
        start: datetime,
        end: datetime,
        service: str | None = None,
        kinds: Sequence[str] | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[EventView]:
        """Events in [start, end), newest first, from `offset` on."""
        kind_list = list(kinds) if kinds else None
        with _Reader(self) as cur:
            rows = cur.execute(
                q.LIST_EVENTS,
                [
                    db_time(start),
                    db_time(end),
                    service,
                    service,
                    kind_list,
                    kind_list,
                    limit,
                    offset,
                ],
            ).fetchall()
        return [
            EventView(
                agent_id=agent_id,
                event=Event(
                    ts_ms=int(from_db_time(ts).timestamp() * 1000),
                    service=svc,
                    kind=kind,
                    severity=Severity(severity),
                    message=message,
                    attributes=tuple(zip(keys, values, strict=True)),
                ),
            )
            for agent_id, ts, svc, kind, severity, message, keys, values in rows
        ]

    def topology(
        self, now: datetime, around: str | None = None, depth: int = 1, limit: int = 500
    ) -> TopologyView:
        """The whole graph, or the services within `depth` hops of `around` (either
        direction) and the edges among them. Each of services, edges and external peers
        holds at most `limit` + 1 items: one more than `limit` says there are more."""
        since = db_time(now - q.SOCKET_FRESHNESS)
        with _Reader(self) as cur:
            if around is None:
                names = [r[0] for r in cur.execute(q.SERVICE_NAMES_FIRST, [limit + 1]).fetchall()]
                edges = cur.execute(q.LIST_EDGES, [limit + 1]).fetchall()
                wanted = None
            else:
                names, edges = _walk(cur, around, depth)
                names, wanted = names[: limit + 1], names
            external = cur.execute(
                q.EXTERNAL_PEERS, {"since": since, "names": wanted, "limit": limit + 1}
            ).fetchall()
        return TopologyView(
            services=tuple(names),
            edges=tuple(
                EdgeView(c, e, int(n), from_db_time(f), from_db_time(last))
                for c, e, n, f, last in edges[: limit + 1]
            ),
            external=tuple(
                ExternalPeerView(s, Endpoint(ip, int(port)), int(n), from_db_time(last))
                for s, ip, port, n, last in external
            ),
        )

    def has_service(self, name: str) -> bool:
        with _Reader(self) as cur:
            return cur.execute(q.HAS_SERVICE, [name]).fetchone() is not None

    def service_count(self) -> int:
        with _Reader(self) as cur:
            row = cur.execute(q.COUNT_SERVICES).fetchone()
        return int(row[0]) if row else 0

    def metric_series(
        self, service: str, metric: str, start: datetime, end: datetime, step_s: int
    ) -> list[MetricPoint]:
        """Buckets of `step_s` over [start, end); steps of an hour or more read roll-ups."""
        lo, hi = db_time(start), db_time(end)
        with _Reader(self) as cur:
            # Below an hour per bucket, raw rows only (the roll-up mark is "the beginning").
            mark = rolled_upto(cur) if step_s >= 3600 else None
            rolled = mark or datetime.min
            rows = cur.execute(
                q.QUERY_METRIC,
                [service, metric, lo, hi, rolled, service, metric, lo, hi, rolled, step_s],
            ).fetchall()
        return [
            MetricPoint(from_db_time(ts), avg, mn, mx, p95, last, int(count))
            for ts, avg, mn, mx, p95, count, last in rows
        ]

    # -- maintenance (writer thread only) --------------------------------------------

    def maintain(self, now: datetime, retention: Retention) -> MaintenanceResult:
        """Roll up closed hours, then enforce retention, in one transaction."""
        cur = self._writer
        try:
            with transaction(cur):
                roll_up(cur, db_time(now), self._dirty_since)
                result = enforce_retention(cur, db_time(now), retention)
                cur.execute(q.COMPACT_PROGRESS)
            # Series silent past raw retention leave series_latest too; its snapshot
            # in the file is brought up to date (what an unclean stop refolds over).
            cutoff = now - timedelta(days=retention.raw_days)
            self._latest.forget_before(int(cutoff.timestamp() * 1000))
            self._latest.save(cur)
        except duckdb.Error as exc:
            raise storage_error("maintenance failed", exc) from exc
        self._dirty_since = None
        return result

    def compact(self, now: datetime, since: datetime | None = None) -> int:
        """Rewrite closed spans of raw summaries in series order (storage.compaction);
        the rows rewritten. Runs on a cursor of its own, not in the writer thread, and
        never at the same time as `maintain`."""
        cur = self.reader()
        try:
            _, rows = compact(cur, db_time(now), None if since is None else db_time(since))
        except duckdb.Error as exc:
            raise storage_error("compaction failed", exc) from exc
        finally:
            cur.close()
        return rows

    def rolled_up_to(self) -> datetime | None:
        with _Reader(self) as cur:
            mark = rolled_upto(cur)
        return None if mark is None else from_db_time(mark)

    def disk_bytes(self) -> int:
        """Bytes on disk: the database file and its write-ahead log."""
        total = 0
        for path in (self.path, self.path.with_name(self.path.name + ".wal")):
            if path.exists():
                total += path.stat().st_size
        return total


def _walk(
    cur: duckdb.DuckDBPyConnection, center: str, depth: int
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Services within `depth` hops of `center` (sorted) and the edges among them: one
    query per hop over the edges touching the frontier, not the whole graph."""
    reached, frontier = {center}, {center}
    touching: dict[tuple[str, str], tuple[Any, ...]] = {}
    for hop in range(depth + 1):
        if not frontier:
            break
        rows = cur.execute(q.EDGES_TOUCHING, {"names": sorted(frontier)}).fetchall()
        touching.update(((row[0], row[1]), row) for row in rows)
        if hop == depth:  # the last hop's services: only the edges among them
            break
        frontier = {n for row in rows for n in row[:2]} - reached
        reached |= frontier
    edges = [touching[k] for k in sorted(touching) if k[0] in reached and k[1] in reached]
    return sorted(reached), edges


def storage_error(what: str, exc: BaseException) -> StorageError:
    """`exc` as a StorageError; StorageFullError when the disk is full."""
    if "No space left on device" in str(exc) or "Disk quota exceeded" in str(exc):
        return StorageFullError(f"{what}: no space left on the colony's disk")
    return StorageError(f"{what}: {exc}")


class _Reader:
    """`with _Reader(store) as cur:` a cursor closed on exit, errors as StorageError."""

    def __init__(self, store: ColonyStore) -> None:
        self._store = store

    def __enter__(self) -> duckdb.DuckDBPyConnection:
        self._cur = self._store.reader()
        return self._cur

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._cur.close()
        if isinstance(exc, duckdb.Error):
            # The database's own words stay in the log: they are no answer for a client.
            logger.warning("query failed: %s", exc)
            raise StorageError(
                "query failed", hint="narrow the query (range, limit); see the colony log"
            ) from exc
