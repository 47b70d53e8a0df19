"""The intelligence facade: baselines, anomalies, correlations and investigations.

One async class over the store, the single writer and a clock, for MCP tools, REST,
the colony's analysis loop and offline replay alike. Reads run in worker threads on
their own cursors; writes go through the writer thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import duckdb

from coral_mcp.analysis.baselines import Baseline
from coral_mcp.intelligence import engine
from coral_mcp.models.intelligence import (
    AnomalyView,
    BaselineView,
    CorrelationView,
    InvestigationResult,
    Outcome,
)
from coral_mcp.storage import analysis_store as st
from coral_mcp.storage import asks
from coral_mcp.storage.store import ColonyStore
from coral_mcp.storage.writer import Writer

logger = logging.getLogger(__name__)
T = TypeVar("T")

#: Default investigation range: the last hour.
DEFAULT_RANGE = timedelta(hours=1)
#: Services and anomaly ids a correlated group keeps at most (its investigation has more).
GROUP_NAMES = 20


class Intelligence:
    def __init__(
        self, store: ColonyStore, writer: Writer, clock: Callable[[], float] = time.time
    ) -> None:
        self._store = store
        self._writer = writer
        self._clock = clock

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    # -- reads ------------------------------------------------------------------------

    async def baselines(self, service: str | None = None) -> list[BaselineView]:
        return await self._read(lambda cur: st.load_baselines(cur, service))

    async def anomalies(
        self,
        start: datetime | None = None,
        end: datetime | None = None,
        service: str | None = None,
        limit: int = 500,
    ) -> list[AnomalyView]:
        """Stored anomalies going on at some time in [start, end) (default: the last
        hour): begun before its end, not ended before its start."""
        end = end or self.now()
        start = start or end - DEFAULT_RANGE
        return await self._read(lambda cur: st.load_anomalies(cur, start, end, service, limit))

    async def correlations(self, limit: int = 50) -> list[CorrelationView]:
        return await self._read(lambda cur: st.load_correlations(cur, limit))

    async def investigation(self, investigation_id: str) -> dict[str, Any] | None:
        """A recorded investigation by id, as the JSON document it was stored as."""
        return await self._read(lambda cur: st.load_investigation(cur, investigation_id))

    async def recent_investigations(self, limit: int) -> list[dict[str, Any]]:
        """The newest recorded investigations, newest first."""
        return await self._read(lambda cur: st.recent_investigations(cur, limit))

    async def record_ask(self, record: dict[str, Any], start: datetime, end: datetime) -> None:
        """Store one `coral ask` conversation (see storage/asks.py)."""
        now = self.now()
        await self._write(lambda cur: asks.insert_ask(cur, now, start, end, record))

    async def latest_ask(self) -> dict[str, Any] | None:
        return await self._read(asks.latest_ask)

    # -- analysis ---------------------------------------------------------------------

    async def investigate(
        self,
        question: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        service: str | None = None,
        incident_time: datetime | None = None,
        metric: str | None = None,
    ) -> InvestigationResult:
        """Rank root causes over [start, end) (default: the last hour); record the result.
        `service` (and optionally `metric`) is the symptom explained; None: inferred."""
        now = self.now()
        end = end or now
        start = start or end - DEFAULT_RANGE
        req = engine.Request(start, end, now, question, service, incident_time, metric)
        result = await asyncio.to_thread(engine.investigate, self._store, req)
        doc = engine.document(result)
        await self._write(
            lambda cur: st.insert_investigation(
                cur, result.id, now, question, service, start, end, doc, result.duration_ms
            )
        )
        return result

    async def refresh_baselines(self) -> int:
        """Learn baselines from the trailing window and replace the stored ones."""
        now = self.now()
        learned: list[Baseline] = await asyncio.to_thread(engine.learn, self._store, now)
        await self._write(lambda cur: st.replace_baselines(cur, learned, now))
        return len(learned)

    async def detect(self) -> list[AnomalyView]:
        """Check recent summaries against baselines; store and return the new anomalies.
        One still going on is extended, not stored again (it keeps its onset and id);
        one no longer found has ended."""
        now = self.now()
        found = await asyncio.to_thread(engine.detect_recent, self._store, now)
        return await self._write(lambda cur: st.store_anomalies(cur, found, now))

    async def correlate(self) -> CorrelationView | None:
        """Investigate the last hour when new anomalies were detected; store the grouping."""
        found = await self.detect()
        if not found:
            return None
        result = await self.investigate(question="scheduled correlation")
        if result.outcome is Outcome.NO_SIGNIFICANT_ANOMALY:
            return None
        top = result.hypotheses[0]
        view = CorrelationView(
            id=result.id.replace("inv-", "cor-"),
            created_at=result.created_at,
            window_start=min(a.onset for a in result.anomalies)
            if result.anomalies
            else result.start,
            window_end=result.end,
            services=tuple(sorted({a.service for a in result.anomalies}))[:GROUP_NAMES],
            anomaly_ids=tuple(a.id for a in result.anomalies)[:GROUP_NAMES],
            top_hypothesis=(
                f"{top.kind} in {top.service} ({top.confidence:.2f}): {top.recommendation}"
            ),
        )
        await self._write(lambda cur: st.insert_correlation(cur, view))
        return view

    # -- plumbing ---------------------------------------------------------------------

    def _on_cursor(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """Run `fn` on a cursor of its own, in the calling thread."""
        cur = self._store.reader()
        try:
            return fn(cur)
        finally:
            cur.close()

    async def _read(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """Run `fn` on its own cursor in a worker thread."""
        return await asyncio.to_thread(self._on_cursor, fn)

    async def _write(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """Run `fn` on its own cursor in the writer thread (between ingest batches)."""
        return await self._writer.run(lambda: self._on_cursor(fn))
