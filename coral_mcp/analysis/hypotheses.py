"""From ranked candidates to hypotheses: fault kind, evidence, counter-evidence, advice.

The fault kind is read from what was seen, most specific first: memory growing (leak),
repeated crashes (crash loop), a deploy just before (bad deploy), a service that stopped
reporting or flipped unhealthy (dependency down), file descriptors or connections near a
limit (resource exhaustion), CPU (saturation), latency, errors. Recommendations are
text for a person; nothing is executed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from coral_mcp.analysis.detect import MetricAnomaly
from coral_mcp.analysis.metric_names import MetricClass, metric_class
from coral_mcp.analysis.ranking import Candidate
from coral_mcp.models import Event
from coral_mcp.models.intelligence import EvidenceItem, FaultKind, Hypothesis


def _at(ts_s: float) -> datetime:
    return datetime.fromtimestamp(ts_s, UTC)


def fault_kind(c: Candidate) -> FaultKind:
    ups = {(metric_class(a.metric), a.kind) for a in c.anomalies if a.direction > 0}
    classes = {cls for cls, _ in ups}
    kinds = {e.kind for e in c.events}
    faults = sum(1 for e in c.events if e.kind in ("crash", "restart", "oom_kill"))
    stopped = any(a.kind == "stopped" for a in c.anomalies)
    if (MetricClass.MEMORY, "trend") in ups or (
        MetricClass.MEMORY in classes and "oom_kill" in kinds
    ):
        return FaultKind.MEMORY_LEAK
    if faults >= 2:
        return FaultKind.CRASH_LOOP
    if "deploy" in kinds:
        return FaultKind.BAD_DEPLOY
    if stopped or "health_flip" in kinds or c.lost_by:
        return FaultKind.DEPENDENCY_DOWN
    if classes & {MetricClass.FDS, MetricClass.CONNECTIONS}:
        return FaultKind.RESOURCE_EXHAUSTION
    if classes & {MetricClass.CPU, MetricClass.THROTTLE}:
        return FaultKind.CPU_SATURATION
    if MetricClass.ERRORS in classes and MetricClass.LATENCY not in classes:
        return FaultKind.ERROR_SPIKE
    if faults == 1:
        return FaultKind.CRASH_LOOP
    return FaultKind.LATENCY


def to_hypothesis(c: Candidate) -> Hypothesis:
    kind = fault_kind(c)
    return Hypothesis(
        service=c.service,
        kind=kind,
        confidence=round(c.confidence, 3),
        onset=None if c.onset_s is None else _at(c.onset_s),
        evidence=tuple(_evidence(c)),
        counter_evidence=tuple(_counter(c)),
        recommendation=recommend(c, kind),
    )


def _evidence(c: Candidate) -> list[EvidenceItem]:
    onset = _at(c.onset_s) if c.onset_s is not None else None
    items = [
        EvidenceItem(_at(a.onset_s), a.service, a.metric, a.value, f"{a.kind}: {a.detail}")
        for a in sorted(c.anomalies, key=lambda a: -a.score)[:5]
    ]
    items += [
        EvidenceItem(_at(e.ts_ms / 1000), e.service, e.kind, None, e.message or e.kind)
        for e in sorted(c.events, key=lambda e: e.ts_ms)[:5]
    ]
    items += [
        EvidenceItem(_at(e.ts_ms / 1000), e.service, e.kind, None, e.message) for e in c.lost_by[:3]
    ]
    if onset is not None and c.healthy_dependencies:
        deps = ", ".join(c.healthy_dependencies)
        items.append(
            EvidenceItem(
                onset, c.service, "topology", None, f"its dependencies are healthy: {deps}"
            )
        )
    if onset is not None and c.explained:
        callers = ", ".join(c.explained)
        n = float(len(c.explained))
        items.append(
            EvidenceItem(
                onset,
                c.service,
                "topology",
                n,
                f"explains later anomalies of dependents: {callers}",
            )
        )
    return items


def _counter(c: Candidate) -> list[EvidenceItem]:
    onset = _at(c.onset_s) if c.onset_s is not None else datetime.fromtimestamp(0, UTC)
    items = [
        EvidenceItem(
            onset, d, "topology", None, f"dependency {d} was anomalous no later than {c.service}"
        )
        for d in c.anomalous_dependencies
    ]
    if not c.events:
        items.append(
            EvidenceItem(
                onset,
                c.service,
                "changes",
                0.0,
                "no deploy, restart, crash or OOM kill in the 15 min before the onset",
            )
        )
    if not c.anomalies:
        items.append(
            EvidenceItem(onset, c.service, "metrics", 0.0, "no metric left its normal range")
        )
    return items


def _deploy(events: Sequence[Event]) -> Event | None:
    deploys = [e for e in events if e.kind == "deploy"]
    return deploys[-1] if deploys else None


def recommend(c: Candidate, kind: FaultKind) -> str:
    s = c.service
    deploy = _deploy(c.events)
    top: MetricAnomaly | None = max(c.anomalies, key=lambda a: a.score, default=None)
    if kind is FaultKind.BAD_DEPLOY and deploy is not None:
        attrs = dict(deploy.attributes)
        new, old = attrs.get("version"), attrs.get("previous_version")
        if new and old:
            return f"roll back {s} from {new} to {old}"
        return f"roll back the deploy of {s} at {_at(deploy.ts_ms / 1000):%H:%M:%S} UTC"
    if kind is FaultKind.MEMORY_LEAK:
        leak = next((a for a in c.anomalies if a.slope_per_s), None)
        rate = f" (rss grows {leak.slope_per_s * 3600:.3g}/h)" if leak and leak.slope_per_s else ""
        eta = (
            f"; limit in {leak.seconds_to_limit / 60:.0f} min"
            if leak and leak.seconds_to_limit
            else ""
        )
        return f"restart {s} to reclaim memory{rate}{eta}, then find the leak (heap profile)"
    if kind is FaultKind.CRASH_LOOP:
        return (
            f"read {s}'s exit status and last logs; roll back if a change preceded the first crash"
        )
    if kind is FaultKind.DEPENDENCY_DOWN:
        return f"bring {s} back (process, host, network); its callers fail until it returns"
    if kind is FaultKind.RESOURCE_EXHAUSTION and top is not None:
        return f"raise the {top.metric} limit of {s} or find what holds {top.metric} open"
    if kind is FaultKind.CPU_SATURATION:
        return f"give {s} more CPU or instances, or find its hot path (profile)"
    if kind is FaultKind.ERROR_SPIKE:
        return f"read {s}'s error logs from the onset on"
    return f"trace {s}'s slow requests from the onset on (profile, slow queries)"
