"""The whole diagnosis over data already read: series, events, graph -> ranked causes.

Pure (no I/O, no clock): the investigation engine reads the store and calls `diagnose`;
tests and the reference rankers call it on data built in memory.

1. Screen and detect every series on its own (`detect_series`: no onset needed).
2. The symptom: given (service, optional metric) or inferred (tops of anomalous chains);
   its onset is the investigation's onset (`choose_onset`).
3. Detect again *at that onset* (`detect_at`): the reference is what came before it, so
   a few windows of history suffice and what was always odd is marked chronic.
4. Rank (`rank_candidates`): walk from the symptom along its dependencies to where the
   anomalous chain ends; changes as priors; "none of these" keeps its share.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from coral_mcp.analysis.attribution import SLOWED_Z, Slowdowns
from coral_mcp.analysis.baselines import baseline_at
from coral_mcp.analysis.detect import (
    MetricAnomaly,
    Series,
    change_score,
    detect_at,
    detect_series,
    stale,
    step_of,
    worth_a_look,
)
from coral_mcp.analysis.metric_names import (
    HOST_SERVICE,
    MetricClass,
    is_bookkeeping,
    is_cpu_wait,
    is_dependency_latency,
    is_host_level,
    is_limit,
    limit_of,
    metric_class,
    names_a_fault,
)
from coral_mcp.analysis.ranking import (
    FAULT_EVENTS,
    SAME_TIME_S,
    SAME_TIME_STEPS,
    Candidate,
    none_confidence,
    rank_candidates,
)
from coral_mcp.analysis.robust import Robust
from coral_mcp.analysis.symptom import (
    Symptom,
    choose_onset,
    infer_services,
    metric_matches,
)
from coral_mcp.analysis.topology import ServiceGraph
from coral_mcp.models import Event

#: Below this top confidence the answer is "no clear root cause" (hypotheses still listed).
CLEAR_CONFIDENCE = 0.3
#: The host's CPU queue is read from this long before the onset on (load1 is a
#: one-minute average: it lags the queue it measures).
QUEUE_LOOKBACK_S = 60.0
#: The most a busy host slows an answer down for no fault of its service's own (times its
#: normal) when its CPU queue does not say more: answers 250 times slower are a fault.
CONTENTION_MAX = 20.0


class SetAside(StrEnum):
    """Why leads were set aside as no incident (the answer's summary says it)."""

    NONE = ""
    #: Only metrics Coral cannot read as a fault moved.
    ACTIVITY = "activity in metrics of no known class"
    #: Weak slowdowns on a busy host, or within what its CPU queue explains.
    BUSY_HOST = "slowdowns the host's busy CPUs explain"
    #: Slowdowns of services whose own wait for a CPU rose with them.
    STARVED = "slowdowns of services the busy host kept waiting for a CPU"


@dataclass(frozen=True, slots=True)
class Diagnosis:
    symptom: Symptom
    anomalies: tuple[MetricAnomaly, ...]
    ranked: tuple[Candidate, ...]
    #: Probability that none of the ranked candidates is the cause.
    none_confidence: float
    series_checked: int
    services_checked: int
    #: Leads set aside as no incident (activity, or slowdowns of a busy host: see
    #: `_busy_host`); the answer is then "no significant anomaly".
    set_aside: tuple[Candidate, ...] = ()
    #: Why they were set aside.
    set_aside_why: SetAside = SetAside.NONE

    @property
    def clear(self) -> bool:
        return bool(self.ranked) and self.ranked[0].confidence >= CLEAR_CONFIDENCE


def diagnose(
    series: Sequence[Series],
    events: Sequence[Event],
    graph: ServiceGraph,
    end_s: float,
    learned: Mapping[tuple[str, str, int], Robust] | None = None,
    hint_s: float | None = None,
    symptom_service: str | None = None,
    symptom_metric: str | None = None,
) -> Diagnosis:
    learned = learned or {}
    limits = {(s.service, s.metric): float(s.values[-1]) for s in series if is_limit(s.metric)}
    looked = screen(series, end_s)

    def base(s: Series) -> Robust | None:
        return baseline_at(learned, s.service, s.metric, float(s.ts_s[-1]))

    def limit(s: Series) -> float | None:
        return limits.get((s.service, limit_of(s.metric)))

    first = [a for s in looked if (a := detect_series(s, end_s, base(s), limit(s))) is not None]
    asked = _symptom_anomaly(first, symptom_service, symptom_metric)
    tops = (symptom_service,) if symptom_service else infer_services(first, graph)
    onset, note = choose_onset(asked, first, hint_s, tops, graph)
    if onset is None:
        found = first
    else:
        found = [
            a for s in looked if (a := detect_at(s, onset, end_s, base(s), limit(s))) is not None
        ]
    failed = {e.service for e in events if e.kind in FAULT_EVENTS and e.service != HOST_SERVICE}
    services = (symptom_service,) if symptom_service else infer_services(found, graph, failed)
    by_service: dict[str, list[Series]] = {}
    for s in series:
        if not is_host_level(s.service, s.metric) and not is_limit(s.metric):
            by_service.setdefault(s.service, []).append(s)

    memo: dict[str, float] = {}

    def weak(service: str) -> float:
        if onset is None:
            return 0.0
        if service not in memo:
            changes = (change_score(s, onset) for s in by_service.get(service, ()))
            memo[service] = max(changes, default=0.0)
        return memo[service]

    same_time = min(SAME_TIME_S, SAME_TIME_STEPS * _sampling_step_s(series))
    slowdowns = None if onset is None else _slowdowns(by_service, onset)
    ranked = rank_candidates(found, events, graph, hint_s, services, weak, same_time, slowdowns)
    if symptom_service is None and not any(c.anomalies or c.faults or c.events for c in ranked):
        # Nothing asked about, and nothing that changed can be a cause (only host-wide
        # context, throughput, drops in activity, chronic oddities): no incident.
        ranked = []
    set_aside: list[Candidate] = []
    why = SetAside.NONE
    unprompted = symptom_service is None and hint_s is None
    if unprompted and ranked and not any(_readable(c) for c in ranked):
        why = SetAside.ACTIVITY  # only metrics Coral cannot read as a fault moved
    elif unprompted:
        why = _busy_host(ranked, found, series, onset)
    if why is not SetAside.NONE:
        set_aside, ranked = ranked, []
    symptom = Symptom(services, symptom_metric, onset, symptom_service is None, note)
    return Diagnosis(
        symptom,
        tuple(found),
        tuple(ranked),
        none_confidence(ranked),
        len(series),
        len({s.service for s in series}),
        tuple(set_aside),
        why,
    )


def _host_contention(ranked: Sequence[Candidate], found: Sequence[MetricAnomaly]) -> bool:
    """Every lead is weak (no clear root cause), the host itself got busier (a host-wide
    series rose in the range) and no answer became more than CONTENTION_MAX times
    slower: on a busy machine answers slow down a little for no fault of the service's
    own — latency is what contention inflates — so there is no incident to report."""
    if ranked[0].confidence >= CLEAR_CONFIDENCE:
        return False
    host_rose = any(is_host_level(a.service, a.metric) and a.direction > 0 for a in found)
    return host_rose and _slowed_by(ranked, CONTENTION_MAX)


def _busy_host(
    ranked: Sequence[Candidate],
    found: Sequence[MetricAnomaly],
    series: Sequence[Series],
    onset_s: float | None,
) -> SetAside:
    """Nobody reported an incident, every lead rests on latency and activity alone (no
    resource, error or fault-event change, no change before it), and a busy host explains
    its slowdowns: the leads' services waited longer for a CPU (`_starved`), or the
    weak leads of a busier host (`_host_contention`), or its CPU queue (`_queueing`)."""
    if not ranked or not all(_latency_only(c) for c in ranked):
        return SetAside.NONE
    if onset_s is not None and _starved(ranked, series, onset_s):
        return SetAside.STARVED
    if _host_contention(ranked, found) or (
        onset_s is not None and _queueing(ranked, _cpu_queue(series, onset_s))
    ):
        return SetAside.BUSY_HOST
    return SetAside.NONE


def _starved(ranked: Sequence[Candidate], series: Sequence[Series], onset_s: float) -> bool:
    """Each lead's service waited longer for a CPU from the onset on (its own
    `sched_wait_ms`, the kernel's run delay of its threads, rose at least SLOWED_Z, the
    weak rise latency attribution reads as slower) and no answer became more than
    CONTENTION_MAX times slower: the host kept the service off its CPUs, which slows its
    answers whatever it does. A service slowing down by itself waits no longer for a
    CPU; a database answering 150 times slower is more than any wait for one."""
    waits = {s.service: s for s in series if is_cpu_wait(s.metric)}

    def waited(service: str) -> bool:
        wait = waits.get(service)
        return wait is not None and change_score(wait, onset_s, rise=True) >= SLOWED_Z

    return all(waited(c.service) for c in ranked) and _slowed_by(ranked, CONTENTION_MAX)


def _cpu_queue(series: Sequence[Series], onset_s: float) -> float:
    """How many times slower waiting for a CPU alone can make a request around the onset:
    the host's runnable tasks per CPU at their most since a minute before it (load1 /
    cpu_count), at least 1 (no queue); 1 when the agents do not say how many CPUs the
    host has."""
    host = {s.metric: s for s in series if s.service == HOST_SERVICE}
    cpus, load = host.get("cpu_count"), host.get("load1")
    if cpus is None or load is None or float(cpus.values[-1]) <= 0:
        return 1.0
    around = load.values[load.ts_s >= onset_s - QUEUE_LOOKBACK_S]
    most = float(around.max()) if around.size else 0.0
    return max(1.0, most / float(cpus.values[-1]))


def _queueing(ranked: Sequence[Candidate], queue: float) -> bool:
    """Every slowdown is within what the host's CPU queue explains (`_cpu_queue`: with 20
    runnable tasks on 2 CPUs a request may take 10 times as long without any fault of
    its service's own). A database answering 150 times slower is beyond any queue."""
    if queue <= 1.0:
        return False
    return all(a.baseline > 0 and a.value <= queue * a.baseline for a in _latency_rises(ranked))


def _slowed_by(ranked: Sequence[Candidate], factor: float) -> bool:
    """No latency rose more than `factor` times its normal (a rise from a normal of 0
    tells no factor: a transport wait jumps from 0 on any busy host)."""
    return all(a.value <= factor * a.baseline for a in _latency_rises(ranked) if a.baseline > 0)


def _latency_rises(ranked: Sequence[Candidate]) -> list[MetricAnomaly]:
    return [
        a
        for c in ranked
        for a in c.anomalies
        if metric_class(a.metric) is MetricClass.LATENCY and a.direction > 0
    ]


def _readable(c: Candidate) -> bool:
    """Its evidence names a fault: a change or fault event, or an anomaly of a known class
    (CPU, memory, descriptors, connections, latency, errors). Nobody having reported an
    incident, a service whose only anomalies are in metrics of no known class (its disk
    bytes, context switches, a runtime's counters: PostgreSQL writing 700 B/s once after an
    all-zero stretch) has shown activity, not a fault."""
    return bool(c.events or c.faults or c.lost_by) or any(
        names_a_fault(a.metric) for a in c.anomalies
    )


def _latency_only(c: Candidate) -> bool:
    """Its evidence is latency, or activity beside it (metrics of no known class): no
    resource, error or fault-event change."""
    return not (c.events or c.faults or c.lost_by) and all(
        metric_class(a.metric) is MetricClass.LATENCY or not names_a_fault(a.metric)
        for a in c.anomalies
    )


def screen(series: Sequence[Series], end_s: float) -> list[Series]:
    """The series detection looks at: those the fast screen keeps (`worth_a_look`) or
    that stopped reporting, limits and bookkeeping series left out. Detection finds
    nothing in the others."""
    return [
        s
        for s, look in zip(series, worth_a_look(series), strict=True)
        if not is_limit(s.metric) and not is_bookkeeping(s.metric) and (look or stale(s, end_s))
    ]


def _sampling_step_s(series: Sequence[Series]) -> float:
    """The typical step between samples (the median of the series' median steps)."""
    steps = [step_of(s) for s in series if s.ts_s.size > 1]
    return float(np.median(steps)) if steps else SAME_TIME_S


def _slowdowns(by_service: Mapping[str, Sequence[Series]], onset_s: float) -> Slowdowns:
    """Each service's largest rise at the onset of the latency of its outgoing calls, and,
    for the services whose calls slowed, of the latency it serves with (what latency
    attribution along the call graph reads; nothing more is computed)."""

    def rise(service: str, outgoing: bool) -> float | None:
        found = [
            change_score(s, onset_s, rise=True)
            for s in by_service.get(service, ())
            if metric_class(s.metric) is MetricClass.LATENCY
            and is_dependency_latency(s.metric) is outgoing
        ]
        return max(found) if found else None

    calls = {s: z for s in by_service if (z := rise(s, True)) is not None}
    slowed = [s for s, z in calls.items() if z >= SLOWED_Z]
    served = {s: z for s in slowed if (z := rise(s, False)) is not None}
    return Slowdowns(calls, served, onset_s)


def _symptom_anomaly(
    found: Sequence[MetricAnomaly], service: str | None, metric: str | None
) -> MetricAnomaly | None:
    if service is None:
        return None
    mine = [
        a
        for a in found
        if a.service == service
        and not is_host_level(a.service, a.metric)
        and (metric is None or metric_matches(a.metric, metric))
    ]
    return max(mine, key=lambda a: a.score, default=None)
