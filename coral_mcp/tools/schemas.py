"""Typed results of Coral's MCP tools (their output schemas) and how views map to them.

Field descriptions are part of what the model reads: keep them concrete.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    model_validator,
)

from coral_mcp.models import (
    AgentStatusView,
    ColonyStatusView,
    EventView,
    MetricGlance,
    ServiceView,
    TopologyView,
)
from coral_mcp.models.timerange import rfc3339

#: A time: an aware datetime inside, RFC 3339 UTC (seconds) on the wire.
Timestamp = Annotated[
    datetime, PlainSerializer(rfc3339, return_type=str), WithJsonSchema({"type": "string"})
]
#: An address or other value shown as its text (an Endpoint becomes "ip:port").
Text = Annotated[str, BeforeValidator(str)]


def rounded(digits: int) -> Any:
    """A float rounded to `digits` places as it is validated."""
    return BeforeValidator(lambda value: round(float(value), digits))


class OutModel(BaseModel):
    """Base of every tool result: unknown fields are a bug, not data. Results validate
    from the colony's views (their attributes), so a result is `Out.model_validate(view)`."""

    model_config = ConfigDict(extra="forbid", from_attributes=True)


_Out = OutModel


#: The metrics a service summary shows (with any metric about health or latency).
SUMMARY_METRICS = frozenset(
    {"cpu_percent", "rss_bytes", "fds", "threads", "connections_in", "connections_out"}
)


def is_main_metric(name: str) -> bool:
    """Whether a service summary shows metric `name`."""
    return name in SUMMARY_METRICS or name.startswith(("health", "latency", "up"))


class ServiceOut(_Out):
    name: str = Field(description="Service name, as used by every other tool.")
    status: Literal["up", "down", "stale"] = Field(
        description="up: processes running and recently reported; down: no process found;"
        " stale: not reported for longer than the colony's --offline-after (default 120 s)."
    )
    agents: list[str] = Field(description="Agents (hosts) that watch this service.")
    pids: list[int] = Field(description="Process ids currently making up the service.")
    listen: list[Text] = Field(description="Listening TCP addresses, ip:port.")
    last_seen: Timestamp = Field(description="Last report, RFC 3339 UTC.")
    metrics: dict[str, float] = Field(
        description="Latest value of the main metrics (cpu_percent, rss_bytes, fds, threads,"
        " connections, health); of every metric with detail=true."
    )

    @classmethod
    def of(
        cls, view: ServiceView, now: datetime, stale_after: timedelta, detail: bool = True
    ) -> ServiceOut:
        """The service with its status: stale when not reported for `stale_after`; without
        `detail`, only its main metrics (SUMMARY_METRICS, and health ones)."""
        fresh = now - view.last_seen <= stale_after
        status = ("up" if view.pids else "down") if fresh else "stale"
        return cls.model_validate(
            {
                "name": view.name,
                "status": status,
                "agents": view.agents,
                "pids": view.pids,
                "listen": view.listen,
                "last_seen": view.last_seen,
                "metrics": {
                    name: value for name, value in view.latest if detail or is_main_metric(name)
                },
            }
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
    first_seen: Timestamp
    last_seen: Timestamp


class ExternalOut(_Out):
    service: str = Field(description="Service holding the connections.")
    remote: Text = Field(description="Remote ip:port that is no known service (database, API).")
    connections: int
    last_seen: Timestamp


class TopologyOut(_Out):
    center: str | None = Field(description="The service the graph is drawn around, if any.")
    depth: int | None = Field(description="Hops from the center included, if any.")
    services: list[str] = Field(description="Services in the graph (nodes).")
    edges: list[EdgeOut] = Field(description="caller -> callee dependencies seen on the wire.")
    external: list[ExternalOut] = Field(
        description="Outbound connections to addresses outside the watched services."
    )
    truncated: bool = Field(
        description="True when services, edges or external peers were cut to the bound."
    )
    hint: str | None = None

    @classmethod
    def of(
        cls,
        view: TopologyView,
        center: str | None = None,
        depth: int | None = None,
        max_items: int = 500,
    ) -> TopologyOut:
        """The graph with at most `max_items` services, edges and external peers each
        (a view may hold one more of each, to say that more exist)."""
        hint = None
        if not view.services:
            hint = "No services reported yet: start an agent (`coral agent start`) or wait a push."
        elif not view.edges:
            hint = (
                "No service-to-service connections seen yet; an edge appears once a service"
                " holds a connection to another's listening port."
            )
        cut = [
            what
            for what, items in (
                ("services", view.services),
                ("edges", view.edges),
                ("external peers", view.external),
            )
            if len(items) > max_items
        ]
        if cut:
            hint = (
                f"Showing the first {max_items} {' and '.join(cut)} of more;"
                + (" pass service= and depth= to see" if center is None else " lower depth to see")
                + " the graph around one service."
            )
        return cls.model_validate(
            {
                "center": center,
                "depth": depth,
                "services": view.services[:max_items],
                "edges": view.edges[:max_items],
                "external": view.external[:max_items],
                "truncated": bool(cut),
                "hint": hint,
            }
        )


class PointOut(_Out):
    ts: Timestamp = Field(description="Bucket start, RFC 3339 UTC.")
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
    start: Timestamp = Field(description="Resolved range start, RFC 3339 UTC.")
    end: Timestamp = Field(description="Resolved range end, RFC 3339 UTC.")
    step_s: int = Field(description="Bucket width in seconds.")
    points: list[PointOut]
    hint: str | None = None


class AgentOut(_Out):
    agent_id: str
    hostname: str
    version: str = Field(description="Coral version the agent runs.")
    state: Literal["online", "stale", "offline"] = Field(
        description="online: streaming; stale: silent for a while or reconnecting;"
        " offline: gone (silent past the offline threshold, or disconnected)."
    )
    last_seen: Timestamp = Field(
        description="Newest data or heartbeat from the agent, RFC 3339 UTC."
    )
    address: str | None = Field(description="Where its stream came from.")
    committed_seq: int = Field(description="Highest message sequence stored from it.")

    @model_validator(mode="before")
    @classmethod
    def _from_view(cls, value: Any) -> Any:
        if not isinstance(value, AgentStatusView):
            return value
        agent = value.agent
        return {
            "agent_id": agent.agent_id,
            "hostname": agent.hostname,
            "version": agent.agent_version,
            "state": value.state,
            "last_seen": agent.last_seen,
            "address": agent.peer,
            "committed_seq": agent.committed_seq,
        }


class AgentList(_Out):
    agents: list[AgentOut]
    count: int


class IngestOut(_Out):
    messages_per_s: float = Field(description="Agent messages stored per second (last minute).")
    points_per_s: float = Field(description="Series points (summaries) stored per second.")


class StorageOut(_Out):
    disk_bytes: int = Field(description="DuckDB file and write-ahead log on disk.")
    rolled_up_to: Timestamp | None = Field(
        description="Hourly roll-ups cover every hour before this."
    )
    raw_retention_days: float
    hourly_retention_days: float
    events_retention_days: float
    failing: str | None = Field(
        default=None,
        validation_alias=AliasChoices("failing", "storage_failing"),
        description='Why writes fail right now ("no space"): nothing is acknowledged and'
        " agents keep their backlog until it clears; null while storage works.",
    )


class ColonyStatusOut(_Out):
    version: str
    started_at: Timestamp
    uptime_s: float
    agents_by_state: dict[str, int] = Field(description="Number of agents per state.")
    agents: list[AgentOut] = Field(
        description="Agents, those not online first (offline, then stale), up to the limit."
    )
    agents_left_out: int = Field(
        default=0, description="Agents not listed (over the limit): raise limit to see them."
    )
    services: int = Field(description="Services known.")
    newest_data: Timestamp | None = Field(description="Most recent report from any agent.")
    ingest: IngestOut
    storage: StorageOut

    @classmethod
    def of(cls, view: ColonyStatusView, now: datetime, limit: int | None = None) -> ColonyStatusOut:
        """The status; with `limit`, at most that many agents listed, the ones that need
        attention (offline, stale) first."""
        by_state = {"online": 0, "stale": 0, "offline": 0}
        for agent in view.agents:
            by_state[agent.state] = by_state.get(agent.state, 0) + 1
        order = {"offline": 0, "stale": 1, "online": 2}
        listed = sorted(view.agents, key=lambda a: (order.get(a.state, 0), a.agent.agent_id))
        if limit is not None:
            listed = listed[:limit]
        return cls.model_validate(
            {
                "version": view.version,
                "started_at": view.started_at,
                "uptime_s": round((now - view.started_at).total_seconds(), 1),
                "agents_by_state": by_state,
                "agents": listed,
                "agents_left_out": len(view.agents) - len(listed),
                "services": view.services,
                "newest_data": max((a.agent.last_seen for a in view.agents), default=None),
                "ingest": {
                    "messages_per_s": round(view.messages_per_s, 3),
                    "points_per_s": round(view.points_per_s, 1),
                },
                "storage": view,
            }
        )


def _rfc3339_ms(value: datetime) -> str:
    ms = value.microsecond // 1000
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms:03d}Z"


#: A time with millisecond precision on the wire (events).
TimestampMs = Annotated[
    datetime, PlainSerializer(_rfc3339_ms, return_type=str), WithJsonSchema({"type": "string"})
]


class EventOut(_Out):
    ts: TimestampMs = Field(description="When it happened, RFC 3339 UTC (millisecond precision).")
    service: str
    kind: str = Field(description="crash, restart, oom_kill, deploy, health_flip, ...")
    severity: Literal["info", "warning", "critical"]
    message: str
    attributes: dict[str, str] | None = Field(
        default=None, description="Details (exit code, pids, versions, peers); detail=true."
    )
    agent_id: str | None = Field(default=None, description="The reporting agent; detail=true.")

    def brief(self) -> EventOut:
        """The event without its details and agent (what a page shows by default)."""
        return self.model_copy(update={"attributes": None, "agent_id": None})

    @model_validator(mode="before")
    @classmethod
    def _from_view(cls, value: Any) -> Any:
        if not isinstance(value, EventView):
            return value
        e = value.event
        return {
            "ts": datetime.fromtimestamp(e.ts_ms // 1000, UTC).replace(
                microsecond=e.ts_ms % 1000 * 1000
            ),
            "service": e.service,
            "kind": e.kind,
            "severity": e.severity.value,
            "message": e.message,
            "attributes": dict(e.attributes),
            "agent_id": value.agent_id,
        }


class EventList(_Out):
    start: Timestamp = Field(description="Resolved range start, RFC 3339 UTC.")
    end: Timestamp = Field(description="Resolved range end, RFC 3339 UTC.")
    events: list[EventOut] = Field(description="Newest first.")
    count: int
    truncated: bool = Field(description="True when more events follow; pass next_cursor.")
    next_cursor: str | None
    hint: str | None = None


class MetricGlanceOut(_Out):
    metric: str
    latest: float = Field(description="Newest value.")
    avg: float = Field(description="Average over the span.")
    min: float
    max: float
    last_seen: Timestamp
    baseline: float | None = Field(
        default=None, description="Normal level (learned median; this hour's when known)."
    )
    baseline_spread: float | None = Field(default=None, description="Normal spread (1 'sigma').")
    deviation: float | None = Field(
        default=None,
        description="(latest - baseline) / spread: beyond about 3 is abnormal.",
    )

    @classmethod
    def of(cls, glance: MetricGlance, normal: tuple[float, float] | None) -> MetricGlanceOut:
        """A metric glance, compared with its baseline (centre, spread) when one is given."""
        out = cls.model_validate(glance)
        if normal is not None:
            center, spread = normal
            out.baseline, out.baseline_spread = center, spread
            out.deviation = round((glance.latest - center) / spread, 2) if spread > 0 else None
        return out


class MetricList(_Out):
    service: str
    since: Timestamp = Field(description="Start of the span the figures cover, RFC 3339 UTC.")
    metrics: list[MetricGlanceOut]
    hint: str | None = None


class HealthOut(_Out):
    healthy: bool | None = Field(description="Last health-check verdict; null if none ran.")
    check: str | None = Field(description="Which health check said so.")
    since: Timestamp | None = Field(description="When the verdict last changed.")
    detail: str | None = None


class AgentStateOut(_Out):
    agent_id: str
    state: Literal["online", "stale", "offline"]


class ServiceDetail(_Out):
    name: str
    status: Literal["up", "down", "stale"] = Field(
        description="up: processes running and recently reported; down: none found;"
        " stale: not reported for longer than the colony's --offline-after (default 120 s)."
    )
    health: HealthOut
    version: str | None = Field(
        description="Newest version named by a deploy event or reported by the service's SDK."
    )
    last_deploy: Timestamp | None = Field(
        description="Time of the last deploy/version change event."
    )
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
    last_seen: Timestamp
    calls: list[str] = Field(description="Services it depends on (it connects to them).")
    called_by: list[str] = Field(description="Services that depend on it.")
    metrics: list[MetricGlanceOut] = Field(
        description="Its metrics reported in the last hour (avg, min and max since the"
        " previous UTC hour began); the summary keeps those furthest from normal first"
        " (detail=true: every metric, by name)."
    )
    metrics_left_out: int = Field(
        default=0,
        description="Metrics not listed in the summary: list_metrics has them all.",
    )
    recent_events: list[EventOut] = Field(description="Its newest events (24 h), newest first.")


class AgentDetail(_Out):
    service: str
    agent_id: str = Field(description="The agent that answered.")
    kind: Literal["samples", "connections", "processes", "events"]
    start: Timestamp | None = Field(description="Resolved range start (samples, events).")
    end: Timestamp | None = Field(description="Resolved range end (samples, events).")
    truncated: bool = Field(description="True when the agent cut the result to the limit.")
    result: dict[str, Any] = Field(
        description="What the agent holds; shape depends on kind. samples: `metrics` names"
        " the columns of `rows`, each [time, value per metric]."
    )
