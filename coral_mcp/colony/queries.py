"""The colony's read side: CoralData over the store and the live ingest state.

Store reads run in worker threads (each on its own cursor).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from coral_mcp import __version__
from coral_mcp.colony.ingest import Ingest
from coral_mcp.intelligence.facade import Intelligence
from coral_mcp.models import (
    AgentStatusView,
    ColonyStatusView,
    DetailQuery,
    EventView,
    MetricGlance,
    MetricPoint,
    QueryReply,
    ServiceView,
    TopologyView,
)
from coral_mcp.models.intelligence import (
    AnomalyView,
    BaselineView,
    CorrelationView,
    InvestigationResult,
)
from coral_mcp.storage.retention import Retention
from coral_mcp.storage.store import ColonyStore


class StoreQueries:
    """Implements tools.data.CoralData for a colony."""

    def __init__(
        self,
        store: ColonyStore,
        ingest: Ingest,
        retention: Retention,
        intelligence: Intelligence,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._ingest = ingest
        self._intelligence = intelligence
        self._retention = retention
        self._clock = clock
        self._started_at = self.now()

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    def service_stale_after(self) -> timedelta:
        return timedelta(seconds=self._ingest.offline_after_s)

    async def services(self, names: Sequence[str] | None = None) -> list[ServiceView]:
        """Services (those named, or all) as stored, last seen no earlier than their
        agents were last heard."""
        views = await asyncio.to_thread(self._store.services, self.now(), names)
        return [self._heard(view) for view in views]

    def _heard(self, view: ServiceView) -> ServiceView:
        # Agents leave unchanged state out of their pushes and send heartbeats between
        # them: a live agent's services are current even when no row changed.
        heard = [self._ingest.last_seen_s(agent) for agent in view.agents]
        newest = max((h for h in heard if h is not None), default=None)
        if newest is None:
            return view
        at = datetime.fromtimestamp(newest, UTC)
        return replace(view, last_seen=at) if at > view.last_seen else view

    async def service_names(self) -> list[str]:
        return await asyncio.to_thread(self._store.service_names)

    async def metric_names(self, service: str) -> list[str]:
        return await asyncio.to_thread(self._store.metric_names, service)

    async def has_service(self, name: str) -> bool:
        return await asyncio.to_thread(self._store.has_service, name)

    async def topology(
        self, around: str | None = None, depth: int = 1, limit: int = 500
    ) -> TopologyView:
        return await asyncio.to_thread(self._store.topology, self.now(), around, depth, limit)

    async def metric_series(
        self, service: str, metric: str, start: datetime, end: datetime, step_s: int
    ) -> list[MetricPoint]:
        return await asyncio.to_thread(
            self._store.metric_series, service, metric, start, end, step_s
        )

    async def metric_glance(self, service: str, since: datetime) -> list[MetricGlance]:
        return await asyncio.to_thread(self._store.metric_glance, service, since)

    async def recent_metrics(self, service: str, since: datetime) -> list[MetricGlance]:
        return await asyncio.to_thread(self._store.metric_glance, service, since, True)

    async def query_agent(self, agent_id: str, query: DetailQuery, timeout_s: float) -> QueryReply:
        return await self._ingest.query_agent(agent_id, query, timeout_s)

    async def events(
        self,
        start: datetime,
        end: datetime,
        service: str | None,
        kinds: Sequence[str] | None,
        limit: int,
        offset: int = 0,
    ) -> list[EventView]:
        return await asyncio.to_thread(
            self._store.events, start, end, service, kinds, limit, offset
        )

    async def agents(self) -> list[AgentStatusView]:
        views = await asyncio.to_thread(self._store.agents)
        return [AgentStatusView(v, self._ingest.state(v.agent_id).value) for v in views]

    def agent_states(self, agent_ids: Sequence[str]) -> dict[str, str]:
        return {a: self._ingest.state(a).value for a in agent_ids}

    async def status(self) -> ColonyStatusView:
        agents, services, rolled = await asyncio.gather(
            self.agents(),
            asyncio.to_thread(self._store.service_count),
            asyncio.to_thread(self._store.rolled_up_to),
        )
        messages_per_s, points_per_s = self._ingest.rates()
        return ColonyStatusView(
            version=__version__,
            started_at=self._started_at,
            agents=tuple(agents),
            services=services,
            messages_per_s=messages_per_s,
            points_per_s=points_per_s,
            disk_bytes=self._store.disk_bytes(),
            rolled_up_to=rolled,
            raw_retention_days=self._retention.raw_days,
            hourly_retention_days=self._retention.hourly_days,
            events_retention_days=self._retention.events_days,
            storage_failing=self._ingest.storage_failing,
        )

    async def baselines(self, service: str | None) -> list[BaselineView]:
        return await self._intelligence.baselines(service)

    async def anomalies(
        self, start: datetime, end: datetime, service: str | None, limit: int
    ) -> list[AnomalyView]:
        return await self._intelligence.anomalies(start, end, service, limit)

    async def correlations(self, limit: int) -> list[CorrelationView]:
        return await self._intelligence.correlations(limit)

    async def investigate(
        self,
        question: str | None,
        start: datetime,
        end: datetime,
        service: str | None,
        metric: str | None = None,
    ) -> InvestigationResult:
        return await self._intelligence.investigate(question, start, end, service, metric=metric)

    async def investigation(self, investigation_id: str) -> dict[str, Any] | None:
        return await self._intelligence.investigation(investigation_id)

    async def recent_investigations(self, limit: int) -> list[dict[str, Any]]:
        return await self._intelligence.recent_investigations(limit)

    async def record_ask(self, record: dict[str, Any], start: datetime, end: datetime) -> None:
        await self._intelligence.record_ask(record, start, end)

    async def latest_ask(self) -> dict[str, Any] | None:
        return await self._intelligence.latest_ask()
