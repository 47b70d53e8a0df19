"""Answers the colony's detail queries from what the agent holds locally.

Kinds: raw `samples` of a service (and metric) in a time range, current `connections`,
the `processes` of a service as a tree (with their children), and recent `events`.
Results are JSON documents bounded by the query's `limit` (and MAX_LIMIT); a cut
result says so with `truncated`. Queries are answered in a worker thread and given up
when their deadline passes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

import psutil

from coral_mcp.agent.ring_store import RingStore
from coral_mcp.models import DetailKind, DetailQuery, QueryReply, ServiceBatch

MAX_LIMIT = 10_000
MAX_CMDLINE_CHARS = 300
_GONE = (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied)


class DetailAnswerer:
    def __init__(
        self, ring: RingStore, latest: Callable[[], ServiceBatch], ps: ModuleType = psutil
    ) -> None:
        self._ring = ring
        self._latest = latest
        self._ps = ps

    def answer(self, query: DetailQuery) -> QueryReply:
        limit = min(query.limit or 1000, MAX_LIMIT)
        if query.kind is DetailKind.SAMPLES:
            return self._samples(query, limit)
        if query.kind is DetailKind.CONNECTIONS:
            return self._connections(query, limit)
        if query.kind is DetailKind.PROCESSES:
            return self._processes(query, limit)
        return self._events(query, limit)

    def _samples(self, query: DetailQuery, limit: int) -> QueryReply:
        rows = [
            s
            for s in self._ring.read(query.start_ms / 1000, query.end_ms / 1000)
            if s.service == query.service and (not query.metric or s.metric == query.metric)
        ]
        truncated = len(rows) > limit
        rows = rows[-limit:]  # the newest, when cut
        doc = {
            "service": query.service,
            "samples": [[int(s.ts_s * 1000), s.metric, s.value] for s in rows],
        }
        return _reply(query, doc, truncated)

    def _connections(self, query: DetailQuery, limit: int) -> QueryReply:
        batch = self._latest()
        state = next((s for s in batch.services if s.name == query.service), None)
        if state is None:
            return _unknown(query)
        peers = [{"remote": str(p.remote), "connections": p.connections} for p in state.peers]
        doc = {
            "service": state.name,
            "observed_ms": batch.observed_ms,
            "pids": list(state.pids),
            "listen": [str(e) for e in state.listen],
            "peers": peers[:limit],
        }
        return _reply(query, doc, len(peers) > limit)

    def _processes(self, query: DetailQuery, limit: int) -> QueryReply:
        batch = self._latest()
        state = next((s for s in batch.services if s.name == query.service), None)
        if state is None:
            return _unknown(query)
        nodes: list[dict[str, Any]] = []
        for pid in state.pids:
            nodes += self._tree(pid, limit - len(nodes))
            if len(nodes) >= limit:
                break
        doc = {"service": state.name, "observed_ms": batch.observed_ms, "processes": nodes}
        return _reply(query, doc, len(nodes) >= limit)

    def _tree(self, pid: int, room: int) -> list[dict[str, Any]]:
        """The process and its descendants, parents first; skips what vanished meanwhile."""
        try:
            root = self._ps.Process(pid)
            family = [root, *root.children(recursive=True)]
        except _GONE:
            return []
        nodes: list[dict[str, Any]] = []
        for proc in family[: max(room, 0)]:
            try:
                with proc.oneshot():
                    nodes.append(
                        {
                            "pid": proc.pid,
                            "ppid": proc.ppid(),
                            "name": proc.name(),
                            "cmdline": " ".join(proc.cmdline())[:MAX_CMDLINE_CHARS],
                            "status": proc.status(),
                            "rss_bytes": proc.memory_info().rss,
                            "started_s": proc.create_time(),
                        }
                    )
            except _GONE:
                continue
        return nodes

    def _events(self, query: DetailQuery, limit: int) -> QueryReply:
        end_ms = query.end_ms or 2**62
        events = self._ring.read_events(query.start_ms, end_ms, MAX_LIMIT + 1)
        if query.service:
            events = [e for e in events if e.service == query.service]
        doc = {
            "service": query.service,
            "events": [
                {
                    "ts_ms": e.ts_ms,
                    "service": e.service,
                    "kind": e.kind,
                    "severity": e.severity.value,
                    "message": e.message,
                    "attributes": dict(e.attributes),
                }
                for e in events[:limit]
            ],
        }
        return _reply(query, doc, len(events) > limit)


def _unknown(query: DetailQuery) -> QueryReply:
    return QueryReply(query.query_id, error=f"this agent does not watch {query.service!r}")


def _reply(query: DetailQuery, doc: dict[str, Any], truncated: bool) -> QueryReply:
    return QueryReply(query.query_id, json=json.dumps(doc), truncated=truncated)
