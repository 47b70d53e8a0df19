"""One service in depth: get_service and list_metrics."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import Field

from coral_mcp.errors import QueryError
from coral_mcp.models import EventKind, EventView
from coral_mcp.models.metrics import COMPONENT_HEALTH
from coral_mcp.models.timerange import parse_time, rfc3339
from coral_mcp.tools.data import CoralData
from coral_mcp.tools.params import RANGE_FORMS, Detail, Service
from coral_mcp.tools.registry import tool
from coral_mcp.tools.schemas import (
    HealthOut,
    MetricGlanceOut,
    MetricList,
    ServiceDetail,
    ServiceOut,
)
from coral_mcp.tools.services import require_service

RECENT_EVENTS = 10
HISTORY = timedelta(days=30)  # how far back health and version are looked up
BUILD_FIELDS = ("commit", "branch", "build_time", "language")


async def normals(data: CoralData, service: str, now: datetime) -> dict[str, tuple[float, float]]:
    """metric -> (centre, spread) of its baseline: this UTC hour's if learned, else overall."""
    chosen: dict[str, tuple[int, float, float]] = {}
    for b in await data.baselines(service):
        if b.hour_of_day not in (-1, now.hour):
            continue
        if b.metric not in chosen or b.hour_of_day == now.hour:
            chosen[b.metric] = (b.hour_of_day, b.center, b.spread)
    return {metric: (center, spread) for metric, (_, center, spread) in chosen.items()}


def _time(view: EventView) -> datetime:
    return datetime.fromtimestamp(view.event.ts_ms / 1000, UTC)


def _health(events: list[EventView]) -> HealthOut:
    for view in events:  # newest first
        if view.event.kind == EventKind.HEALTH_FLIP:
            attrs = dict(view.event.attributes)
            return HealthOut(
                healthy=attrs.get("healthy") == "true",
                check=attrs.get("check"),
                since=_time(view),
                detail=attrs.get("detail") or view.event.message,
            )
    return HealthOut(healthy=None, check=None, since=None, detail="no health check reported")


def _named_version(view: EventView) -> str | None:
    """The version a deploy (or the SDK's report) names, if it names one."""
    if view.event.kind == EventKind.DEPLOY:
        return view.event.versions()[0]
    if view.event.kind == EventKind.SERVICE_INFO:
        return dict(view.event.attributes).get("version")
    return None


def _version(events: list[EventView]) -> tuple[str | None, datetime | None]:
    """(newest version named by a deploy event or the SDK, time of the newest deploy)."""
    deploys = [v for v in events if v.event.kind == EventKind.DEPLOY]
    version = next((found for found in map(_named_version, events) if found), None)
    return version, _time(deploys[0]) if deploys else None


def _build(events: list[EventView]) -> dict[str, str]:
    """Build fields of the newest SDK report."""
    for view in events:  # newest first
        if view.event.kind == EventKind.SERVICE_INFO:
            attrs = dict(view.event.attributes)
            return {k: attrs[k] for k in BUILD_FIELDS if k in attrs}
    return {}


#: Metrics in get_service's summary: the furthest from normal (a busy service has dozens).
BRIEF_METRICS = 12


def _brief(metrics: list[MetricGlanceOut]) -> list[MetricGlanceOut]:
    """The BRIEF_METRICS metrics furthest from their baseline (unknown ones last)."""
    ranked = sorted(
        metrics,
        key=lambda m: (m.deviation is None, -abs(m.deviation or 0.0), m.metric),
    )
    return ranked[:BRIEF_METRICS]


@tool(20, rest="service")
async def get_service(data: CoralData, name: Service, detail: Detail = False) -> ServiceDetail:
    """Everything about one service at a glance: status, last health-check verdict,
    version and last deploy, agents and their state, what it calls and what calls
    it, each metric reported in the last hour (latest; average, min and max since the
    previous full hour began) and its newest events (details with detail=true)."""
    await require_service(data, name, "get_service")
    now = data.now()
    # Five independent reads at once (each on its own cursor): the call waits for the
    # slowest, not for their sum.
    views, history, topology, normal, glances = await asyncio.gather(
        data.services([name]),
        data.events(now - HISTORY, now, name, None, 500),
        data.topology(around=name, depth=1),
        normals(data, name, now),
        data.recent_metrics(name, now - timedelta(hours=1)),
    )
    view = next(v for v in views if v.name == name)
    states = data.agent_states(view.agents)
    version, last_deploy = _version(history)
    summary = ServiceOut.of(view, now, data.service_stale_after())
    recent = [v for v in history if now - timedelta(hours=24) <= _time(v)]
    metrics = [MetricGlanceOut.of(g, normal.get(g.metric)) for g in glances]
    shown = metrics if detail else _brief(metrics)
    found = ServiceDetail.model_validate(
        {
            "name": name,
            "status": summary.status,
            "health": _health(history),
            "version": version,
            "last_deploy": last_deploy,
            "build": _build(history),
            "components": {
                metric.removeprefix(COMPONENT_HEALTH): value >= 0.5
                for metric, value in view.latest
                if metric.startswith(COMPONENT_HEALTH)
            },
            "agents": [{"agent_id": a, "state": states.get(a, "offline")} for a in view.agents],
            "pids": summary.pids,
            "listen": summary.listen,
            "last_seen": summary.last_seen,
            "calls": sorted({e.callee for e in topology.edges if e.caller == name}),
            "called_by": sorted({e.caller for e in topology.edges if e.callee == name}),
            "metrics": shown,
            "metrics_left_out": len(metrics) - len(shown),
            "recent_events": recent[:RECENT_EVENTS],
        }
    )
    if detail:
        return found
    return found.model_copy(update={"recent_events": [e.brief() for e in found.recent_events]})


@tool(30)
async def list_metrics(
    data: CoralData,
    service: Service,
    since: Annotated[
        str | None, Field(description=f"Span start: {RANGE_FORMS} Default 24h.")
    ] = None,
) -> MetricList:
    """The metrics a service has reported recently, each with its latest value,
    and average, min and max over whole UTC hours from the one holding `since`: use
    the names with query_metrics."""
    await require_service(data, service, "list_metrics")
    now = data.now()
    start = parse_time(since, now) if since is not None else now - timedelta(hours=24)
    if start >= now:
        raise QueryError(
            f"list_metrics: since {rfc3339(start)} is not in the past",
            hint="use a relative form such as since='24h'",
        )
    glances, normal = await asyncio.gather(
        data.metric_glance(service, start), normals(data, service, now)
    )
    hint = None
    if not glances:
        hint = (
            f"No metrics for {service} since {rfc3339(start)}; its processes may be down"
            " (see get_service) or try since='7d'."
        )
    return MetricList(
        service=service,
        since=start,
        metrics=[MetricGlanceOut.of(g, normal.get(g.metric)) for g in glances],
        hint=hint,
    )
