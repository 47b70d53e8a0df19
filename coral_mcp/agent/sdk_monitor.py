"""Turns what services' SDKs say into samples and events, one sample at a time.

For every watched service the monitor asks the SDK endpoint of its processes (the
lowest pid that has one answers) and reports:
- a `component_health:NAME` series per component (1 healthy, 0 not);
- a `service_info` event when the SDK is first seen and whenever its version or build
  changes, carrying `version`, the build fields and the SDK's own service name;
- a `deploy` event when the version or commit changes, carrying both, old and new;
- a `health_flip` event naming the component when a component's verdict changes.
The endpoints the SDK declares are used as configured ones would be: `health` polled
as an HTTP check (`health_up`, `health_latency_ms`, ...), `metrics` scraped as Prometheus
exposition, both on the agent's interval. Only plain HTTP on a loopback address is
followed (the agent does not go where a process tells it to), and not for services
whose checks or scrapes are configured.
Services without an SDK cost one failed `stat` per process when first seen, and again
every ABSENT_RECHECK_S (an SDK started late is still found).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from coral_mcp.agent.collectors.prometheus import Scraper
from coral_mcp.agent.collectors.sdk import SdkInfo, SdkProbe
from coral_mcp.agent.health_monitor import HealthMonitor
from coral_mcp.models import Event, EventKind, Sample, Severity
from coral_mcp.models.checks import CheckKind, HealthCheckSpec, ScrapeSpec
from coral_mcp.models.metrics import component_health

#: A process without an SDK socket is looked at again after this long.
ABSENT_RECHECK_S = 60.0
#: The declared endpoints the agent follows by itself.
FOLLOWED = ("health", "metrics")
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
#: Longest wait for a declared endpoint's answer (at most half the interval).
FOLLOW_TIMEOUT_S = 2.0


@dataclass(slots=True)
class _Known:
    identity: tuple[str | None, tuple[tuple[str, str], ...]] | None = None
    healthy: dict[str, bool] = field(default_factory=dict)


class SdkMonitor:
    def __init__(
        self, probe: SdkProbe | None = None, interval_s: float = 10.0, skip: Iterable[str] = ()
    ) -> None:
        """`skip`: services whose declared endpoints are not followed (theirs are
        configured)."""
        self.probe = probe or SdkProbe()
        self._known: dict[str, _Known] = {}
        #: pid -> when to look again for the SDK socket it did not have
        self._absent_until: dict[int, float] = {}
        self._interval_s = interval_s
        self._skip = frozenset(skip)
        #: service -> the (name, url) endpoints of its SDK that are followed
        self._declared: dict[str, tuple[tuple[str, str], ...]] = {}
        self._followed: dict[str, tuple[tuple[str, str], ...]] = {}
        self.health = HealthMonitor(())
        self.scraper = Scraper(())

    @property
    def following(self) -> frozenset[str]:
        """Services whose SDK-declared endpoints the agent polls (auto-probing them as
        well would poll the same URLs twice)."""
        return frozenset(self._followed)

    def observe(
        self, now_s: float, services: Mapping[str, Sequence[int]]
    ) -> tuple[list[Sample], list[Event]]:
        """Ask each service's SDK (concurrently), then poll the endpoints the SDKs
        declared where due; the samples and events they give."""
        samples, events = self._ask_all(now_s, services)
        self._declared = {n: used for n, used in self._declared.items() if services.get(n)}
        if self._declared != self._followed:
            self._follow()
        health_samples, health_events = self.health.run_due(now_s)
        samples += health_samples + self.scraper.run_due(now_s)
        # the SDK reports versions itself: a version in the health body is not a deploy
        events += [e for e in health_events if e.kind != EventKind.DEPLOY]
        return samples, events

    def _follow(self) -> None:
        self._followed = dict(self._declared)
        timeout = min(FOLLOW_TIMEOUT_S, self._interval_s / 2)
        followed = sorted((s, n, u) for s, used in self._followed.items() for n, u in used)
        checks = [
            HealthCheckSpec(s, CheckKind.HTTP, u, interval_s=self._interval_s, timeout_s=timeout)
            for s, name, u in followed
            if name == "health"
        ]
        scrapes = [
            ScrapeSpec(s, u, interval_s=self._interval_s, timeout_s=timeout)
            for s, name, u in followed
            if name == "metrics"
        ]
        self.health = HealthMonitor(checks, carry_from=self.health)
        self.scraper = Scraper(scrapes)

    def _ask_all(
        self, now_s: float, services: Mapping[str, Sequence[int]]
    ) -> tuple[list[Sample], list[Event]]:
        watched = {pid for pids in services.values() for pid in pids}
        self.probe.retain(watched)
        for pid in [p for p in self._absent_until if p not in watched]:
            del self._absent_until[pid]
        candidates = {
            name: path_pids
            for name, pids in services.items()
            if (path_pids := [p for p in sorted(pids) if self._has_sdk(p, now_s)])
        }
        if not candidates:
            return [], []
        names = list(candidates)
        if len(names) == 1:
            answers = [self._ask(candidates[names[0]])]
        else:
            with ThreadPoolExecutor(min(8, len(names)), thread_name_prefix="sdk") as pool:
                answers = list(pool.map(self._ask, (candidates[n] for n in names)))
        samples: list[Sample] = []
        events: list[Event] = []
        for name, info in zip(names, answers, strict=True):
            if info is None:
                continue
            samples += [
                Sample(now_s, name, component_health(c.name), 1.0 if c.healthy else 0.0)
                for c in info.components
            ]
            events += self._changes(int(now_s * 1000), name, info)
            if name not in self._skip and (used := _followed(info.endpoints)):
                self._declared[name] = used
            else:
                self._declared.pop(name, None)
        return samples, events

    def _has_sdk(self, pid: int, now_s: float) -> bool:
        if now_s < self._absent_until.get(pid, now_s):
            return False
        if self.probe.socket_of(pid) is None:
            self._absent_until[pid] = now_s + ABSENT_RECHECK_S
            return False
        self._absent_until.pop(pid, None)
        return True

    def _ask(self, pids: list[int]) -> SdkInfo | None:
        for pid in pids:
            info = self.probe.read(pid)
            if info is not None:
                return info
        return None

    def _changes(self, ts_ms: int, service: str, info: SdkInfo) -> list[Event]:
        known = self._known.setdefault(service, _Known())
        events: list[Event] = []
        identity = (info.version, info.build)
        if identity != known.identity:
            if known.identity is not None:
                events += _deploy(ts_ms, service, known.identity, info)
            events.append(_service_info(ts_ms, service, info))
            known.identity = identity
        for component in info.components:
            before = known.healthy.get(component.name)
            known.healthy[component.name] = component.healthy
            if before is not None and before != component.healthy:
                events.append(_flip(ts_ms, service, component.name, component.healthy,
                                    component.detail))  # fmt: skip
        return events


def _followed(endpoints: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """The declared endpoints the agent polls: health and metrics, plain HTTP on loopback."""
    return tuple((name, url) for name, url in endpoints if name in FOLLOWED and _loopback(url))


def _loopback(url: str) -> bool:
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a port that is not one
    except ValueError:
        return False
    return parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS


def _service_info(ts_ms: int, service: str, info: SdkInfo) -> Event:
    attrs: list[tuple[str, str]] = [("sdk_service", info.service), ("pid", str(info.pid))]
    if info.version:
        attrs.append(("version", info.version))
    attrs += info.build
    attrs += [(f"endpoint:{name}", url) for name, url in info.endpoints]
    commit = dict(info.build).get("commit")
    return Event(
        ts_ms,
        service,
        EventKind.SERVICE_INFO,
        Severity.INFO,
        f"{info.service} {info.version or '(no version)'}"
        + (f" at commit {commit[:12]}" if commit else "")
        + " reported by its SDK",
        tuple(attrs),
    )


def _deploy(
    ts_ms: int,
    service: str,
    before: tuple[str | None, tuple[tuple[str, str], ...]],
    info: SdkInfo,
) -> list[Event]:
    old_version, old_build = before
    old_commit, new_commit = dict(old_build).get("commit"), dict(info.build).get("commit")
    if old_version == info.version and old_commit == new_commit:
        return []  # only build time or branch changed: no new code
    attrs = [("source", "sdk")]
    attrs += [("old_version", old_version)] if old_version else []
    attrs += [("new_version", info.version)] if info.version else []
    attrs += [("old_commit", old_commit)] if old_commit else []
    attrs += [("new_commit", new_commit)] if new_commit else []
    return [
        Event(
            ts_ms,
            service,
            EventKind.DEPLOY,
            Severity.INFO,
            f"version changed from {old_version or '?'} to {info.version or '?'}"
            + (f" (commit {new_commit[:12]})" if new_commit else ""),
            tuple(attrs),
        )
    ]


def _flip(ts_ms: int, service: str, component: str, healthy: bool, detail: str) -> Event:
    verdict = "healthy" if healthy else "unhealthy"
    return Event(
        ts_ms,
        service,
        EventKind.HEALTH_FLIP,
        Severity.INFO if healthy else Severity.CRITICAL,
        f"component {component} is now {verdict}" + (f" ({detail})" if detail else ""),
        (
            ("check", f"component {component}"),
            ("component", component),
            ("healthy", str(healthy).lower()),
            ("detail", detail),
            ("source", "sdk"),
        ),
    )
