"""The symptom: what the operator was alerted on, and when it began.

An investigation explains a symptom — a service and, optionally, a metric ("why is
checkout slow?" is checkout's latency). Given one, its onset is when that series became
abnormal; without one, the symptom is inferred: the anomalous services nobody anomalous
depends on (the top of each anomalous chain), and the onset is that of their strongest
anomaly. A given incident time is a hint that may be off by minutes: an onset found
near it wins, and the onset is never put after an excursion that began close before it,
so the incident itself never becomes part of what is normal.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from coral_mcp.analysis.detect import MetricAnomaly
from coral_mcp.analysis.metric_names import (
    MetricClass,
    is_cpu_wait,
    is_dependency_latency,
    is_effect,
    is_host_level,
    metric_class,
)
from coral_mcp.analysis.topology import ServiceGraph

#: An anomaly this far around the hint may mark the real onset (hints are often off by
#: a few minutes); the symptom's own onset may lead the hint by up to SYMPTOM_LEAD_S.
HINT_TOLERANCE_S = 360.0
SYMPTOM_LEAD_S = 900.0
#: A cause may begin this long before the symptom it explains (a steady trend, such as
#: a leak, any time before: it grows until it hurts).
CAUSE_LEAD_S = 900.0
#: Words a person uses for a metric class ("why is checkout slow?").
CLASS_WORDS: dict[str, MetricClass] = {
    "slow": MetricClass.LATENCY,
    "latency": MetricClass.LATENCY,
    "errors": MetricClass.ERRORS,
    "error": MetricClass.ERRORS,
    "failing": MetricClass.ERRORS,
    "cpu": MetricClass.CPU,
    "memory": MetricClass.MEMORY,
}


@dataclass(frozen=True, slots=True)
class Symptom:
    """What is explained: `services` (one when given), the metric asked about, and the
    onset (epoch s) everything else is compared against."""

    services: tuple[str, ...]
    metric: str | None
    onset_s: float | None
    inferred: bool
    #: How the symptom and its onset were chosen, for the answer.
    note: str


def metric_matches(metric: str, wanted: str) -> bool:
    """`wanted` names `metric` exactly, or its class (latency, errors, cpu, ...)."""
    wanted = wanted.lower()
    if metric.lower() == wanted:
        return True
    cls = CLASS_WORDS.get(wanted) or next((c for c in MetricClass if c.value == wanted), None)
    return cls is not None and metric_class(metric) is cls


def closest_names(name: str, known: Iterable[str], n: int = 3) -> list[str]:
    return difflib.get_close_matches(name, sorted(set(known)), n=n, cutoff=0.5)


def is_cause_evidence(a: MetricAnomaly) -> bool:
    """An anomaly that can make its service a root cause: the service's own, new at the
    onset, a rise (a service doing less, or answering faster, is an effect of less being
    asked of it; one that went silent is `stopped`), not mere throughput, not the
    latency of its own outgoing calls, and not its wait for a CPU (the host's doing)."""
    return (
        not a.chronic
        and (a.direction > 0 or a.kind == "stopped")
        and not is_host_level(a.service, a.metric)
        and not is_effect(a.metric)
        and not is_dependency_latency(a.metric)
        and not is_cpu_wait(a.metric)
    )


def infer_services(
    anomalies: Sequence[MetricAnomaly], graph: ServiceGraph, failed: Iterable[str] = ()
) -> tuple[str, ...]:
    """Anomalous services (or `failed` ones: a crash is abnormal too) that no anomalous
    service depends on: the tops of chains."""
    bad = {a.service for a in anomalies if is_cause_evidence(a)} | set(failed)
    tops = sorted(s for s in bad if not (graph.dependents(s) & bad))
    return tuple(tops)


def choose_onset(
    symptom_anomaly: MetricAnomaly | None,
    anomalies: Sequence[MetricAnomaly],
    hint_s: float | None,
    tops: Sequence[str],
    graph: ServiceGraph,
) -> tuple[float | None, str]:
    """The investigation's onset and how it was chosen: the earliest change on the
    anomalous chain below the symptom, up to CAUSE_LEAD_S before the symptom's own onset
    (causes come first; the reference must not hold them)."""
    own = [a for a in anomalies if is_cause_evidence(a)]
    if symptom_anomaly is not None and (
        hint_s is None
        or hint_s - SYMPTOM_LEAD_S <= symptom_anomaly.onset_s <= hint_s + HINT_TOLERANCE_S
    ):
        start = _chain_start(symptom_anomaly.service, symptom_anomaly.onset_s, own, graph)
        return start, "the symptom's onset, or the first change below it"
    if hint_s is not None:
        # A change still going on (not a spike that came and went) near the hint.
        near = [
            a.onset_s
            for a in own
            if abs(a.onset_s - hint_s) <= HINT_TOLERANCE_S and a.kind != "spike"
        ]
        if near and min(near) < hint_s:
            return min(near), "the first change near the given incident time"
        return hint_s, "the given incident time"
    best: tuple[int, float, float] | None = None
    for top in tops:
        mine = [a for a in own if a.service == top]
        if not mine:
            continue
        strongest = max(mine, key=lambda a: a.score)
        chain = {a.service for a in own} & (graph.dependencies(top) | {top})
        start = _chain_start(top, strongest.onset_s, own, graph)
        key = (len(chain), strongest.score, start)
        if best is None or key[:2] > best[:2]:
            best = key
    if best is None:
        return None, "no onset (nothing changed)"
    return best[2], "the first change below the most widespread anomaly"


def _chain_start(
    service: str, onset_s: float, own: Sequence[MetricAnomaly], graph: ServiceGraph
) -> float:
    below = graph.dependencies(service) | {service}
    return min(
        [onset_s]
        + [
            a.onset_s
            for a in own
            if a.service in below and (onset_s - CAUSE_LEAD_S <= a.onset_s or a.kind == "trend")
        ]
    )
