"""Typed results of Coral's MCP tools (their output schemas) and how views map to them.

Field descriptions are part of what the model reads: keep them concrete.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from coral_mcp.models import (
    AgentStatusView,
    ColonyStatusView,
    EdgeView,
    EventView,
    ExternalPeerView,
    MetricGlance,
    MetricPoint,
    ServiceView,
    TopologyView,
)
from coral_mcp.models.timerange import rfc3339

#: A service not reported for this long is "stale".
STALE_AFTER = timedelta(minutes=2)


class OutModel(BaseModel):
    """Base of every tool result: unknown fields are a bug, not data."""

    model_config = ConfigDict(extra="forbid")


_Out = OutModel


class ServiceOut(_Out):
    name: str = Field(description="Service name, as used by every other tool.")
    status: Literal["up", "down", "stale"] = Field(
        description="up: processes running and recently reported; down: no process found;"
        " stale: its agent has not reported for over 2 minutes."
    )
    agents: list[str] = Field(description="Agents (hosts) that watch this service.")
    pids: list[int] = Field(description="Process ids currently making up the service.")
    listen: list[str] = Field(description="Listening TCP addresses, ip:port.")
    last_seen: str = Field(description="Last report, RFC 3339 UTC.")
    metrics: dict[str, float] = Field(
        description="Latest value of each metric, e.g. cpu_percent, rss_bytes, threads, fds."
    )


class ServiceList(_Out):
    services: list[ServiceOut]
    count: int = Field(description="Services in this page.")
    total: int = Field(description="Services known to the colony.")
    truncated: bool = Field(description="True when more services follow; pass next_cursor.")
    next_cursor: str | None = Field(description="Cursor for the next page, or null.")
    hint: str | None = Field(default=None, description="Why the list may be empty and what to try.")


class EdgeOut(_Out):
    caller: str = Field(description="Service that opens the connections.")
    callee: str = Field(description="Service whose listening socket they reach.")
    connections: int = Field(description="Established connections at the last observation.")
    first_seen: str
    last_seen: str


class ExternalOut(_Out):
    service: str = Field(description="Service holding the connections.")
    remote: str = Field(description="Remote ip:port that is no known service (database, API).")
    connections: int
    last_seen: str


class TopologyOut(_Out):
    center: str | None = Field(description="The service the graph is drawn around, if any.")
    depth: int | None = Field(description="Hops from the center included, if any.")
    services: list[str] = Field(description="Services in the graph (nodes).")
    edges: list[EdgeOut] = Field(description="caller -> callee dependencies seen on the wire.")
    external: list[ExternalOut] = Field(
        description="Outbound connections to addresses outside the watched services."
    )
    truncated: bool = Field(description="True when edges were cut to the size bound.")
    hint: str | None = None


class PointOut(_Out):
    ts: str = Field(description="Bucket start, RFC 3339 UTC.")
    avg: float
    min: float
    max: float
    p95: float
    last: float
    count: int = Field(
        description="Raw samples behind the bucket; 0 when the agent sent nothing because"
        " the series did not change, and the values repeat its last report."
    )


class MetricSeriesOut(_Out):
    service: str
    metric: str
    start: str = Field(description="Resolved range start, RFC 3339 UTC.")
    end: str = Field(description="Resolved range end, RFC 3339 UTC.")
    step_s: int = Field(description="Bucket width in seconds.")
    points: list[PointOut]
    hint: str | None = None


def service_out(view: ServiceView, now: datetime) -> ServiceOut:
    if now - view.last_seen > STALE_AFTER:
        status: Literal["up", "down", "stale"] = "stale"
    else:
        status = "up" if view.pids else "down"
    return ServiceOut(
        name=view.name,
        status=status,
        agents=list(view.agents),
        pids=list(view.pids),
        listen=[str(e) for e in view.listen],
        last_seen=rfc3339(view.last_seen),
        metrics=dict(view.latest),
    )


def edge_out(edge: EdgeView) -> EdgeOut:
    return EdgeOut(
        caller=edge.caller,
        callee=edge.callee,
        connections=edge.connections,
        first_seen=rfc3339(edge.first_seen),
        last_seen=rfc3339(edge.last_seen),
    )


def external_out(peer: ExternalPeerView) -> ExternalOut:
    return ExternalOut(
        service=peer.service,
        remote=str(peer.remote),
        connections=peer.connections,
        last_seen=rfc3339(peer.last_seen),
    )


def topology_out(
    view: TopologyView,
    center: str | None = None,
    depth: int | None = None,
    max_edges: int = 500,
) -> TopologyOut:
    hint = None
    if not view.services:
        hint = "No services reported yet: start an agent (`coral agent start`) or wait a push."
    elif not view.edges:
        hint = (
            "No service-to-service connections seen yet; an edge appears once a service"
            " holds a connection to another's listening port."
        )
    truncated = len(view.edges) > max_edges
    if truncated:
        hint = (
            f"Showing {max_edges} of {len(view.edges)} edges; pass service= and depth= to"
            " see the graph around one service."
        )
    return TopologyOut(
        center=center,
        depth=depth,
        services=list(view.services),
        edges=[edge_out(e) for e in view.edges[:max_edges]],
        external=[external_out(p) for p in view.external[:max_edges]],
        truncated=truncated,
        hint=hint,
    )


def point_out(point: MetricPoint) -> PointOut:
    return PointOut(
        ts=rfc3339(point.ts),
        avg=point.avg,
        min=point.min,
        max=point.max,
        p95=point.p95,
        last=point.last,
        count=point.count,
    )


class AgentOut(_Out):
    agent_id: str
    hostname: str
    version: str = Field(description="Coral version the agent runs.")
    state: Literal["online", "stale", "offline"] = Field(
        description="online: streaming; stale: silent for a while or reconnecting;"
        " offline: gone (silent past the offline threshold, or disconnected)."
    )
    last_seen: str = Field(description="Newest data or heartbeat from the agent, RFC 3339 UTC.")
    address: str | None = Field(description="Where its stream came from.")
    committed_seq: int = Field(description="Highest message sequence stored from it.")


class IngestOut(_Out):
    messages_per_s: float = Field(description="Agent messages stored per second (last minute).")
    points_per_s: float = Field(description="Series points (summaries) stored per second.")


class StorageOut(_Out):
    disk_bytes: int = Field(description="DuckDB file and write-ahead log on disk.")
    rolled_up_to: str | None = Field(description="Hourly roll-ups cover every hour before this.")
    raw_retention_days: float
    hourly_retention_days: float
    events_retention_days: float


class ColonyStatusOut(_Out):
    version: str
    started_at: str
    uptime_s: float
    agents_by_state: dict[str, int] = Field(description="Number of agents per state.")
    agents: list[AgentOut]
    services: int = Field(description="Services known.")
    newest_data: str | None = Field(description="Most recent report from any agent.")
    ingest: IngestOut
    storage: StorageOut


class EventOut(_Out):
    ts: str = Field(description="When it happened, RFC 3339 UTC (millisecond precision).")
    service: str
    kind: str = Field(description="crash, restart, oom_kill, deploy, health_flip, ...")
    severity: Literal["info", "warning", "critical"]
    message: str
    attributes: dict[str, str]
    agent_id: str


class EventList(_Out):
    start: str = Field(description="Resolved range start, RFC 3339 UTC.")
    end: str = Field(description="Resolved range end, RFC 3339 UTC.")
    events: list[EventOut] = Field(description="Newest first.")
    count: int
    truncated: bool = Field(description="True when more events follow; pass next_cursor.")
    next_cursor: str | None
    hint: str | None = None


def agent_out(view: AgentStatusView) -> AgentOut:
    agent = view.agent
    return AgentOut(
        agent_id=agent.agent_id,
        hostname=agent.hostname,
        version=agent.agent_version,
        state=view.state,  # type: ignore[arg-type]
        last_seen=rfc3339(agent.last_seen),
        address=agent.peer,
        committed_seq=agent.committed_seq,
    )


def status_out(view: ColonyStatusView, now: datetime) -> ColonyStatusOut:
    by_state = {"online": 0, "stale": 0, "offline": 0}
    for agent in view.agents:
        by_state[agent.state] = by_state.get(agent.state, 0) + 1
    newest = max((a.agent.last_seen for a in view.agents), default=None)
    return ColonyStatusOut(
        version=view.version,
        started_at=rfc3339(view.started_at),
        uptime_s=round((now - view.started_at).total_seconds(), 1),
        agents_by_state=by_state,
        agents=[agent_out(a) for a in view.agents],
        services=view.services,
        newest_data=rfc3339(newest) if newest else None,
        ingest=IngestOut(
            messages_per_s=round(view.messages_per_s, 3),
            points_per_s=round(view.points_per_s, 1),
        ),
        storage=StorageOut(
            disk_bytes=view.disk_bytes,
            rolled_up_to=rfc3339(view.rolled_up_to) if view.rolled_up_to else None,
            raw_retention_days=view.raw_retention_days,
            hourly_retention_days=view.hourly_retention_days,
            events_retention_days=view.events_retention_days,
        ),
    )


def event_out(view: EventView) -> EventOut:
    e = view.event
    ts = datetime.fromtimestamp(e.ts_ms / 1000, UTC)
    return EventOut(
        ts=ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{e.ts_ms % 1000:03d}Z",
        service=e.service,
        kind=e.kind,
        severity=e.severity.value,
        message=e.message,
        attributes=dict(e.attributes),
        agent_id=view.agent_id,
    )


class MetricGlanceOut(_Out):
    metric: str
    latest: float = Field(description="Newest value.")
    avg: float = Field(description="Average over the span.")
    min: float
    max: float
    last_seen: str
    baseline: float | None = Field(
        default=None, description="Normal level (learned median; this hour's when known)."
    )
    baseline_spread: float | None = Field(default=None, description="Normal spread (1 'sigma').")
    deviation: float | None = Field(
        default=None,
        description="(latest - baseline) / spread: beyond about 3 is abnormal.",
    )


class MetricList(_Out):
    service: str
    since: str = Field(description="Start of the span the figures cover, RFC 3339 UTC.")
    metrics: list[MetricGlanceOut]
    hint: str | None = None


class HealthOut(_Out):
    healthy: bool | None = Field(description="Last health-check verdict; null if none ran.")
    check: str | None = Field(description="Which health check said so.")
    since: str | None = Field(description="When the verdict last changed.")
    detail: str | None = None


class AgentStateOut(_Out):
    agent_id: str
    state: Literal["online", "stale", "offline"]


class ServiceDetail(_Out):
    name: str
    status: Literal["up", "down", "stale"] = Field(
        description="up: processes running and recently reported; down: none found;"
        " stale: not reported for over 2 minutes."
    )
    health: HealthOut
    version: str | None = Field(
        description="Newest version named by a deploy event or reported by the service's SDK."
    )
    last_deploy: str | None = Field(description="Time of the last deploy/version change event.")
    build: dict[str, str] = Field(
        default_factory=dict,
        description="Build metadata the service's SDK reported (commit, branch, build_time,"
        " language); empty without the SDK.",
    )
    components: dict[str, bool] = Field(
        default_factory=dict,
        description="Latest health of each named component (SDK or health payload): true"
        " healthy, false not.",
    )
    agents: list[AgentStateOut] = Field(description="Agents watching it and their state.")
    pids: list[int]
    listen: list[str]
    last_seen: str
    calls: list[str] = Field(description="Services it depends on (it connects to them).")
    called_by: list[str] = Field(description="Services that depend on it.")
    metrics: list[MetricGlanceOut] = Field(description="Each metric over the last hour.")
    recent_events: list[EventOut] = Field(description="Its newest events (24 h), newest first.")


class AgentDetail(_Out):
    service: str
    agent_id: str = Field(description="The agent that answered.")
    kind: Literal["samples", "connections", "processes", "events"]
    start: str | None = Field(description="Resolved range start (samples, events).")
    end: str | None = Field(description="Resolved range end (samples, events).")
    truncated: bool = Field(description="True when the agent cut the result to the limit.")
    result: dict[str, Any] = Field(description="What the agent holds; shape depends on kind.")


def glance_out(glance: MetricGlance, normal: tuple[float, float] | None = None) -> MetricGlanceOut:
    """A metric glance, compared with its baseline (centre, spread) when one is given."""
    out = MetricGlanceOut(
        metric=glance.metric,
        latest=glance.latest,
        avg=glance.avg,
        min=glance.min,
        max=glance.max,
        last_seen=rfc3339(glance.last_seen),
    )
    if normal is not None:
        center, spread = normal
        out.baseline, out.baseline_spread = center, spread
        out.deviation = round((glance.latest - center) / spread, 2) if spread > 0 else None
    return out
