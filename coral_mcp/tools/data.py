"""What tools and resources need from a colony: one async read interface.

The colony implements it over its store (`colony.queries.StoreQueries`); tests may
use any object with these methods.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

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

    async def events(
        self,
        start: datetime,
        end: datetime,
        service: str | None,
        kinds: Sequence[str] | None,
        limit: int,
        offset: int = 0,
    ) -> list[EventView]:
        """Events in [start, end), newest first."""

    async def agents(self) -> list[AgentStatusView]: ...

    async def status(self) -> ColonyStatusView: ...

    async def metric_glance(self, service: str, since: datetime) -> list[MetricGlance]:
        """Each metric of `service` since `since`: latest, average, extremes."""

    async def query_agent(self, agent_id: str, query: DetailQuery, timeout_s: float) -> QueryReply:
        """Ask one agent for local detail; QueryError when offline or too slow."""
