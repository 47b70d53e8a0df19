"""The colony's read side: CoralData over the store, each read in a worker thread."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime

from coral_mcp.models import MetricPoint, ServiceView, TopologyView
from coral_mcp.storage.store import ColonyStore


class StoreQueries:
    """Implements tools.data.CoralData for a colony holding `store`."""

    def __init__(self, store: ColonyStore, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    async def services(self) -> list[ServiceView]:
        return await asyncio.to_thread(self._store.services, self.now())

    async def service_names(self) -> list[str]:
        return await asyncio.to_thread(self._store.service_names)

    async def metric_names(self, service: str) -> list[str]:
        return await asyncio.to_thread(self._store.metric_names, service)

    async def topology(self) -> TopologyView:
        return await asyncio.to_thread(self._store.topology, self.now())

    async def metric_series(
        self, service: str, metric: str, start: datetime, end: datetime, step_s: int
    ) -> list[MetricPoint]:
        return await asyncio.to_thread(
            self._store.metric_series, service, metric, start, end, step_s
        )
