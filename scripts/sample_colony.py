"""A small, fixed colony for documentation examples: web -> api -> db, one cache.

Implements CoralData with canned values at a fixed time, so generated examples are
the same on every run. Used only by scripts/gen_docs.py.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from coral_mcp.errors import QueryError
from coral_mcp.models import (
    AgentStatusView,
    AgentView,
    ColonyStatusView,
    DetailQuery,
    EdgeView,
    Endpoint,
    Event,
    EventView,
    ExternalPeerView,
    MetricGlance,
    MetricPoint,
    QueryReply,
    ServiceView,
    Severity,
    TopologyView,
)
from coral_mcp.models.intelligence import (
    AnomalyView,
    BaselineView,
    CorrelationView,
    EvidenceItem,
    FaultKind,
    Hypothesis,
    InvestigationResult,
    Outcome,
)

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
AGENT = "host-a-3f9c2d1e"


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


class SampleData:
    def now(self) -> datetime:
        return NOW

    def service_stale_after(self) -> timedelta:
        return timedelta(minutes=2)

    async def services(self, names: Sequence[str] | None = None) -> list[ServiceView]:
        latest = {
            "api": (("cpu_percent", 41.5), ("rss_bytes", 512.0e6), ("threads", 24.0)),
            "db": (("cpu_percent", 12.0), ("rss_bytes", 1.2e9), ("threads", 40.0)),
            "web": (("cpu_percent", 3.1), ("rss_bytes", 88.0e6), ("threads", 8.0)),
        }
        ports = {"api": 8080, "db": 5432, "web": 8000}
        return [
            ServiceView(
                name=name,
                agents=(AGENT,),
                specs=(f"port:{ports[name]}",),
                pids=(4100 + i,),
                listen=(Endpoint("10.0.0.5", ports[name]),),
                first_seen=NOW - timedelta(days=3),
                last_seen=NOW - timedelta(seconds=9),
                latest=latest[name],
            )
            for i, name in enumerate(sorted(latest))
            if names is None or name in names
        ]

    async def service_names(self) -> list[str]:
        return ["api", "db", "web"]

    async def metric_names(self, service: str) -> list[str]:
        return ["cpu_percent", "rss_bytes", "threads"]

    async def has_service(self, name: str) -> bool:
        return name in await self.service_names()

    async def topology(
        self, around: str | None = None, depth: int = 1, limit: int = 500
    ) -> TopologyView:
        seen = NOW - timedelta(seconds=9)
        edges = (
            EdgeView("api", "db", 8, NOW - timedelta(days=3), seen),
            EdgeView("web", "api", 4, NOW - timedelta(days=3), seen),
        )
        reached = {"api", "db", "web"}
        if around is not None:
            reached = {around}
            for _ in range(depth):
                reached |= {e.callee for e in edges if e.caller in reached}
                reached |= {e.caller for e in edges if e.callee in reached}
        return TopologyView(
            services=tuple(sorted(reached)),
            edges=tuple(e for e in edges if e.caller in reached and e.callee in reached),
            external=tuple(
                x
                for x in (ExternalPeerView("api", Endpoint("10.0.9.20", 6379), 2, seen),)
                if x.service in reached
            ),
        )

    async def metric_series(
        self, service: str, metric: str, start: datetime, end: datetime, step_s: int
    ) -> list[MetricPoint]:
        points = []
        at = end - timedelta(seconds=3 * step_s)
        for i in range(3):
            base = 400.0e6 + i * 20.0e6
            points.append(
                MetricPoint(at + timedelta(seconds=i * step_s), base, base - 5e6, base + 8e6,
                            base + 6e6, base + 2e6, 4)
            )  # fmt: skip
        return points

    async def events(
        self,
        start: datetime,
        end: datetime,
        service: str | None,
        kinds: Sequence[str] | None,
        limit: int,
        offset: int = 0,
    ) -> list[EventView]:
        every = [
            Event(_ms(NOW - timedelta(minutes=4)), "api", "restart", Severity.WARNING,
                  "restarted as pid 4100", (("pid", "4100"), ("previous_pid", "3977"))),
            Event(_ms(NOW - timedelta(minutes=5)), "api", "health_flip", Severity.CRITICAL,
                  "http is now unhealthy (HTTP 503)",
                  (("check", "http"), ("detail", "HTTP 503"), ("healthy", "false"))),
            Event(_ms(NOW - timedelta(minutes=12)), "api", "deploy", Severity.INFO,
                  "version changed from 2.2.5 to 2.3.0",
                  (("new_version", "2.3.0"), ("old_version", "2.2.5"), ("source", "http"))),
        ]  # fmt: skip
        chosen = [
            EventView(AGENT, e)
            for e in every
            if (service is None or e.service == service) and (not kinds or e.kind in kinds)
        ]
        return chosen[offset : offset + limit]

    async def agents(self) -> list[AgentStatusView]:
        agent = AgentView(AGENT, "host-a", "0.1.0", "ipv4:10.0.0.5:51012",
                          NOW - timedelta(days=3), NOW - timedelta(seconds=4), 18422)  # fmt: skip
        return [AgentStatusView(agent, "online")]

    def agent_states(self, agent_ids: Sequence[str]) -> dict[str, str]:
        return {a: "online" if a == AGENT else "offline" for a in agent_ids}

    async def status(self) -> ColonyStatusView:
        return ColonyStatusView(
            version="0.1.0",
            started_at=NOW - timedelta(hours=5),
            agents=tuple(await self.agents()),
            services=3,
            messages_per_s=0.13,
            points_per_s=2.4,
            disk_bytes=48_234_496,
            rolled_up_to=NOW.replace(minute=0),
            raw_retention_days=7,
            hourly_retention_days=90,
            events_retention_days=180,
        )

    async def metric_glance(self, service: str, since: datetime) -> list[MetricGlance]:
        seen = NOW - timedelta(seconds=9)
        return [
            MetricGlance("cpu_percent", 41.5, 22.0, 3.0, 97.0, seen),
            MetricGlance("rss_bytes", 512.0e6, 430.0e6, 395.0e6, 515.0e6, seen),
        ]

    async def recent_metrics(self, service: str, since: datetime) -> list[MetricGlance]:
        return await self.metric_glance(service, since)

    async def query_agent(self, agent_id: str, query: DetailQuery, timeout_s: float) -> QueryReply:
        if query.kind.value != "connections":
            raise QueryError("the sample colony only answers connections")
        doc = {
            "service": query.service,
            "observed_ms": _ms(NOW),
            "pids": [4100],
            "listen": ["10.0.0.5:8080"],
            "peers": [{"remote": "10.0.0.5:5432", "connections": 8}],
        }
        return QueryReply(query.query_id, json=json.dumps(doc))

    async def baselines(self, service: str | None) -> list[BaselineView]:
        week = (NOW - timedelta(days=7, hours=1), NOW - timedelta(hours=1))
        every = [
            BaselineView("api", "cpu_percent", -1, 18.0, 4.5, 40_320, *week),
            BaselineView("api", "rss_bytes", -1, 410.0e6, 6.0e6, 40_320, *week),
            BaselineView("db", "cpu_percent", -1, 11.0, 2.0, 40_320, *week),
        ]
        return [b for b in every if service is None or b.service == service]

    async def anomalies(
        self, start: datetime, end: datetime, service: str | None, limit: int
    ) -> list[AnomalyView]:
        every = [
            AnomalyView("an-7f3a", "api", "cpu_percent", "level_shift",
                        NOW - timedelta(minutes=11), NOW - timedelta(minutes=9), 17.4, 96.0,
                        18.0, "cpu_percent rose from 18 to 96 (robust z 17.4)"),
        ]  # fmt: skip
        return [a for a in every if service in (None, a.service)][:limit]

    async def correlations(self, limit: int) -> list[CorrelationView]:
        return [
            CorrelationView("co-91c2", NOW - timedelta(minutes=8), NOW - timedelta(minutes=12),
                            NOW - timedelta(minutes=3), ("api", "web"), ("an-7f3a",),
                            "api: bad_deploy (0.87)"),
        ][:limit]  # fmt: skip

    async def investigate(
        self,
        question: str | None,
        start: datetime,
        end: datetime,
        service: str | None,
        metric: str | None = None,
    ) -> InvestigationResult:
        deploy = EvidenceItem(
            NOW - timedelta(minutes=12),
            "api",
            "deploy",
            None,
            "version changed from 2.2.5 to 2.3.0, 1 min before the onset",
        )
        cpu = EvidenceItem(
            NOW - timedelta(minutes=11),
            "api",
            "cpu_percent",
            96.0,
            "cpu_percent 96 against a normal 18 (robust z 17.4)",
        )
        db = EvidenceItem(
            NOW - timedelta(minutes=11),
            "db",
            "cpu_percent",
            11.0,
            "its dependency db stayed normal",
        )
        hypothesis = Hypothesis("api", FaultKind.BAD_DEPLOY, 0.87, NOW - timedelta(minutes=11),
                                (deploy, cpu, db), (),
                                "roll back api from 2.3.0 to 2.2.5")  # fmt: skip
        return InvestigationResult(
            id="inv-20261124-1200-5d1e",
            created_at=NOW,
            question=question,
            service=service,
            start=start,
            end=end,
            outcome=Outcome.HYPOTHESES,
            hypotheses=(hypothesis,),
            summary="api went wrong first (cpu_percent, 11:49) right after its deploy of 2.3.0",
            anomalies=tuple(await self.anomalies(start, end, None, 10)),
            duration_ms=41.0,
        )

    async def investigation(self, investigation_id: str) -> dict[str, Any] | None:
        return None

    async def recent_investigations(self, limit: int) -> list[dict[str, Any]]:
        return []
