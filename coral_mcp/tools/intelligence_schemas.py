"""Typed results of the intelligence tools: baselines, anomalies, correlations, hypotheses."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator

from coral_mcp.tools.schemas import OutModel as _Out
from coral_mcp.tools.schemas import Timestamp, rounded


class BaselineOut(_Out):
    service: str
    metric: str
    hour_of_day: int = Field(description="UTC hour the baseline is for; -1 for all hours.")
    center: float = Field(description="Robust centre (median) of normal.")
    spread: float = Field(description="Robust spread (scaled MAD, floored): 1 'sigma'.")
    samples: int = Field(description="Data points it was learned from.")
    window_start: Timestamp
    window_end: Timestamp


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
    onset: Timestamp = Field(description="Estimated start (change point), RFC 3339 UTC.")
    detected_at: Timestamp
    score: Annotated[float, rounded(2)] = Field(
        description="Robust z-score against the baseline (higher: stranger)."
    )
    value: float = Field(description="The anomalous level.")
    baseline: float | None = Field(description="Normal level, when a baseline exists.")
    detail: str
    ended_at: Timestamp | None = Field(
        default=None,
        description="When detection stopped finding it; null while it goes on"
        " (and in an investigation's own analysis).",
    )


class AnomalyList(_Out):
    start: Timestamp = Field(description="Resolved range start, RFC 3339 UTC.")
    end: Timestamp = Field(description="Resolved range end, RFC 3339 UTC.")
    anomalies: list[AnomalyOut] = Field(
        description="Going on in the range, earliest onset first: where it began."
    )
    count: int
    truncated: bool
    next_cursor: str | None
    hint: str | None = None


class CorrelationOut(_Out):
    id: str
    created_at: Timestamp
    window_start: Timestamp
    window_end: Timestamp
    services: list[str] = Field(description="Services involved (at most 20).")
    anomaly_ids: list[str] = Field(description="Its anomalies, earliest onset first (at most 20).")
    top_hypothesis: str


class CorrelationList(_Out):
    correlations: list[CorrelationOut] = Field(description="Newest first.")
    count: int
    hint: str | None = None


class EvidenceOut(_Out):
    ts: Timestamp = Field(description="When, RFC 3339 UTC.")
    service: str
    source: str = Field(description="A metric name or an event kind.")
    value: float | None
    description: str


class HypothesisOut(_Out):
    rank: int
    service: str = Field(description="The suspected root-cause service.")
    kind: Annotated[
        Literal[
            "memory_leak",
            "crash_loop",
            "crash",
            "dependency_down",
            "cpu_saturation",
            "latency",
            "bad_deploy",
            "resource_exhaustion",
            "error_spike",
        ],
        BeforeValidator(str),
    ]
    confidence: Annotated[float, rounded(3)] = Field(
        description="Probability (0-1) that this is the root cause."
    )
    onset: Timestamp | None
    evidence: list[EvidenceOut]
    counter_evidence: list[EvidenceOut] = Field(description="Data that argues against it.")
    recommendation: str = Field(description="What a person could do. Coral never does it.")


class InvestigationOut(_Out):
    """An investigation: the `investigate` tool's result and `coral://investigations/{id}`
    alike. Validates from an `InvestigationResult` or from the document stored for it."""

    id: str = Field(description="Read it again later as coral://investigations/{id}.")
    created_at: Timestamp
    question: str | None
    service: str | None
    start: Timestamp = Field(description="Resolved range start, RFC 3339 UTC.")
    end: Timestamp = Field(description="Resolved range end, RFC 3339 UTC.")
    outcome: Annotated[
        Literal["hypotheses", "no_significant_anomaly", "no_clear_root_cause", "unknown_service"],
        BeforeValidator(str),
    ]
    summary: str
    hypotheses: list[HypothesisOut] = Field(description="Most likely first.")
    anomalies: list[AnomalyOut] | None = Field(
        default=None, description="The anomalies the ranking used; detail=true."
    )
    duration_ms: Annotated[float, rounded(1)]
    hint: str | None = Field(default=None, description="What the summary left out.")

    def brief(self, hypotheses: int = 3, evidence: int = 3, against: int = 1) -> InvestigationOut:
        """The first `hypotheses`, each with its first `evidence` items and `against`
        items of counter-evidence, without the anomalies; `hint` says what was left out
        and where it is."""
        kept = [
            h.model_copy(
                update={
                    "evidence": h.evidence[:evidence],
                    "counter_evidence": h.counter_evidence[:against],
                }
            )
            for h in self.hypotheses[:hypotheses]
        ]
        left = len(self.hypotheses) - len(kept)
        cut = sum(
            len(h.evidence) + len(h.counter_evidence) for h in self.hypotheses[:hypotheses]
        ) - sum(len(h.evidence) + len(h.counter_evidence) for h in kept)
        counts = (
            (left, "hypotheses"),
            (cut, "evidence items"),
            (len(self.anomalies or []), "anomalies"),
        )
        missing = [f"{n} more {what}" for n, what in counts if n]
        hint = None
        if missing:
            hint = (
                f"Summary: {', '.join(missing)} with detail=true"
                f" or in coral://investigations/{self.id}."
            )
        return self.model_copy(update={"hypotheses": kept, "anomalies": None, "hint": hint})

    @field_validator("hypotheses", mode="before")
    @classmethod
    def _ranked(cls, hypotheses: Any) -> Any:
        """Each hypothesis with its rank, most likely first (1)."""
        return [{**_known(h, HypothesisOut), "rank": i + 1} for i, h in enumerate(hypotheses)]

    @field_validator("anomalies", mode="before")
    @classmethod
    def _anomalies(cls, anomalies: Any) -> Any:
        return [_known(a, AnomalyOut) for a in anomalies]


def _known(value: Any, model: type[_Out]) -> dict[str, Any]:
    """The fields of `model` that `value` (a view or a stored document) has: stored
    documents may carry fields a later version added."""
    if isinstance(value, dict):
        items = value
    elif dataclasses.is_dataclass(value):
        items = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    else:
        return value  # type: ignore[no-any-return]
    return {k: v for k, v in items.items() if k in model.model_fields}
