"""The colony store: one DuckDB file, written by one thread, read through cursors.

Writes arrive as small operation values (`RegisterAgent`, `StoreSummaries`,
`StoreServices`, `SkipMessage`); `apply()` commits a list of them in one transaction,
so the single writer can batch across agents. Every data operation also advances the
agent's committed sequence number in the same transaction: what is acknowledged is
exactly what is stored.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np

from coral_mcp.errors import DataDirError, StorageError
from coral_mcp.models import (
    AgentView,
    EdgeView,
    Endpoint,
    Event,
    EventBatch,
    ExternalPeerView,
    MetricPoint,
    ServiceBatch,
    ServiceState,
    ServiceView,
    Severity,
    SummaryWindow,
    TopologyView,
)
from coral_mcp.storage import queries as q
from coral_mcp.storage.migrations import migrate

logger = logging.getLogger(__name__)

DB_FILE = "colony.duckdb"
#: Sockets and peers older than this no longer make edges or count as current.
SOCKET_FRESHNESS = timedelta(minutes=5)


def to_db_time(ms: int) -> datetime:
    """Epoch milliseconds -> naive UTC datetime, as stored."""
    return datetime.fromtimestamp(ms / 1000, UTC).replace(tzinfo=None)


def db_time(value: datetime) -> datetime:
    """Aware UTC -> naive UTC for a query parameter."""
    return value.astimezone(UTC).replace(tzinfo=None)


def from_db_time(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class RegisterAgent:
    agent_id: str
    hostname: str
    agent_version: str
    protocol_version: int
    peer: str
    services: tuple[ServiceState, ...]
    now_ms: int


@dataclass(frozen=True, slots=True)
class StoreSummaries:
    agent_id: str
    seq: int
    window: SummaryWindow


@dataclass(frozen=True, slots=True)
class StoreServices:
    agent_id: str
    seq: int
    batch: ServiceBatch


@dataclass(frozen=True, slots=True)
class StoreEvents:
    agent_id: str
    seq: int
    batch: EventBatch
    now_ms: int


@dataclass(frozen=True, slots=True)
class SkipMessage:
    """A rejected message: its sequence number still counts as handled."""

    agent_id: str
    seq: int
    now_ms: int


WriteOp = RegisterAgent | StoreSummaries | StoreServices | StoreEvents | SkipMessage


class ColonyStore:
    """Opens (creating and migrating) the colony's DuckDB file under `data_dir`."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / DB_FILE
        try:
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
        try:
            migrate(self._conn)
        except duckdb.Error as exc:
            raise StorageError(f"cannot migrate {self.path}: {exc}") from exc
        self._writer = self._conn.cursor()

    def close(self) -> None:
        self._writer.close()
        self._conn.close()

    def reader(self) -> duckdb.DuckDBPyConnection:
        """A cursor for one reader thread; close it when done."""
        return self._conn.cursor()

    # -- writes (writer thread only) -------------------------------------------------

    def apply(self, ops: Sequence[WriteOp]) -> None:
        """Commit all ops in one transaction, or none of them."""
        cur = self._writer
        cur.execute("BEGIN TRANSACTION")
        try:
            for op in ops:
                self._apply_one(cur, op)
            cur.execute("COMMIT")
        except duckdb.Error as exc:
            cur.execute("ROLLBACK")
            raise StorageError(f"write failed: {exc}") from exc

    def _apply_one(self, cur: duckdb.DuckDBPyConnection, op: WriteOp) -> None:
        if isinstance(op, RegisterAgent):
            now = to_db_time(op.now_ms)
            cur.execute(
                q.UPSERT_AGENT,
                [
                    op.agent_id,
                    op.hostname,
                    op.agent_version,
                    op.protocol_version,
                    op.peer,
                    now,
                    now,
                ],
            )
            self._write_services(cur, op.agent_id, op.services, now)
        elif isinstance(op, StoreSummaries):
            self._write_summaries(cur, op.agent_id, op.window)
            self._advance(cur, op.agent_id, op.seq, to_db_time(op.window.end_ms))
        elif isinstance(op, StoreServices):
            observed = to_db_time(op.batch.observed_ms)
            self._write_services(cur, op.agent_id, op.batch.services, observed)
            since = observed - SOCKET_FRESHNESS
            cur.execute(q.RESOLVE_EDGES, [since, since])
            self._advance(cur, op.agent_id, op.seq, observed)
        elif isinstance(op, StoreEvents):
            for event in op.batch.events:
                keys = [k for k, _ in event.attributes]
                values = [v for _, v in event.attributes]
                cur.execute(
                    q.INSERT_EVENT,
                    [
                        op.agent_id,
                        to_db_time(event.ts_ms),
                        event.service,
                        event.kind,
                        event.severity.value,
                        event.message,
                        keys,
                        values,
                    ],
                )
            self._advance(cur, op.agent_id, op.seq, to_db_time(op.now_ms))
        else:
            self._advance(cur, op.agent_id, op.seq, to_db_time(op.now_ms))

    @staticmethod
    def _advance(cur: duckdb.DuckDBPyConnection, agent_id: str, seq: int, seen: datetime) -> None:
        cur.execute(q.ADVANCE_AGENT, [seq, seen, agent_id])

    @staticmethod
    def _write_services(
        cur: duckdb.DuckDBPyConnection,
        agent_id: str,
        services: Sequence[ServiceState],
        now: datetime,
    ) -> None:
        for state in services:
            cur.execute(
                q.UPSERT_SERVICE, [agent_id, state.name, state.spec, list(state.pids), now, now]
            )
            for endpoint in state.listen:
                cur.execute(q.UPSERT_ENDPOINT, [agent_id, state.name, *endpoint, now])
            for peer in state.peers:
                cur.execute(
                    q.UPSERT_PEER,
                    [agent_id, state.name, *peer.remote, peer.connections, now, now],
                )

    @staticmethod
    def _write_summaries(
        cur: duckdb.DuckDBPyConnection, agent_id: str, window: SummaryWindow
    ) -> None:
        rows = window.summaries
        if not rows:
            return
        n = len(rows)
        incoming = {  # scanned by name in INSERT_SUMMARIES (DuckDB replacement scan)
            "agent_id": np.full(n, agent_id, dtype=object),
            "service": np.array([r.service for r in rows], dtype=object),
            "metric": np.array([r.metric for r in rows], dtype=object),
            "window_start": np.full(n, window.start_ms, dtype="datetime64[ms]"),
            "window_end": np.full(n, window.end_ms, dtype="datetime64[ms]"),
            "min": np.array([r.min for r in rows], dtype=np.float64),
            "max": np.array([r.max for r in rows], dtype=np.float64),
            "avg": np.array([r.avg for r in rows], dtype=np.float64),
            "last": np.array([r.last for r in rows], dtype=np.float64),
            "p95": np.array([r.p95 for r in rows], dtype=np.float64),
            "count": np.array([r.count for r in rows], dtype=np.int32),
        }
        assert incoming  # keep the name bound for the replacement scan
        cur.execute(q.INSERT_SUMMARIES)

    # -- reads (any thread, through its own cursor) ----------------------------------

    def committed_seq(self, agent_id: str) -> int:
        with _Reader(self) as cur:
            row = cur.execute(q.SELECT_COMMITTED_SEQ, [agent_id]).fetchone()
        return int(row[0]) if row else 0

    def agents(self) -> list[AgentView]:
        with _Reader(self) as cur:
            rows = cur.execute(q.LIST_AGENTS).fetchall()
        return [
            AgentView(a, h, v, p, from_db_time(f), from_db_time(last), int(seq))
            for a, h, v, p, f, last, seq in rows
        ]

    def services(self, now: datetime) -> list[ServiceView]:
        since = db_time(now - SOCKET_FRESHNESS)
        with _Reader(self) as cur:
            rows = cur.execute(q.LIST_SERVICES).fetchall()
            endpoints = cur.execute(q.SERVICE_ENDPOINTS, [since]).fetchall()
            latest = cur.execute(q.LATEST_METRICS, [since]).fetchall()
        listen: dict[str, set[Endpoint]] = {}
        for service, ip, port in endpoints:
            listen.setdefault(service, set()).add(Endpoint(ip, int(port)))
        metrics: dict[str, list[tuple[str, float]]] = {}
        for service, metric, value, _ in sorted(latest):
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
        with _Reader(self) as cur:
            return [row[0] for row in cur.execute(q.METRIC_NAMES, [service]).fetchall()]

    def events(
        self,
        start: datetime,
        end: datetime,
        service: str | None = None,
        kinds: Sequence[str] | None = None,
        limit: int = 100,
    ) -> list[StoredEvent]:
        """Events in [start, end), newest first."""
        kind_list = list(kinds) if kinds else None
        with _Reader(self) as cur:
            rows = cur.execute(
                q.LIST_EVENTS,
                [db_time(start), db_time(end), service, service, kind_list, kind_list, limit],
            ).fetchall()
        return [
            StoredEvent(
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

    def topology(self, now: datetime) -> TopologyView:
        since = db_time(now - SOCKET_FRESHNESS)
        with _Reader(self) as cur:
            names = [row[0] for row in cur.execute(q.SERVICE_NAMES).fetchall()]
            edges = cur.execute(q.LIST_EDGES).fetchall()
            external = cur.execute(q.EXTERNAL_PEERS, [since]).fetchall()
        return TopologyView(
            services=tuple(names),
            edges=tuple(
                EdgeView(c, e, int(n), from_db_time(f), from_db_time(last))
                for c, e, n, f, last in edges
            ),
            external=tuple(
                ExternalPeerView(s, Endpoint(ip, int(port)), int(n), from_db_time(last))
                for s, ip, port, n, last in external
            ),
        )

    def metric_series(
        self, service: str, metric: str, start: datetime, end: datetime, step_s: int
    ) -> list[MetricPoint]:
        with _Reader(self) as cur:
            rows = cur.execute(
                q.QUERY_METRIC, [step_s, service, metric, db_time(start), db_time(end)]
            ).fetchall()
        return [
            MetricPoint(from_db_time(ts), avg, mn, mx, p95, last, int(count))
            for ts, avg, mn, mx, p95, count, last in rows
        ]


@dataclass(frozen=True, slots=True)
class StoredEvent:
    agent_id: str
    event: Event


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
            raise StorageError(f"query failed: {exc}") from exc
