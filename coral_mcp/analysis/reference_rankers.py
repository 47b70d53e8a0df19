"""Reference root-cause rankers from the literature, for honest side-by-side evaluation.

- **BARO** (Pham et al., FSE 2024, its ranking stage, as its published code does it):
  for every series, scikit-learn's RobustScaler fitted on the values before the onset
  (median and inter-quartile range; an IQR of zero scales by 1, as RobustScaler does)
  applied to the values after it; a series scores its largest z (signed: a rise), a
  service the largest score of its series.
- **Graph traversal** (the classic microservice RCA walk): services whose BARO score
  reaches TRAVERSAL_Z are anomalous; from the symptom's service (or, without one, from
  every anomalous service nobody anomalous calls) walk to anomalous dependencies; the
  anomalous services reached that have no anomalous dependency are the roots, ranked by
  score, then the rest of the reached ones, then every other service.

Both use every series as it is (no notion of host metrics, throughput or chronic
noise): they are the plain baselines Coral must beat. Pure: data in, rankings out.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from coral_mcp.analysis.changepoint import change_point
from coral_mcp.analysis.detect import Series
from coral_mcp.analysis.topology import ServiceGraph

#: BARO score at which the traversal counts a service as anomalous.
TRAVERSAL_Z = 3.0
#: An IQR below this is taken as zero and scales by 1 (scikit-learn's RobustScaler does
#: the same: a constant reference would divide by zero; a tiny floor instead would rank
#: first whatever series happened to be constant before the onset).
ZERO_IQR = 10 * float(np.finfo(np.float64).eps)

Ranking = list[tuple[str, float]]


def default_onset(series: Sequence[Series]) -> float | None:
    """Without a given incident time: the median of the series' CUSUM change points."""
    found = []
    for s in series:
        cp = change_point(s.values)
        if cp is not None and cp < s.ts_s.size:
            found.append(float(s.ts_s[cp]))
    return float(np.median(found)) if found else None


def baro(series: Sequence[Series], onset_s: float) -> Ranking:
    """Services by their largest robust z after `onset_s`, best first (see the module doc)."""
    scores: dict[str, float] = {}
    for s in series:
        before = s.ts_s < onset_s
        if int(before.sum()) < 2 or bool(before.all()):
            scores.setdefault(s.service, -np.inf)
            continue
        ref = s.values[before]
        q1, median, q3 = np.percentile(ref, [25.0, 50.0, 75.0])
        iqr = float(q3 - q1)
        scale = iqr if iqr >= ZERO_IQR else 1.0
        z = float(np.max(s.values[~before] - median)) / scale
        scores[s.service] = max(scores.get(s.service, -np.inf), z)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


def traversal(
    series: Sequence[Series], onset_s: float, graph: ServiceGraph, symptom: str | None
) -> Ranking:
    """The graph-traversal ranking (see the module doc), best first."""
    scored = baro(series, onset_s)
    score = dict(scored)
    bad = {s for s, z in scored if z >= TRAVERSAL_Z}
    starts = [symptom] if symptom else [s for s in bad if not (graph.dependents(s) & bad)]
    reached: set[str] = set()
    for start in starts:
        reached |= ({start} & bad) | (graph.dependencies(start) & bad)
    roots = {s for s in reached if not (graph.dependencies(s) & bad)}

    def tier(service: str) -> int:
        return 0 if service in roots else 1 if service in reached else 2

    return sorted(((s, z) for s, z in scored), key=lambda kv: (tier(kv[0]), -score[kv[0]], kv[0]))


def rank_of(ranking: Ranking, service: str) -> int | None:
    for i, (name, _) in enumerate(ranking, start=1):
        if name == service:
            return i
    return None
