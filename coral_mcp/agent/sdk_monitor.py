"""Turns what services' SDKs say into samples and events, one sample at a time.

For every watched service the monitor asks the SDK endpoint of its processes (the
lowest pid that has one answers) and reports:
- a `component_health:NAME` series per component (1 healthy, 0 not);
- a `service_info` event when the SDK is first seen and whenever its version or build
  changes, carrying `version`, the build fields and the SDK's own service name;
- a `deploy` event when the version or commit changes, carrying both, old and new;
- a `health_flip` event naming the component when a component's verdict changes.
Services without an SDK cost one failed `stat` per process when first seen, and again
every ABSENT_RECHECK_S (an SDK started late is still found).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from coral_mcp.agent.collectors.sdk import SdkInfo, SdkProbe
from coral_mcp.models import Event, EventKind, Sample, Severity
from coral_mcp.models.metrics import component_health

#: A process without an SDK socket is looked at again after this long.
ABSENT_RECHECK_S = 60.0


@dataclass(slots=True)
class _Known:
    identity: tuple[str | None, tuple[tuple[str, str], ...]] | None = None
    healthy: dict[str, bool] = field(default_factory=dict)


class SdkMonitor:
    def __init__(self, probe: SdkProbe | None = None) -> None:
        self.probe = probe or SdkProbe()
        self._known: dict[str, _Known] = {}
        #: pid -> when to look again for the SDK socket it did not have
        self._absent_until: dict[int, float] = {}

    def observe(
        self, now_s: float, services: Mapping[str, Sequence[int]]
    ) -> tuple[list[Sample], list[Event]]:
        """Ask each service's SDK (concurrently); the samples and events it gives."""
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
