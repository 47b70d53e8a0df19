"""What the colony answers: services, topology, metric series. Times are aware UTC."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from coral_mcp.models.events import Event
from coral_mcp.models.topology import Endpoint


@dataclass(frozen=True, slots=True)
class AgentView:
    agent_id: str
    hostname: str
    agent_version: str
    peer: str | None
    first_seen: datetime
    last_seen: datetime
    committed_seq: int


@dataclass(frozen=True, slots=True)
class ServiceView:
    """A service across every agent that reports it."""

    name: str
    agents: tuple[str, ...]
    specs: tuple[str, ...]
    pids: tuple[int, ...]
    listen: tuple[Endpoint, ...]
    first_seen: datetime
    last_seen: datetime
    #: The newest value of each metric (from the latest summary).
    latest: tuple[tuple[str, float], ...]


@dataclass(frozen=True, slots=True)
class EdgeView:
    """`caller` holds `connections` open to a listening socket of `callee`."""

    caller: str
    callee: str
    connections: int
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True, slots=True)
class ExternalPeerView:
    """Connections from a service to an address that is no known service."""

    service: str
    remote: Endpoint
    connections: int
    last_seen: datetime


@dataclass(frozen=True, slots=True)
class TopologyView:
    services: tuple[str, ...]
    edges: tuple[EdgeView, ...]
    external: tuple[ExternalPeerView, ...]


@dataclass(frozen=True, slots=True)
class MetricPoint:
    """One bucket of a metric series, starting at `ts`."""

    ts: datetime
    avg: float
    min: float
    max: float
    p95: float
    last: float
    count: int


@dataclass(frozen=True, slots=True)
class AgentStatusView:
    """An agent as the colony sees it now: `state` is online, stale or offline."""

    agent: AgentView
    state: str


@dataclass(frozen=True, slots=True)
class ColonyStatusView:
    version: str
    started_at: datetime
    agents: tuple[AgentStatusView, ...]
    services: int
    messages_per_s: float
    points_per_s: float
    disk_bytes: int
    rolled_up_to: datetime | None
    raw_retention_days: float
    hourly_retention_days: float
    events_retention_days: float
    #: Why storage fails right now ("no space"), or None while it works.
    storage_failing: str | None = None


@dataclass(frozen=True, slots=True)
class EventView:
    """A stored event and the agent that reported it."""

    agent_id: str
    event: Event


@dataclass(frozen=True, slots=True)
class MetricGlance:
    """One metric of a service over a recent span: newest value, average and extremes."""

    metric: str
    latest: float
    avg: float
    min: float
    max: float
    last_seen: datetime
