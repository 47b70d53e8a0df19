"""Plain-text rendering of investigations and evaluations for a person at a terminal."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from coral_mcp.analysis.accuracy import (
    Accuracy,
    Bucket,
    Scored,
    accuracy,
    calibration,
    expected_calibration_error,
)
from coral_mcp.models.intelligence import InvestigationResult

if TYPE_CHECKING:
    from coral_mcp.intelligence.evaluation import CaseOutcome


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
RANKERS = ("coral", "baro", "traversal")


def _scores(outcomes: Sequence[CaseOutcome], ranker: str) -> list[Scored]:
    labelled = [o for o in outcomes if o.case.label is not None]
    if ranker == "coral":
        return [o.scored() for o in labelled]
    return [o.reference_scored(ranker) for o in labelled]


def _table(outcomes: Sequence[CaseOutcome], rankers: Sequence[str]) -> list[str]:
    head = f"{'fault kind':<16} {'cases':>5}"
    for r in rankers:
        head += f" {r + ' AC@1':>14} {'AC@3':>5} {'Avg@5':>5}"
    head += f" {'kind@1':>7} {'unclear':>7} {'ms/case':>8}"
    coral = _scores(outcomes, "coral")
    kinds = ["all", *sorted({c.kind for c in coral})]
    lines = [head]
    for kind in kinds:
        row = ""
        for r in rankers:
            chosen = [c for c in _scores(outcomes, r) if kind in ("all", c.kind)]
            a = accuracy(chosen)
            row += f" {a.ac1:>14.2f} {a.ac3:>5.2f} {a.avg5:>5.2f}"
        mine = [c for c in coral if kind in ("all", c.kind)]
        a = accuracy(mine)
        unclear = sum(1 for c in mine if c.unclear)
        lines.append(
            f"{kind:<16} {len(mine):>5}{row} {a.kind_ac1:>7.2f} {unclear:>7}"
            f" {a.mean_s * 1000:>8.0f}"
        )
    return lines


def evaluation_text(outcomes: Sequence[CaseOutcome], compare: bool = False) -> str:
    """Per dataset (directory below the root) and overall: accuracy per fault kind
    (beside the reference rankers with `compare`), answers of "no significant anomaly"
    on no-fault cases, the reliability table with its ECE, and the cases Coral got wrong."""
    rankers = RANKERS if compare else RANKERS[:1]
    datasets = sorted({o.dataset for o in outcomes})
    lines: list[str] = []
    for name in datasets if len(datasets) > 1 else []:
        chosen = [o for o in outcomes if o.dataset == name]
        lines += [f"dataset {name or '.'} ({len(chosen)} cases)", *_table(chosen, rankers), ""]
    lines += [f"all cases ({len(outcomes)})", *_table(outcomes, rankers), KIND_NOTE]
    lines.append('unclear: cases answered "no clear root cause" or "no significant anomaly"')
    quiet = [o for o in outcomes if o.case.label is None]
    if quiet:
        right = sum(1 for o in quiet if o.correct_none)
        lines.append(f"no-fault cases answered 'no significant anomaly': {right}/{len(quiet)}")
    scored = _scores(outcomes, "coral")
    lines.append("calibration (every hypothesis: confidence -> share naming the root cause):")
    lines += [f"  {calibration_row(b)}" for b in calibration(scored)]
    lines.append(f"expected calibration error: {expected_calibration_error(scored):.3f}")
    wrong = [o for o in outcomes if o.case.label is not None and o.rank != 1]
    if wrong:
        lines.append(f"cases Coral got wrong ({len(wrong)}):")
        lines += [f"  {wrong_case(o)}" for o in sorted(wrong, key=lambda o: (o.dataset, o.name))]
    return "\n".join(lines)


def wrong_case(o: CaseOutcome) -> str:
    label = o.case.label
    truth = f"{label.service} ({label.kind or 'kind unknown'})" if label else "no fault"
    top = o.result.hypotheses[0] if o.result.hypotheses else None
    said = f"{top.service} {top.kind} ({top.confidence:.2f})" if top else "no significant anomaly"
    where = f"{o.dataset}/" if o.dataset else ""
    rank = "not ranked" if o.rank is None else f"truth ranked {o.rank}"
    return f"{where}{o.name}: Coral said {said}; truth {truth}, {rank}"
