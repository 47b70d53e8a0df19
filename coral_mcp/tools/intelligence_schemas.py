"""Typed results of the intelligence tools: baselines, anomalies, correlations, hypotheses."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from coral_mcp.models.intelligence import (
    AnomalyView,
    BaselineView,
    CorrelationView,
    EvidenceItem,
    Hypothesis,
    InvestigationResult,
)
from coral_mcp.models.timerange import rfc3339
from coral_mcp.tools.schemas import OutModel as _Out


class BaselineOut(_Out):
    service: str
    metric: str
    hour_of_day: int = Field(description="UTC hour the baseline is for; -1 for all hours.")
    center: float = Field(description="Robust centre (median) of normal.")
    spread: float = Field(description="Robust spread (scaled MAD, floored): 1 'sigma'.")
    samples: int = Field(description="Data points it was learned from.")
    window_start: str
    window_end: str


class BaselineList(_Out):
    baselines: list[BaselineOut]
    count: int
    truncated: bool = Field(description="True when more follow; pass next_cursor.")
    next_cursor: str | None
    hint: str | None = None


class AnomalyOut(_Out):
    id: str
    service: str
    metric: str
    kind: str = Field(description="level_shift, spike, trend, saturation or stopped.")
    onset: str = Field(description="Estimated start (change point), RFC 3339 UTC.")
    detected_at: str
    score: float = Field(description="Robust z-score against the baseline (higher: stranger).")
    value: float = Field(description="The anomalous level.")
    baseline: float | None = Field(description="Normal level, when a baseline exists.")
    detail: str


class AnomalyList(_Out):
    start: str = Field(description="Resolved range start, RFC 3339 UTC.")
    end: str = Field(description="Resolved range end, RFC 3339 UTC.")
    anomalies: list[AnomalyOut] = Field(description="Earliest onset first: where it began.")
    count: int
    truncated: bool
    next_cursor: str | None
    hint: str | None = None


class CorrelationOut(_Out):
    id: str
    created_at: str
    window_start: str
    window_end: str
    services: list[str]
    anomaly_ids: list[str]
    top_hypothesis: str


class CorrelationList(_Out):
    correlations: list[CorrelationOut] = Field(description="Newest first.")
    count: int
    hint: str | None = None


class EvidenceOut(_Out):
    ts: str = Field(description="When, RFC 3339 UTC.")
    service: str
    source: str = Field(description="A metric name or an event kind.")
    value: float | None
    description: str


class HypothesisOut(_Out):
    rank: int
    service: str = Field(description="The suspected root-cause service.")
    kind: Literal[
        "memory_leak",
        "crash_loop",
        "crash",
        "dependency_down",
        "cpu_saturation",
        "latency",
        "bad_deploy",
        "resource_exhaustion",
        "error_spike",
    ]
    confidence: float = Field(description="Probability (0-1) that this is the root cause.")
    onset: str | None
    evidence: list[EvidenceOut]
    counter_evidence: list[EvidenceOut] = Field(description="Data that argues against it.")
    recommendation: str = Field(description="What a person could do. Coral never does it.")


class InvestigationOut(_Out):
    id: str = Field(description="Read it again later as coral://investigations/{id}.")
    created_at: str
    question: str | None
    service: str | None
    start: str = Field(description="Resolved range start, RFC 3339 UTC.")
    end: str = Field(description="Resolved range end, RFC 3339 UTC.")
    outcome: Literal[
        "hypotheses", "no_significant_anomaly", "no_clear_root_cause", "unknown_service"
    ]
    summary: str
    hypotheses: list[HypothesisOut] = Field(description="Most likely first.")
    anomalies: list[AnomalyOut] = Field(description="The anomalies the ranking used.")
    duration_ms: float


def baseline_out(view: BaselineView) -> BaselineOut:
    return BaselineOut(
        service=view.service,
        metric=view.metric,
        hour_of_day=view.hour_of_day,
        center=view.center,
        spread=view.spread,
        samples=view.samples,
        window_start=rfc3339(view.window_start),
        window_end=rfc3339(view.window_end),
    )


def anomaly_out(view: AnomalyView) -> AnomalyOut:
    return AnomalyOut(
        id=view.id,
        service=view.service,
        metric=view.metric,
        kind=view.kind,
        onset=rfc3339(view.onset),
        detected_at=rfc3339(view.detected_at),
        score=round(view.score, 2),
        value=view.value,
        baseline=view.baseline,
        detail=view.detail,
    )


def correlation_out(view: CorrelationView) -> CorrelationOut:
    return CorrelationOut(
        id=view.id,
        created_at=rfc3339(view.created_at),
        window_start=rfc3339(view.window_start),
        window_end=rfc3339(view.window_end),
        services=list(view.services),
        anomaly_ids=list(view.anomaly_ids),
        top_hypothesis=view.top_hypothesis,
    )


def _evidence(item: EvidenceItem) -> EvidenceOut:
    return EvidenceOut(
        ts=rfc3339(item.ts),
        service=item.service,
        source=item.source,
        value=item.value,
        description=item.description,
    )


def hypothesis_out(rank: int, h: Hypothesis) -> HypothesisOut:
    return HypothesisOut(
        rank=rank,
        service=h.service,
        kind=h.kind.value,
        confidence=round(h.confidence, 3),
        onset=rfc3339(h.onset) if h.onset else None,
        evidence=[_evidence(e) for e in h.evidence],
        counter_evidence=[_evidence(e) for e in h.counter_evidence],
        recommendation=h.recommendation,
    )


def investigation_out(result: InvestigationResult) -> InvestigationOut:
    return InvestigationOut(
        id=result.id,
        created_at=rfc3339(result.created_at),
        question=result.question,
        service=result.service,
        start=rfc3339(result.start),
        end=rfc3339(result.end),
        outcome=result.outcome.value,
        summary=result.summary,
        hypotheses=[hypothesis_out(i + 1, h) for i, h in enumerate(result.hypotheses)],
        anomalies=[anomaly_out(a) for a in result.anomalies],
        duration_ms=round(result.duration_ms, 1),
    )
