"""Root-cause ranking: which service most likely started the symptom.

A candidate scores for severity (its largest persistent robust z among anomalies that
are its own and new at the onset: host-level series are context, throughput is an
effect, chronic oddities count for little), for its place on the walk from the symptom
(where the anomalous chain ends: anomalous while its dependencies are healthy; off the
symptom's dependencies it explains nothing asked about), for the anomalous callers it
explains, for onset order, and for changes just before its onset (deploy, OOM kill,
crash, exit, restart, health flip) — a fault event makes a service a candidate even
without a metric anomaly.

Scores become confidences by a softmax that includes "none of these" (a fixed score
NONE_SCORE): a lone weak candidate is not certain because it is alone. Temperature and
NONE_SCORE were fitted on the pooled development cases (see docs/intelligence.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

from coral_mcp.analysis.attribution import Attribution, Slowdowns, attribute
from coral_mcp.analysis.detect import THRESHOLD, MetricAnomaly
from coral_mcp.analysis.metric_names import (
    HOST_SERVICE,
    MetricClass,
    is_dependency_latency,
    is_effect,
    is_host_level,
    metric_class,
    names_a_fault,
)
from coral_mcp.analysis.symptom import is_cause_evidence
from coral_mcp.analysis.topology import ServiceGraph
from coral_mcp.models import Event

#: Changes this long before an onset (or shortly after) count as its prior.
PRIOR_BEFORE_S = 900.0
PRIOR_AFTER_S = 120.0
#: Onsets this close count as simultaneous (propagation within a few samples): at most
#: SAME_TIME_S, and SAME_TIME_STEPS sampling steps where samples are denser.
SAME_TIME_S = 60.0
SAME_TIME_STEPS = 3
#: Weight of each change kind as a prior.
PRIORS = {
    "deploy": 2.5,
    "oom_kill": 2.0,
    "crash": 1.5,
    "exit": 1.0,
    "restart": 1.0,
    "health_flip": 1.0,
}
#: Event kinds that make a service a candidate even without a metric anomaly.
FAULT_EVENTS = frozenset({"crash", "oom_kill", "exit", "restart", "health_flip"})
#: Process faults (a crash loop is two or more of these).
PROCESS_FAULTS = frozenset({"crash", "oom_kill", "exit", "restart"})
#: Changes of a service's own process that drop every connection it held.
OWN_CHANGES = PROCESS_FAULTS | {"deploy"}
ROOT_BONUS = 2.0
VICTIM_PENALTY = 2.0
#: A candidate that is neither the symptom's service nor one of its dependencies.
OFF_PATH_PENALTY = 1.0
#: A fault event (crash, exit, OOM kill, ...) of the symptom's service or a dependency.
FAULT_ON_PATH = 3.0
EXPLAINS_WEIGHT = 0.6
ONSET_WEIGHT = 1.0
HINT_WEIGHT = 0.5
#: Severity share of anomalies that are chronic (old or within the usual range) or
#: throughput only: reported, but not enough to rank a service first.
CHRONIC_WEIGHT = 0.25
EFFECT_WEIGHT = 0.5
#: Severity share of changes of metrics of no known class (activity, not a fault): a
#: change from an all-zero reference scores huge z-scores that say nothing of harm.
ACTIVITY_WEIGHT = 0.5
#: A suspect's score: ROOT_BONUS + ATTRIBUTION_WEIGHT x the attribution's agreement (at
#: most MAX_AGREEMENT: callers' slowdowns are not independent evidence — in a broad
#: slowdown a callee of many callers agrees with many of them by chance — so beyond two
#: agreeing callers more add nothing) + SUSPECT_SHARE x log1p(the largest slowdown it
#: explains) + WEAK_WEIGHT x log1p(its own weak change at the onset).
ATTRIBUTION_WEIGHT = 1.0
MAX_AGREEMENT = 2.0
SUSPECT_SHARE = 0.5
WEAK_WEIGHT = 1.0
#: Softmax temperature and the score of "none of these" (fitted; see the module doc).
TEMPERATURE = 0.6
NONE_SCORE = 7.0


@dataclass(frozen=True, slots=True)
class Candidate:
    service: str
    score: float
    onset_s: float | None
    anomalies: tuple[MetricAnomaly, ...]
    events: tuple[Event, ...]  # changes before/around the onset (the priors)
    healthy_dependencies: tuple[str, ...]
    anomalous_dependencies: tuple[str, ...]  # with an onset no later than ours
    explained: tuple[str, ...]  # anomalous dependents with a later or equal onset
    lost_by: tuple[Event, ...] = field(default=())  # callers' dependency_lost naming us
    confidence: float = 0.0
    #: Anomalies reported but not counted as cause: chronic, or throughput only.
    context: tuple[MetricAnomaly, ...] = field(default=())
    #: Host-level anomalies on this service's machine (host-wide evidence).
    host: tuple[MetricAnomaly, ...] = field(default=())
    #: Where the walk from the symptom put it: "end" of an anomalous chain, "path"
    #: (an anomalous dependency explains it), "off" (not among the symptom's dependencies),
    #: "waits" (only its outgoing calls are slow, with no anomalous dependency to blame),
    #: "suspect" (a callee of a "waits" service: a fault that barely shows in metrics).
    role: str = "end"
    #: A suspect's own largest change at the onset, below the anomaly threshold.
    weak_score: float = 0.0
    #: Every fault event of the service in the range (crashes after the onset too).
    faults: tuple[Event, ...] = field(default=())
    #: A suspect's callers whose outgoing latency did not change (counter-evidence).
    unchanged_callers: tuple[str, ...] = field(default=())


def rank_candidates(
    anomalies: Sequence[MetricAnomaly],
    events: Sequence[Event],
    graph: ServiceGraph,
    hint_s: float | None = None,
    symptom: Sequence[str] = (),
    weak: Callable[[str], float] | None = None,
    same_time_s: float = SAME_TIME_S,
    slowdowns: Slowdowns | None = None,
) -> list[Candidate]:
    """Candidates best first, with confidences summing to at most 1 (the rest is "none
    of these"). `symptom`: the services whose symptom is explained (none: no walk);
    `weak(service)`: its largest sub-threshold change at the onset (for suspects);
    `same_time_s`: onsets this close count as simultaneous;
    `slowdowns`: each service's latency rises at the onset, for latency attribution
    (analysis/attribution.py) to name callees whose fault barely shows."""
    by_service: dict[str, list[MetricAnomaly]] = {}
    host_wide: list[MetricAnomaly] = []
    for a in anomalies:
        if a.service == HOST_SERVICE:
            host_wide.append(a)
        else:
            by_service.setdefault(a.service, []).append(a)
    for e in events:
        if e.kind in FAULT_EVENTS and e.service != HOST_SERVICE:
            by_service.setdefault(e.service, [])
    # A service with only host-level series is context, never a candidate.
    by_service = {
        s: found
        for s, found in by_service.items()
        if not found
        or any(not is_host_level(a.service, a.metric) for a in found)
        or _fault_events(s, events)
    }
    onsets = {s: _onset(a, events, s) for s, a in by_service.items()}
    # Services that can harm others: with a change read as a fault, or a fault event. A
    # dependency whose only changes are activity (no known class) makes no victims.
    causal = {s for s, found in by_service.items() if _faulty(found) or _fault_events(s, events)}
    known = [o for s, o in onsets.items() if o is not None and s in causal]
    earliest = min(known) if known else None
    scope: set[str] | None = None
    if symptom:
        scope = set(symptom)
        for s in symptom:
            scope |= graph.dependencies(s)
    out = {}
    for service, found in by_service.items():
        c = _score(
            service, found, onsets, causal, events, graph, earliest, hint_s, scope, same_time_s
        )
        out[service] = replace(c, host=tuple(host_wide)) if host_wide else c
    for c in list(out.values()):
        if _waits_on_invisible(c, by_service[c.service], events, graph):
            out[c.service] = replace(c, score=c.score - ROOT_BONUS - VICTIM_PENALTY, role="waits")
    if slowdowns is not None:
        for fit in attribute(graph, slowdowns.outgoing, slowdowns.served, causal):
            suspect = _suspect(fit, out.get(fit.service), slowdowns.onset_s, weak, scope, host_wide)
            if suspect is not None:
                out[fit.service] = suspect
    ranked = sorted(out.values(), key=lambda c: (-c.score, c.onset_s or math.inf, c.service))
    return _with_confidence(ranked)


def _waits_on_invisible(
    c: Candidate, found: Sequence[MetricAnomaly], events: Sequence[Event], graph: ServiceGraph
) -> bool:
    """Its own anomaly is the latency of its outgoing calls (and latency it passes on),
    it calls known services, none of them anomalous, and nothing local (resources,
    errors, a fault event) could explain it: the slow part is a dependency whose fault
    does not show in metrics."""
    if c.anomalous_dependencies or _fault_events(c.service, events):
        return False
    if not graph.callees(c.service):
        return False
    waits = any(is_dependency_latency(a.metric) and not a.chronic for a in found)
    local = any(metric_class(a.metric) is not MetricClass.LATENCY for a in _causal(found))
    return waits and not local


def _suspect(
    a: Attribution,
    old: Candidate | None,
    onset_s: float,
    weak: Callable[[str], float] | None,
    scope: set[str] | None,
    host_wide: Sequence[MetricAnomaly],
) -> Candidate | None:
    """A service suspected of a fault that barely shows, from the latency attribution
    `a`: scored by the agreement of its callers' slowdowns, the largest of them, and its
    own weak (sub-threshold) change at the onset."""
    signal = weak(a.service) if weak is not None else 0.0
    score = (
        ROOT_BONUS
        + ATTRIBUTION_WEIGHT * min(a.score, MAX_AGREEMENT)
        + SUSPECT_SHARE * math.log1p(min(a.strength, 100.0))
        + WEAK_WEIGHT * math.log1p(min(signal, THRESHOLD))
    )
    if scope is not None and a.service not in scope:
        score -= OFF_PATH_PENALTY
    if old is not None and old.score >= score:
        return None
    return Candidate(
        a.service,
        score,
        old.onset_s if old and old.onset_s is not None else onset_s,
        old.anomalies if old else (),
        old.events if old else (),
        (),
        (),
        a.explained,
        context=old.context if old else (),
        host=tuple(host_wide),
        role="suspect",
        weak_score=signal,
        unchanged_callers=a.unchanged,
    )


def _causal(found: Sequence[MetricAnomaly]) -> list[MetricAnomaly]:
    return [a for a in found if is_cause_evidence(a)]


def _faulty(found: Sequence[MetricAnomaly]) -> list[MetricAnomaly]:
    """Cause evidence that reads as a fault (a metric of a known class)."""
    return [a for a in _causal(found) if names_a_fault(a.metric)]


def _fault_events(service: str, events: Sequence[Event]) -> list[Event]:
    return [e for e in events if e.service == service and e.kind in FAULT_EVENTS]


def _onset(found: Sequence[MetricAnomaly], events: Sequence[Event], service: str) -> float | None:
    own = _causal(found) or [a for a in found if not is_host_level(a.service, a.metric)]
    if own:
        return min(a.onset_s for a in own)
    faults = [e.ts_ms / 1000 for e in _fault_events(service, events)]
    return min(faults) if faults else None


def _severity(found: Sequence[MetricAnomaly]) -> float:
    def size(items: Iterable[MetricAnomaly]) -> float:
        return math.log1p(min(max((a.score for a in items), default=0.0), 100.0))

    own = [a for a in found if not is_host_level(a.service, a.metric)]
    causal = _causal(own)
    if causal:
        faulty = [a for a in causal if names_a_fault(a.metric)]
        activity = [a for a in causal if not names_a_fault(a.metric)]
        return max(size(faulty), ACTIVITY_WEIGHT * size(activity))
    effects = [a for a in own if is_effect(a.metric) and not a.chronic]
    return max(EFFECT_WEIGHT * size(effects), CHRONIC_WEIGHT * size(own))


def _score(
    service: str,
    found: list[MetricAnomaly],
    onsets: dict[str, float | None],
    causal: set[str],
    events: Sequence[Event],
    graph: ServiceGraph,
    earliest: float | None,
    hint_s: float | None,
    scope: set[str] | None,
    same_time_s: float,
) -> Candidate:
    onset = onsets[service]
    priors = _priors(service, events, onset)
    score = _severity(found)
    score += sum(PRIORS.get(e.kind, 0.0) for e in _first_of_each_kind(priors))
    faults = sum(1 for e in priors if e.kind in PROCESS_FAULTS)
    score += 0.5 * min(max(faults - 1, 0), 4)
    bad_deps = tuple(
        sorted(
            d
            for d in graph.dependencies(service)
            if d in causal and _no_later(onsets.get(d), onset, same_time_s)
        )
    )
    healthy = tuple(sorted(d for d in graph.callees(service) if d not in causal))
    # Only a service with evidence of its own can be where the chain ends.
    if bad_deps:
        score -= VICTIM_PENALTY
    elif service in causal:
        score += ROOT_BONUS
    role = "path" if bad_deps else "end"
    if scope is not None and service not in scope:
        score -= OFF_PATH_PENALTY
        role = "off"
    elif scope is not None and any(e.kind in FAULT_EVENTS for e in priors):
        # The symptom's service, or one it depends on, failed: the first explanation.
        score += FAULT_ON_PATH
    explained = tuple(
        sorted(
            d
            for d in graph.dependents(service)
            if service in causal and d in onsets and _no_later(onset, onsets.get(d), same_time_s)
        )
    )
    score += EXPLAINS_WEIGHT * math.log1p(len(explained)) * 2
    lost_by = tuple(
        e
        for e in events
        if e.kind == "dependency_lost"
        and _names(e, service)
        and not _dropped_by_caller(e, events, same_time_s)
    )
    score += 1.0 if lost_by else 0.0
    if onset is not None and earliest is not None:
        score += ONSET_WEIGHT * math.exp(-(onset - earliest) / 600.0)
    if onset is not None and hint_s is not None:
        score += HINT_WEIGHT * math.exp(-abs(onset - hint_s) / 900.0)
    counted = tuple(_causal(found))
    context = tuple(a for a in found if a not in counted and not is_host_level(a.service, a.metric))
    host = tuple(a for a in found if is_host_level(a.service, a.metric))
    return Candidate(
        service,
        score,
        onset,
        counted,
        tuple(priors),
        healthy,
        bad_deps,
        explained,
        lost_by,
        context=context,
        host=host,
        role=role,
        faults=tuple(_fault_events(service, events)),
    )


def _no_later(first: float | None, second: float | None, same_time_s: float) -> bool:
    """`first` began no later than `second` (give or take `same_time_s`)."""
    return first is not None and second is not None and first <= second + same_time_s


def _priors(service: str, events: Sequence[Event], onset: float | None) -> list[Event]:
    mine = [e for e in events if e.service == service and e.kind in PRIORS]
    if onset is None:
        return mine
    return [e for e in mine if onset - PRIOR_BEFORE_S <= e.ts_ms / 1000 <= onset + PRIOR_AFTER_S]


def _first_of_each_kind(events: Sequence[Event]) -> list[Event]:
    seen: dict[str, Event] = {}
    for e in sorted(events, key=lambda e: e.ts_ms):
        seen.setdefault(e.kind, e)
    return list(seen.values())


def _names(event: Event, service: str) -> bool:
    attrs = dict(event.attributes)
    return service in (attrs.get("peer"), attrs.get("peer_service")) or (
        service in event.message.split()
    )


def _dropped_by_caller(lost: Event, events: Sequence[Event], same_time_s: float) -> bool:
    """The caller lost its peer as it exited, restarted or was redeployed itself: its own
    connections went with its process, which says nothing about the peer."""
    return any(
        e.service == lost.service
        and e.kind in OWN_CHANGES
        and abs(e.ts_ms - lost.ts_ms) <= same_time_s * 1000
        for e in events
    )


def _with_confidence(ranked: list[Candidate]) -> list[Candidate]:
    if not ranked:
        return ranked
    top = max(ranked[0].score, NONE_SCORE)
    weights = [math.exp((c.score - top) / TEMPERATURE) for c in ranked]
    total = sum(weights) + math.exp((NONE_SCORE - top) / TEMPERATURE)
    return [replace(c, confidence=w / total) for c, w in zip(ranked, weights, strict=True)]


def none_confidence(ranked: Sequence[Candidate]) -> float:
    """The probability left for "none of these" (no clear root cause)."""
    return max(0.0, 1.0 - sum(c.confidence for c in ranked))
