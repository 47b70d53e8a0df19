"""What tools and resources need from a colony: one async read interface.

The colony implements it over its store (`colony.queries.StoreQueries`); tests may
use any object with these methods.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from coral_mcp.models import MetricPoint, ServiceView, TopologyView


class CoralData(Protocol):
    def now(self) -> datetime:
        """The colony's current time, aware UTC."""

    async def services(self) -> list[ServiceView]: ...

    async def service_names(self) -> list[str]: ...

    async def metric_names(self, service: str) -> list[str]: ...

    async def topology(self) -> TopologyView: ...

    async def metric_series(
        self, service: str, metric: str, start: datetime, end: datetime, step_s: int
    ) -> list[MetricPoint]: ...
