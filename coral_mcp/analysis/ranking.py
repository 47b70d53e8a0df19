"""Root-cause ranking: which anomalous service most likely started it.

A candidate scores for severity (its largest persistent robust z), for its place on the
graph (anomalous while its dependencies are healthy; anomalous callers it explains),
for onset order (earliest first), and for changes just before its onset (deploy, OOM
kill, crash, restart, health flip). Scores become confidences by a softmax whose
temperature was fitted on the scenario library (see benchmarks/RESULTS.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from coral_mcp.analysis.detect import MetricAnomaly
from coral_mcp.analysis.topology import ServiceGraph
from coral_mcp.models import Event

#: Changes this long before an onset (or shortly after) count as its prior.
PRIOR_BEFORE_S = 900.0
PRIOR_AFTER_S = 120.0
#: Onsets this close count as simultaneous (propagation within a few samples).
SAME_TIME_S = 120.0
#: Weight of each change kind as a prior.
PRIORS = {"deploy": 2.5, "oom_kill": 2.0, "crash": 1.5, "restart": 1.0, "health_flip": 1.0}
#: Event kinds that make a service a candidate even without a metric anomaly.
FAULT_EVENTS = frozenset({"crash", "oom_kill", "restart", "health_flip"})
ROOT_BONUS = 2.0
VICTIM_PENALTY = 2.0
EXPLAINS_WEIGHT = 0.6
ONSET_WEIGHT = 1.0
HINT_WEIGHT = 0.5
TEMPERATURE = 1.0


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


def rank_candidates(
    anomalies: Sequence[MetricAnomaly],
    events: Sequence[Event],
    graph: ServiceGraph,
    hint_s: float | None = None,
) -> list[Candidate]:
    """Candidates best first, with confidences summing to at most 1."""
    by_service: dict[str, list[MetricAnomaly]] = {}
    for a in anomalies:
        by_service.setdefault(a.service, []).append(a)
    for e in events:
        if e.kind in FAULT_EVENTS:
            by_service.setdefault(e.service, [])
    onsets = {s: _onset(a, events, s) for s, a in by_service.items()}
    known = [o for o in onsets.values() if o is not None]
    earliest = min(known) if known else None
    out = []
    for service, found in by_service.items():
        out.append(_score(service, found, onsets, events, graph, earliest, hint_s))
    out.sort(key=lambda c: (-c.score, c.onset_s or math.inf, c.service))
    return _with_confidence(out)


def _onset(found: Sequence[MetricAnomaly], events: Sequence[Event], service: str) -> float | None:
    if found:
        return min(a.onset_s for a in found)
    faults = [e.ts_ms / 1000 for e in events if e.service == service and e.kind in FAULT_EVENTS]
    return min(faults) if faults else None


def _score(
    service: str,
    found: list[MetricAnomaly],
    onsets: dict[str, float | None],
    events: Sequence[Event],
    graph: ServiceGraph,
    earliest: float | None,
    hint_s: float | None,
) -> Candidate:
    onset = onsets[service]
    severity = math.log1p(min(max((a.score for a in found), default=0.0), 100.0))
    priors = _priors(service, events, onset)
    score = severity + sum(PRIORS.get(e.kind, 0.0) for e in _first_of_each_kind(priors))
    faults = sum(1 for e in priors if e.kind in ("crash", "restart", "oom_kill"))
    score += 0.5 * min(max(faults - 1, 0), 4)
    bad_deps = tuple(
        sorted(d for d in graph.dependencies(service) if _no_later(onsets.get(d), onset))
    )
    healthy = tuple(sorted(d for d in graph.callees(service) if d not in onsets))
    score += -VICTIM_PENALTY if bad_deps else ROOT_BONUS
    explained = tuple(
        sorted(d for d in graph.dependents(service) if _no_later(onset, onsets.get(d)))
    )
    score += EXPLAINS_WEIGHT * math.log1p(len(explained)) * 2
    lost_by = tuple(e for e in events if e.kind == "dependency_lost" and _names(e, service))
    score += 1.0 if lost_by else 0.0
    if onset is not None and earliest is not None:
        score += ONSET_WEIGHT * math.exp(-(onset - earliest) / 600.0)
    if onset is not None and hint_s is not None:
        score += HINT_WEIGHT * math.exp(-abs(onset - hint_s) / 900.0)
    return Candidate(
        service, score, onset, tuple(found), tuple(priors), healthy, bad_deps, explained, lost_by
    )


def _no_later(first: float | None, second: float | None) -> bool:
    """`first` began no later than `second` (give or take SAME_TIME_S)."""
    return first is not None and second is not None and first <= second + SAME_TIME_S


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
    return attrs.get("peer") == service or service in event.message.split()


def _with_confidence(ranked: list[Candidate]) -> list[Candidate]:
    if not ranked:
        return ranked
    top = ranked[0].score
    weights = [math.exp((c.score - top) / TEMPERATURE) for c in ranked]
    total = sum(weights)
    return [replace(c, confidence=w / total) for c, w in zip(ranked, weights, strict=True)]
