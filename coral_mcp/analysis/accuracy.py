"""Accuracy of ranked root causes: AC@k, Avg@k, and a calibration table (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Scored:
    """One case: the true root service's rank (1-based, None if absent) and kind."""

    kind: str
    rank: int | None
    seconds: float
    top_confidence: float | None = None
    top_correct: bool = False


@dataclass(frozen=True, slots=True)
class Accuracy:
    cases: int
    ac1: float
    ac3: float
    avg5: float
    mean_s: float


def ac_at(ranks: Sequence[int | None], k: int) -> float:
    if not ranks:
        return 0.0
    return sum(1 for r in ranks if r is not None and r <= k) / len(ranks)


def accuracy(cases: Sequence[Scored]) -> Accuracy:
    ranks = [c.rank for c in cases]
    avg5 = sum(ac_at(ranks, k) for k in range(1, 6)) / 5
    mean_s = sum(c.seconds for c in cases) / len(cases) if cases else 0.0
    return Accuracy(len(cases), ac_at(ranks, 1), ac_at(ranks, 3), avg5, mean_s)


def by_kind(cases: Sequence[Scored]) -> dict[str, Accuracy]:
    kinds = sorted({c.kind for c in cases})
    return {k: accuracy([c for c in cases if c.kind == k]) for k in kinds}


BUCKETS = ((0.0, 0.2), (0.2, 0.4), (0.4, 0.6), (0.6, 0.8), (0.8, 1.01))


def calibration(cases: Sequence[Scored]) -> list[tuple[str, int, float | None]]:
    """Per confidence bucket of the top hypothesis: (bucket, cases, observed accuracy)."""
    rows: list[tuple[str, int, float | None]] = []
    for lo, hi in BUCKETS:
        inside = [c for c in cases if c.top_confidence is not None and lo <= c.top_confidence < hi]
        hit = sum(1 for c in inside if c.top_correct) / len(inside) if inside else None
        rows.append((f"{lo:.1f}-{min(hi, 1.0):.1f}", len(inside), hit))
    return rows
