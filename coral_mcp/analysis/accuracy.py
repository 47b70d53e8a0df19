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
    #: Every hypothesis: (confidence, whether its service is the root cause).
    predictions: tuple[tuple[float, bool], ...] = ()
    #: The top hypothesis names the right service and the right fault kind.
    kind_right: bool = False
    #: The answer was "no clear root cause" (or "no significant anomaly").
    unclear: bool = False


@dataclass(frozen=True, slots=True)
class Accuracy:
    cases: int
    ac1: float
    ac3: float
    avg5: float
    mean_s: float
    #: Share of cases whose top hypothesis has the right service and fault kind.
    kind_ac1: float = 0.0


def ac_at(ranks: Sequence[int | None], k: int) -> float:
    if not ranks:
        return 0.0
    return sum(1 for r in ranks if r is not None and r <= k) / len(ranks)


def accuracy(cases: Sequence[Scored]) -> Accuracy:
    ranks = [c.rank for c in cases]
    avg5 = sum(ac_at(ranks, k) for k in range(1, 6)) / 5
    mean_s = sum(c.seconds for c in cases) / len(cases) if cases else 0.0
    kind_ac1 = sum(1 for c in cases if c.kind_right) / len(cases) if cases else 0.0
    return Accuracy(len(cases), ac_at(ranks, 1), ac_at(ranks, 3), avg5, mean_s, kind_ac1)


def by_kind(cases: Sequence[Scored]) -> dict[str, Accuracy]:
    kinds = sorted({c.kind for c in cases})
    return {k: accuracy([c for c in cases if c.kind == k]) for k in kinds}


BUCKETS = ((0.0, 0.2), (0.2, 0.4), (0.4, 0.6), (0.6, 0.8), (0.8, 1.0))


@dataclass(frozen=True, slots=True)
class Bucket:
    """Hypotheses whose confidence fell in [low, high): how many, their mean confidence,
    and the share whose service was the root cause (calibrated: the two agree)."""

    low: float
    high: float
    hypotheses: int
    mean_confidence: float | None
    observed: float | None


def calibration(cases: Sequence[Scored]) -> list[Bucket]:
    """Reliability table over every ranked hypothesis of every case."""
    predictions = [p for c in cases for p in c.predictions]
    rows = []
    for lo, hi in BUCKETS:
        inside = [
            (conf, ok) for conf, ok in predictions if lo <= conf < hi or (hi == 1.0 and conf == 1.0)
        ]
        n = len(inside)
        mean = sum(conf for conf, _ in inside) / n if n else None
        observed = sum(1 for _, ok in inside if ok) / n if n else None
        rows.append(Bucket(lo, hi, n, mean, observed))
    return rows


def expected_calibration_error(cases: Sequence[Scored]) -> float:
    """ECE over every ranked hypothesis: the bucket-weighted mean of |mean confidence -
    share right| over the calibration table's buckets."""
    rows = calibration(cases)
    total = sum(b.hypotheses for b in rows)
    if total == 0:
        return 0.0
    return sum(
        b.hypotheses / total * abs(b.mean_confidence - b.observed)
        for b in rows
        if b.mean_confidence is not None and b.observed is not None
    )


def top_calibration(cases: Sequence[Scored]) -> list[Bucket]:
    """The reliability table of the top hypotheses only (confidence of the first answer
    against whether it was right)."""
    tops = [Scored(c.kind, c.rank, c.seconds, c.predictions[:1]) for c in cases if c.predictions]
    return calibration(tops)
