"""What tools and resources need from a colony: one async read interface.

The colony implements it over its store (`colony.queries.StoreQueries`); tests may
use any object with these methods.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

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


class CoralData(Protocol):
    def now(self) -> datetime:
        """The colony's current time, aware UTC."""

    def service_stale_after(self) -> timedelta:
        """A service not reported for this long is stale: the colony's configured
        offline threshold for agents (`--offline-after`)."""

    async def services(self, names: Sequence[str] | None = None) -> list[ServiceView]:
        """Services sorted by name: those in `names`, or all of them."""

    async def service_names(self) -> list[str]: ...

    async def metric_names(self, service: str) -> list[str]: ...

    async def has_service(self, name: str) -> bool:
        """Whether any agent reports a service of this name."""

    async def topology(
        self, around: str | None = None, depth: int = 1, limit: int = 500
    ) -> TopologyView:
        """The whole graph, or the services within `depth` hops of `around` and the edges
        among them; at most `limit` + 1 services, edges and external peers each (one
        more than `limit` says there are more)."""

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

    def agent_states(self, agent_ids: Sequence[str]) -> dict[str, str]:
        """online, stale or offline for each agent named."""

    async def status(self) -> ColonyStatusView: ...

    async def metric_glance(self, service: str, since: datetime) -> list[MetricGlance]:
        """Each metric of `service` since `since`: latest, average, extremes."""

    async def recent_metrics(self, service: str, since: datetime) -> list[MetricGlance]:
        """Each metric of `service` reported since `since`: latest value, and average and
        extremes of its current and previous UTC hour (kept as data arrives: cheap)."""

    async def query_agent(self, agent_id: str, query: DetailQuery, timeout_s: float) -> QueryReply:
        """Ask one agent for local detail; QueryError when offline or too slow."""

    async def baselines(self, service: str | None) -> list[BaselineView]:
        """Learned normal per (service, metric); hour_of_day -1 covers all hours."""

    async def anomalies(
        self, start: datetime, end: datetime, service: str | None, limit: int
    ) -> list[AnomalyView]:
        """Stored anomalies going on at some time in [start, end)."""

    async def correlations(self, limit: int) -> list[CorrelationView]: ...

    async def investigate(
        self,
        question: str | None,
        start: datetime,
        end: datetime,
        service: str | None,
        metric: str | None = None,
    ) -> InvestigationResult:
        """Rank root causes over [start, end) of the symptom (`service`, `metric`; None:
        inferred); the result is recorded with an id."""

    async def investigation(self, investigation_id: str) -> dict[str, Any] | None:
        """A recorded investigation, as stored."""

    async def recent_investigations(self, limit: int) -> list[dict[str, Any]]:
        """The newest recorded investigations, newest first, as stored."""

    async def record_ask(self, record: dict[str, Any], start: datetime, end: datetime) -> None:
        """Store a `coral ask` conversation; readable later by its id like any investigation."""

    async def latest_ask(self) -> dict[str, Any] | None:
        """The newest stored `coral ask` conversation, for `coral ask --continue`."""
