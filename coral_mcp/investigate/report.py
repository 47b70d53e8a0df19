"""Plain-text rendering of investigations and evaluations for a person at a terminal."""

from __future__ import annotations

from collections.abc import Sequence

from coral_mcp.analysis.accuracy import (
    Accuracy,
    Bucket,
    Scored,
    accuracy,
    by_kind,
    calibration,
)
from coral_mcp.models.intelligence import InvestigationResult


def investigation_text(result: InvestigationResult, limit: int = 3) -> str:
    lines = [
        f"investigation {result.id}: {result.start:%Y-%m-%d %H:%M:%S} to "
        f"{result.end:%H:%M:%S} UTC ({result.duration_ms:.0f} ms)",
        result.summary,
    ]
    for i, h in enumerate(result.hypotheses[:limit], start=1):
        onset = f", onset {h.onset:%H:%M:%S}" if h.onset else ""
        lines.append(f"{i}. {h.service}: {h.kind} (confidence {h.confidence:.2f}{onset})")
        lines += [f"   + {e.ts:%H:%M:%S} {e.source}: {e.description}" for e in h.evidence]
        lines += [f"   - {e.ts:%H:%M:%S} {e.source}: {e.description}" for e in h.counter_evidence]
        lines.append(f"   -> {h.recommendation}")
    return "\n".join(lines)


def accuracy_row(name: str, a: Accuracy) -> str:
    return (
        f"{name:<22} {a.cases:>5} {a.ac1:>6.2f} {a.ac3:>6.2f} {a.avg5:>6.2f} "
        f"{a.kind_ac1:>7.2f} {a.mean_s * 1000:>9.0f}"
    )


def calibration_row(b: Bucket) -> str:
    text = f"{b.low:.1f}-{b.high:.1f}: {b.hypotheses} hypotheses"
    if b.mean_confidence is None or b.observed is None:
        return text
    return text + f", mean confidence {b.mean_confidence:.2f}, right {b.observed:.2f}"


KIND_NOTE = "kind@1: the top hypothesis names the root service and its fault kind"


def evaluation_text(scored: Sequence[Scored], no_fault: tuple[int, int]) -> str:
    header = (
        f"{'fault kind':<22} {'cases':>5} {'AC@1':>6} {'AC@3':>6} {'Avg@5':>6}"
        f" {'kind@1':>7} {'ms/case':>9}"
    )
    lines = [header, accuracy_row("all", accuracy(scored))]
    lines += [accuracy_row(k, a) for k, a in by_kind(scored).items()]
    lines.append(KIND_NOTE)
    right, total = no_fault
    if total:
        lines.append(f"no-fault cases answered 'no significant anomaly': {right}/{total}")
    lines.append("calibration (every hypothesis: confidence -> share naming the root cause):")
    lines += [f"  {calibration_row(b)}" for b in calibration(scored)]
    return "\n".join(lines)
