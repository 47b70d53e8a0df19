"""Commits a batch of write operations from many agents with as few statements as possible.

Summaries of every agent in the batch go in as one columnar insert (NumPy arrays read
as a table by the statement); services, listening endpoints and peers as one upsert
each; each agent's committed sequence advances by one appended row. Edges are
resolved separately (`resolve_edges`), on a timer, not per batch. Runs inside the
caller's transaction, in the writer thread. The summaries inserted are returned, for
series_latest (`storage.latest`), which is folded off this path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import duckdb
import numpy as np

from coral_mcp.models import ServiceState
from coral_mcp.storage import queries as q
from coral_mcp.storage.ops import (
    RegisterAgent,
    SkipMessage,
    StoreEvents,
    StoreServices,
    StoreSummaries,
    WriteOp,
    to_db_time,
)
from coral_mcp.storage.transaction import execute_with_columns


@dataclass(frozen=True, slots=True)
class Written:
    """What a batch wrote that the store follows up on after the commit."""

    sockets: bool  # edges need resolving
    summaries: dict[str, np.ndarray] | None  # the raw rows inserted, as columns
    #: Per agent whose services were written: the names it now has with pids.
    running: dict[str, frozenset[str]]


#: Per agent, the names of its services that may have pids in the table (written by
#: this process); an agent missing from it: unknown.
Running = Mapping[str, frozenset[str]]


def apply_batch(
    cur: duckdb.DuckDBPyConnection, ops: Sequence[WriteOp], running: Running | None = None
) -> Written:
    """Write every op. `running`: what the table holds, known from earlier batches."""
    advances: dict[str, tuple[int, datetime]] = {}

    def advance(agent_id: str, seq: int, seen: datetime) -> None:
        old_seq, old_seen = advances.get(agent_id, (0, seen))
        advances[agent_id] = (max(old_seq, seq), max(old_seen, seen))

    services: list[tuple[str, datetime, Sequence[ServiceState]]] = []
    summaries: list[StoreSummaries] = []
    for op in ops:
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
            services.append((op.agent_id, now, op.services))
        elif isinstance(op, StoreSummaries):
            summaries.append(op)
            advance(op.agent_id, op.seq, to_db_time(op.window.end_ms))
        elif isinstance(op, StoreServices):
            observed = to_db_time(op.batch.observed_ms)
            services.append((op.agent_id, observed, op.batch.services))
            advance(op.agent_id, op.seq, observed)
        elif isinstance(op, StoreEvents):
            _insert_events(cur, op)
            advance(op.agent_id, op.seq, to_db_time(op.now_ms))
        elif isinstance(op, SkipMessage):
            advance(op.agent_id, op.seq, to_db_time(op.now_ms))
    inserted = _insert_summaries(cur, summaries) if summaries else None
    now_running = _upsert_services(cur, services, running or {}) if services else {}
    if advances:
        ids = list(advances)
        advanced = {
            "agent_id": np.array(ids, dtype=object),
            "seq": np.array([advances[a][0] for a in ids], dtype=np.uint64),
            "seen": np.array([advances[a][1] for a in ids], dtype="datetime64[us]"),
        }
        execute_with_columns(cur, q.ADVANCE_AGENTS, advanced)
    return Written(bool(services), inserted, now_running)


def resolve_edges(cur: duckdb.DuckDBPyConnection) -> None:
    """Turn peers that reach another service's listening socket into edges."""
    cur.execute(q.RESOLVE_EDGES, [q.SOCKET_FRESHNESS, q.SOCKET_FRESHNESS])


def _insert_summaries(
    cur: duckdb.DuckDBPyConnection, ops: Sequence[StoreSummaries]
) -> dict[str, np.ndarray] | None:
    kept = [op for op in ops if op.window.summaries]
    if not kept:
        return None
    windows = [op.window for op in kept]
    # The rows' fields as columns in one transposition (MetricSummary is a tuple), and
    # each window's agent and times repeated over its rows.
    fields = zip(*(row for window in windows for row in window.summaries), strict=True)
    service, metric, lo, hi, avg, last, p95, count = fields
    sizes = [len(window.summaries) for window in windows]
    per_window = {
        "agent_id": np.array([op.agent_id for op in kept], dtype=object),
        "window_start": np.array([w.start_ms for w in windows], dtype="datetime64[ms]"),
        "window_end": np.array([w.end_ms for w in windows], dtype="datetime64[ms]"),
    }
    repeated = {name: np.repeat(column, sizes) for name, column in per_window.items()}
    incoming = {
        "agent_id": repeated["agent_id"],
        "service": np.array(service, dtype=object),
        "metric": np.array(metric, dtype=object),
        "window_start": repeated["window_start"],
        "window_end": repeated["window_end"],
        "min": np.array(lo, dtype=np.float64),
        "max": np.array(hi, dtype=np.float64),
        "avg": np.array(avg, dtype=np.float64),
        "last": np.array(last, dtype=np.float64),
        "p95": np.array(p95, dtype=np.float64),
        "count": np.array(count, dtype=np.int32),
    }
    execute_with_columns(cur, q.INSERT_SUMMARIES, incoming)
    return incoming


def _upsert_services(
    cur: duckdb.DuckDBPyConnection,
    batches: Sequence[tuple[str, datetime, Sequence[ServiceState]]],
    running: Running,
) -> dict[str, frozenset[str]]:
    """One upsert per table; within the batch the newest observation of a key wins.
    Return, per agent written, the names it now has with pids."""
    svc: dict[tuple[str, str], tuple[str, list[int], datetime]] = {}
    eps: dict[tuple[str, str, str, int], datetime] = {}
    peers: dict[tuple[str, str, str, int], tuple[int, datetime]] = {}
    reported: dict[str, list[str]] = {}
    written: dict[str, set[str]] = {}  # per agent, the names written with pids
    for agent_id, seen, states in sorted(batches, key=lambda b: b[1]):
        reported[agent_id] = [state.name for state in states]
        for state in states:
            name = state.name
            svc[(agent_id, name)] = (state.spec, list(state.pids), seen)
            if state.pids:
                written.setdefault(agent_id, set()).add(name)
            for ep in state.listen:
                eps[(agent_id, name, ep.ip, ep.port)] = seen
            for peer in state.peers:
                peers[(agent_id, name, peer.remote.ip, peer.remote.port)] = (peer.connections, seen)
    if svc:
        keys = list(svc)
        services_in = {
            "agent_id": np.array([k[0] for k in keys], dtype=object),
            "name": np.array([k[1] for k in keys], dtype=object),
            "spec": np.array([svc[k][0] for k in keys], dtype=object),
            "pids": np.array([svc[k][1] for k in keys] + [None], dtype=object)[:-1],
            "seen": np.array([svc[k][2] for k in keys], dtype="datetime64[us]"),
        }
        execute_with_columns(cur, q.UPSERT_SERVICES, services_in)
    for agent_id, names in reported.items():
        # Only a name with pids the agent no longer reports needs clearing: the statement
        # (~1 ms) is skipped when none can be in the table (the usual push).
        known = running.get(agent_id)
        if known is None or not (known | written.get(agent_id, set())) <= set(names):
            cur.execute(q.CLEAR_UNREPORTED_SERVICES, [agent_id, names])
    if eps:
        keys4 = list(eps)
        endpoints_in = {
            "agent_id": np.array([k[0] for k in keys4], dtype=object),
            "service": np.array([k[1] for k in keys4], dtype=object),
            "ip": np.array([k[2] for k in keys4], dtype=object),
            "port": np.array([k[3] for k in keys4], dtype=np.int32),
            "seen": np.array([eps[k] for k in keys4], dtype="datetime64[us]"),
        }
        execute_with_columns(cur, q.UPSERT_ENDPOINTS, endpoints_in)
    if peers:
        keysp = list(peers)
        peers_in = {
            "agent_id": np.array([k[0] for k in keysp], dtype=object),
            "service": np.array([k[1] for k in keysp], dtype=object),
            "ip": np.array([k[2] for k in keysp], dtype=object),
            "port": np.array([k[3] for k in keysp], dtype=np.int32),
            "connections": np.array([peers[k][0] for k in keysp], dtype=np.int32),
            "seen": np.array([peers[k][1] for k in keysp], dtype="datetime64[us]"),
        }
        execute_with_columns(cur, q.UPSERT_PEERS, peers_in)
    return {
        agent_id: frozenset(n for n in names if svc[(agent_id, n)][1])
        for agent_id, names in reported.items()
    }


def _insert_events(cur: duckdb.DuckDBPyConnection, op: StoreEvents) -> None:
    for event in op.batch.events:
        cur.execute(
            q.INSERT_EVENT,
            [
                op.agent_id,
                to_db_time(event.ts_ms),
                event.service,
                event.kind,
                event.severity.value,
                event.message,
                [k for k, _ in event.attributes],
                [v for _, v in event.attributes],
            ],
        )
