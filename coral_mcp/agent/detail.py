"""Answers the colony's detail queries from what the agent holds locally.

Results are JSON documents bounded by the query's `limit` (and MAX_LIMIT); a cut
result says so with `truncated`. Queries are answered in a worker thread and given up
when their deadline passes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from coral_mcp.agent.ring_store import RingStore
from coral_mcp.models import DetailKind, DetailQuery, QueryReply, ServiceBatch

MAX_LIMIT = 10_000


class DetailAnswerer:
    def __init__(self, ring: RingStore, latest: Callable[[], ServiceBatch]) -> None:
        self._ring = ring
        self._latest = latest

    def answer(self, query: DetailQuery) -> QueryReply:
        limit = min(query.limit or 1000, MAX_LIMIT)
        if query.kind is DetailKind.SAMPLES:
            return self._samples(query, limit)
        if query.kind is DetailKind.CONNECTIONS:
            return self._connections(query, limit)
        return QueryReply(query.query_id, error=f"{query.kind.value} queries are not supported yet")

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
            return QueryReply(query.query_id, error=f"this agent does not watch {query.service!r}")
        peers = [{"remote": str(p.remote), "connections": p.connections} for p in state.peers]
        doc = {
            "service": state.name,
            "observed_ms": batch.observed_ms,
            "pids": list(state.pids),
            "listen": [str(e) for e in state.listen],
            "peers": peers[:limit],
        }
        return _reply(query, doc, len(peers) > limit)


def _reply(query: DetailQuery, doc: dict[str, Any], truncated: bool) -> QueryReply:
    return QueryReply(query.query_id, json=json.dumps(doc), truncated=truncated)
