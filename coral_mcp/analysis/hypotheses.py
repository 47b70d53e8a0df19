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
from coral_mcp.analysis.metric_names import MetricClass, is_dependency_latency, metric_class
from coral_mcp.analysis.ranking import Candidate
from coral_mcp.models import Event
from coral_mcp.models.intelligence import EvidenceItem, FaultKind, Hypothesis


def _at(ts_s: float) -> datetime:
    return datetime.fromtimestamp(ts_s, UTC)


#: Services named in one piece of evidence at most (a colony may have thousands).
NAMED = 10


def named(services: Sequence[str], most: int = NAMED) -> str:
    """`services` as 'a, b, c', the first `most` of them and how many more."""
    shown = ", ".join(services[:most])
    left = len(services) - most
    return f"{shown} and {left} more" if left > 0 else shown


#: A process fault this close to a deploy of the same service is part of the deploy.
DEPLOY_RESTART_S = 120.0
#: Event kinds that are a process failing (a restart is the recovery, not a failure).
FAILURES = frozenset({"crash", "oom_kill", "exit"})
#: Changes listed first among the evidence (the change that came before the symptom).
PRIORS_FIRST = frozenset({"deploy", "oom_kill"})
#: Event kinds that are a service running again.
COMEBACKS = frozenset({"restart", "start", "deploy"})


def failures(events: Sequence[Event]) -> list[Event]:
    """Crashes, OOM kills and exits that are not a deploy's restart."""
    deploys = [e.ts_ms for e in events if e.kind == "deploy"]
    return [
        e
        for e in events
        if e.kind in FAILURES
        and not any(abs(e.ts_ms - d) <= DEPLOY_RESTART_S * 1000 for d in deploys)
    ]


def fault_kind(c: Candidate, symptom_metric: str | None = None) -> FaultKind:
    """The fault kind from the evidence, most specific first (docs/intelligence.md
    documents each rule and the evidence it needs)."""
    ups = {(metric_class(a.metric), a.kind) for a in c.anomalies if a.direction > 0}
    classes = {cls for cls, _ in ups}
    kinds = {e.kind for e in c.events}
    failed = failures(_all_events(c))
    stopped = any(a.kind == "stopped" for a in c.anomalies)
    if (MetricClass.MEMORY, "trend") in ups or (
        MetricClass.MEMORY in classes and "oom_kill" in kinds
    ):
        return FaultKind.MEMORY_LEAK
    if len(failed) >= 2:
        return FaultKind.CRASH_LOOP
    if "deploy" in kinds:
        return FaultKind.BAD_DEPLOY
    if failed and not _back_after(failed[-1], _all_events(c)) and (c.explained or c.lost_by):
        # It stopped and has not come back while the services calling it suffer.
        return FaultKind.DEPENDENCY_DOWN
    if failed:
        return FaultKind.CRASH
    if stopped or c.lost_by:
        return FaultKind.DEPENDENCY_DOWN
    if classes & HELD and not _held_by_slowness(c):
        return FaultKind.RESOURCE_EXHAUSTION
    if classes & {MetricClass.CPU, MetricClass.THROTTLE}:
        return FaultKind.CPU_SATURATION
    if "health_flip" in kinds:
        # Unhealthy with no resource to blame (a busy process may fail its health
        # check too: its CPU, above, is then the more specific answer).
        return FaultKind.DEPENDENCY_DOWN
    if MetricClass.ERRORS in classes and MetricClass.LATENCY not in classes:
        return FaultKind.ERROR_SPIKE
    asked = metric_class(symptom_metric) if symptom_metric else None
    if asked is MetricClass.ERRORS or (asked is None and _errors_around(c)):
        return FaultKind.ERROR_SPIKE
    return FaultKind.LATENCY


#: What a service holds open: more of it is exhaustion, unless slower answers hold it.
HELD = frozenset({MetricClass.FDS, MetricClass.CONNECTIONS})
#: Connections a slow or stuck service holds because it has not answered: those its
#: callers opened and wait on, and those they gave up on that it has not closed yet.
AWAITING = ("connections_in", "connections_close_wait")


def _held_by_slowness(c: Candidate) -> bool:
    """More connections to the service, in one step with slower answers from it: its
    callers hold them open longer (in flight = rate x time), a slowdown (or a hang: its
    health check times out) and not a leak. A leak grows steadily (a trend), and a
    service leaking its own connections shows them outbound."""
    up = [a for a in c.anomalies if a.direction > 0]
    held = [a for a in up if metric_class(a.metric) in HELD]
    connections = [a for a in held if metric_class(a.metric) is MetricClass.CONNECTIONS]
    return (
        bool(connections)
        and all(a.metric.startswith(AWAITING) for a in connections)
        and not any(a.kind == "trend" for a in held)
        and any(metric_class(a.metric) is MetricClass.LATENCY for a in up)
    )


def _back_after(failure: Event, events: Sequence[Event]) -> bool:
    """The service started again (a restart, a deploy) after `failure`."""
    return any(e.kind in COMEBACKS and e.ts_ms >= failure.ts_ms for e in events)


def _noisy_neighbour(c: Candidate) -> bool:
    """The host's CPU and this service's own CPU both went up."""

    def cpu_up(found: Sequence[MetricAnomaly]) -> bool:
        return any(metric_class(a.metric) is MetricClass.CPU and a.direction > 0 for a in found)

    return cpu_up(c.host) and cpu_up(c.anomalies)


def _all_events(c: Candidate) -> list[Event]:
    return [*c.events, *(e for e in c.faults if e not in c.events)]


def _errors_around(c: Candidate) -> bool:
    return any(metric_class(a.metric) is MetricClass.ERRORS for a in c.anomalies)


def to_hypothesis(c: Candidate, symptom_metric: str | None = None) -> Hypothesis:
    kind = fault_kind(c, symptom_metric)
    return Hypothesis(
        service=c.service,
        kind=kind,
        confidence=round(c.confidence, 3),
        onset=None if c.onset_s is None else _at(c.onset_s),
        evidence=tuple(_evidence(c, kind)),
        counter_evidence=tuple(_counter(c)),
        recommendation=recommend(c, kind),
    )


#: The metric classes a fault kind rests on: its evidence is listed first.
KIND_CLASSES: dict[FaultKind, frozenset[MetricClass]] = {
    FaultKind.CPU_SATURATION: frozenset({MetricClass.CPU, MetricClass.THROTTLE}),
    FaultKind.MEMORY_LEAK: frozenset({MetricClass.MEMORY}),
    FaultKind.RESOURCE_EXHAUSTION: frozenset({MetricClass.FDS, MetricClass.CONNECTIONS}),
    FaultKind.LATENCY: frozenset({MetricClass.LATENCY}),
    FaultKind.ERROR_SPIKE: frozenset({MetricClass.ERRORS}),
}


def _evidence(c: Candidate, kind: FaultKind) -> list[EvidenceItem]:
    onset = _at(c.onset_s) if c.onset_s is not None else None
    # A process failure is the first evidence, with or without a metric anomaly.
    failed = failures(_all_events(c))
    items = [_item(e) for e in sorted(failed, key=lambda e: e.ts_ms)[:5]]
    # Then the change that came before it (a deploy, an OOM kill), the metrics the fault
    # kind rests on (a CPU burn's CPU before the slower answers), the other changes
    # (restarts, health flips: a busy process may fail its health check) and metrics.
    changes = sorted(
        (e for e in c.events if e not in failed),
        key=lambda e: (e.kind not in PRIORS_FIRST, e.ts_ms),
    )[:5]
    metrics = sorted(c.anomalies, key=lambda a: (not _supports(a, kind), -a.score))[:5]
    first = [e for e in changes if e.kind in PRIORS_FIRST]
    backing = [a for a in metrics if _supports(a, kind)]
    items += [_item(e) for e in first] + [_anomaly_item(a) for a in backing]
    items += [_item(e) for e in changes if e not in first]
    items += [_anomaly_item(a) for a in metrics if a not in backing]
    items += [
        EvidenceItem(
            _at(a.onset_s), a.service, a.metric, a.value, f"host-wide (context): {a.detail}"
        )
        for a in sorted(c.host, key=lambda a: -a.score)[:3]
    ]
    if _noisy_neighbour(c):
        items.append(
            EvidenceItem(
                onset or _at(0),
                c.service,
                "host",
                None,
                "noisy neighbour: its own CPU rose while its host's CPU did",
            )
        )
    items += [
        EvidenceItem(_at(e.ts_ms / 1000), e.service, e.kind, None, e.message) for e in c.lost_by[:3]
    ]
    if onset is not None and c.healthy_dependencies:
        deps = named(c.healthy_dependencies)
        items.append(
            EvidenceItem(
                onset, c.service, "topology", None, f"its dependencies are healthy: {deps}"
            )
        )
    if onset is not None and c.explained and c.role == "suspect":
        items.append(
            EvidenceItem(
                onset,
                c.service,
                "topology",
                float(len(c.explained)),
                "latency attribution: the outgoing calls of its callers slowed at the onset"
                f" ({named(c.explained)}) while its own metrics barely moved",
            )
        )
    elif onset is not None and c.explained:
        callers = named(c.explained)
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


def _item(e: Event) -> EvidenceItem:
    return EvidenceItem(_at(e.ts_ms / 1000), e.service, e.kind, None, e.message or e.kind)


def _anomaly_item(a: MetricAnomaly) -> EvidenceItem:
    return EvidenceItem(_at(a.onset_s), a.service, a.metric, a.value, f"{a.kind}: {a.detail}")


def _counter(c: Candidate) -> list[EvidenceItem]:
    onset = _at(c.onset_s) if c.onset_s is not None else datetime.fromtimestamp(0, UTC)
    items = [
        EvidenceItem(
            onset, d, "topology", None, f"dependency {d} was anomalous no later than {c.service}"
        )
        for d in c.anomalous_dependencies[:NAMED]
    ]
    items += [
        EvidenceItem(
            _at(a.onset_s),
            a.service,
            a.metric,
            a.value,
            f"not counted: {_not_counted(a)} ({a.detail})",
        )
        for a in sorted(c.context, key=lambda a: -a.score)[:3]
    ]
    if c.unchanged_callers:
        items.append(
            EvidenceItem(
                onset,
                c.service,
                "topology",
                float(len(c.unchanged_callers)),
                "callers whose outgoing calls kept their usual latency: "
                + ", ".join(c.unchanged_callers),
            )
        )
    if c.role == "off":
        items.append(
            EvidenceItem(onset, c.service, "topology", None, "not among the symptom's dependencies")
        )
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


def _supports(a: MetricAnomaly, kind: FaultKind) -> bool:
    """The anomaly is of a class the fault kind rests on (listed before the rest)."""
    return metric_class(a.metric) in KIND_CLASSES.get(kind, frozenset())


def _not_counted(a: MetricAnomaly) -> str:
    """Why an anomaly of the candidate is context rather than cause evidence."""
    if a.chronic:
        return a.chronic
    if is_dependency_latency(a.metric):
        return "the latency of its own outgoing calls is evidence about what it calls"
    if a.direction < 0 and a.kind != "stopped":
        return "a fall: less was asked of it"
    return "throughput moves with load or upstream failures"


def _deploy(events: Sequence[Event]) -> Event | None:
    deploys = [e for e in events if e.kind == "deploy"]
    return deploys[-1] if deploys else None


def recommend(c: Candidate, kind: FaultKind) -> str:
    s = c.service
    deploy = _deploy(c.events)
    # The strongest anomaly the kind rests on (a leak's connections, not a slow route).
    top: MetricAnomaly | None = max(
        c.anomalies, key=lambda a: (_supports(a, kind), a.score), default=None
    )
    if kind is FaultKind.BAD_DEPLOY and deploy is not None:
        new, old = deploy.versions()
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
        if deploy is not None:
            version = deploy.versions()[0]
            since = f" {version}" if version else ""
            return (
                f"the leak came with the deploy of {s}{since}: roll it back{rate}{eta},"
                " then find the leak in that version (heap profile)"
            )
        return f"restart {s} to reclaim memory{rate}{eta}, then find the leak (heap profile)"
    if kind is FaultKind.CRASH_LOOP:
        return (
            f"read {s}'s exit status and last logs; roll back if a change preceded the first crash"
        )
    if kind is FaultKind.CRASH:
        return f"read {s}'s exit status and last logs; check it came back and what killed it"
    if kind is FaultKind.DEPENDENCY_DOWN:
        return f"bring {s} back (process, host, network); its callers fail until it returns"
    if kind is FaultKind.RESOURCE_EXHAUSTION and top is not None:
        return f"raise the {top.metric} limit of {s} or find what holds it open"
    if kind is FaultKind.CPU_SATURATION:
        return f"give {s} more CPU or instances, or find its hot path (profile)"
    if kind is FaultKind.ERROR_SPIKE:
        return f"read {s}'s error logs from the onset on"
    return f"trace {s}'s slow requests from the onset on (profile, slow queries)"
