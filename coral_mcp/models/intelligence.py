"""What the intelligence layer answers: baselines, anomalies, correlations, hypotheses.

Times are aware UTC. Every hypothesis carries the concrete data it rests on (evidence)
and the data that argues against it (counter-evidence), each with a time and a value.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class FaultKind(StrEnum):
    MEMORY_LEAK = "memory_leak"
    CRASH_LOOP = "crash_loop"
    CRASH = "crash"
    DEPENDENCY_DOWN = "dependency_down"
    CPU_SATURATION = "cpu_saturation"
    LATENCY = "latency"
    BAD_DEPLOY = "bad_deploy"
    RESOURCE_EXHAUSTION = "resource_exhaustion"
    ERROR_SPIKE = "error_spike"


class Outcome(StrEnum):
    HYPOTHESES = "hypotheses"
    NO_SIGNIFICANT_ANOMALY = "no_significant_anomaly"
    #: Something changed, but nothing explains the symptom well (hypotheses are listed,
    #: each unlikely).
    NO_CLEAR_ROOT_CAUSE = "no_clear_root_cause"
    #: The symptom names a service Coral has never seen.
    UNKNOWN_SERVICE = "unknown_service"


@dataclass(frozen=True, slots=True)
class BaselineView:
    """Normal for one (service, metric): robust centre and spread; hour_of_day -1 = all."""

    service: str
    metric: str
    hour_of_day: int
    center: float
    spread: float
    samples: int
    window_start: datetime
    window_end: datetime


@dataclass(frozen=True, slots=True)
class AnomalyView:
    """A metric of a service left its normal range at `onset` (score: robust z); one
    anomaly however long it lasts, until `ended_at`."""

    id: str
    service: str
    metric: str
    kind: str  # level_shift, spike, trend, stopped, saturation
    onset: datetime
    detected_at: datetime
    score: float
    value: float
    baseline: float | None
    detail: str
    #: When detection stopped finding it; None while it goes on.
    ended_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class EvidenceItem:
    """One concrete datum: what (`source`: a metric or an event kind) was `value` at `ts`."""

    ts: datetime
    service: str
    source: str
    value: float | None
    description: str


@dataclass(frozen=True, slots=True)
class Hypothesis:
    service: str
    kind: FaultKind
    #: Calibrated probability that this service is the root cause (0..1).
    confidence: float
    onset: datetime | None
    evidence: tuple[EvidenceItem, ...]
    counter_evidence: tuple[EvidenceItem, ...]
    #: What a person could do; never executed by Coral.
    recommendation: str


@dataclass(frozen=True, slots=True)
class InvestigationResult:
    id: str
    created_at: datetime
    question: str | None
    service: str | None
    start: datetime
    end: datetime
    outcome: Outcome
    #: Best first; empty when the outcome is NO_SIGNIFICANT_ANOMALY.
    hypotheses: tuple[Hypothesis, ...]
    summary: str
    anomalies: tuple[AnomalyView, ...]
    duration_ms: float


@dataclass(frozen=True, slots=True)
class CorrelationView:
    """Anomalies and events grouped in time, with the top hypothesis for the group."""

    id: str
    created_at: datetime
    window_start: datetime
    window_end: datetime
    services: tuple[str, ...]
    anomaly_ids: tuple[str, ...]
    top_hypothesis: str
