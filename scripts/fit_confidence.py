"""Fit the confidence model (softmax temperature and the score of "none of these") on
development cases, by expected calibration error over every ranked hypothesis.

Usage: python scripts/fit_confidence.py DIR [DIR ...]
       (e.g. the scenario library and the unpacked real dev sets; never the held-out ones)

Runs the pure diagnosis on each case once, keeps the candidates' scores, and tries a
grid of (TEMPERATURE, NONE_SCORE); prints the best few with their pooled ECE, the ECE
per directory, and the share of each directory answered "no clear root cause".
Copy the chosen pair into coral_mcp/analysis/ranking.py by hand (it is a decision).
"""

from __future__ import annotations

import itertools
import math
import sys
from pathlib import Path

from coral_mcp.analysis.accuracy import Scored, expected_calibration_error
from coral_mcp.analysis.diagnose import CLEAR_CONFIDENCE, diagnose
from coral_mcp.analysis.topology import ServiceGraph
from coral_mcp.intelligence.evaluation import case_series, find_cases
from coral_mcp.intelligence.replay import load_case

Case = tuple[str, list[tuple[float, bool]]]  # directory, (score, is the root) per candidate


def scores(root: Path) -> list[Case]:
    out = []
    for path in find_cases(root):
        case = load_case(path)
        if case.label is None:
            continue
        series = case_series(case)
        end = max(float(s.ts_s[-1]) for s in series) + 60.0
        hint = case.incident_time.timestamp() if case.incident_time else None
        sym = case.symptom
        d = diagnose(
            series,
            list(case.events),
            ServiceGraph(case.edges),
            end,
            None,
            hint,
            sym.service if sym else None,
            sym.metric if sym else None,
        )
        out.append((root.name, [(c.score, c.service == case.label.service) for c in d.ranked[:10]]))
    return out


def confidences(ranked: list[tuple[float, bool]], t: float, none: float) -> list[float]:
    if not ranked:
        return []
    top = max(ranked[0][0], none)
    w = [math.exp((s - top) / t) for s, _ in ranked]
    total = sum(w) + math.exp((none - top) / t)
    return [x / total for x in w]


def evaluate(cases: list[Case], t: float, none: float) -> tuple[float, dict[str, float]]:
    by_dir: dict[str, list[Scored]] = {}
    for name, ranked in cases:
        conf = confidences(ranked, t, none)
        preds = tuple((c, ok) for c, (_, ok) in zip(conf, ranked, strict=True))
        by_dir.setdefault(name, []).append(Scored("", None, 0.0, preds))
    pooled = [s for v in by_dir.values() for s in v]
    tops = [Scored("", None, 0.0, s.predictions[:1]) for s in pooled]
    # Both must hold: every hypothesis, and the first answer a person reads.
    worst = max(expected_calibration_error(pooled), expected_calibration_error(tops))
    return worst, {k: expected_calibration_error(v) for k, v in by_dir.items()}


def main() -> None:
    cases = [c for d in sys.argv[1:] for c in scores(Path(d))]
    temperatures = [0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0]
    grid = itertools.product(temperatures, [3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0])
    results = sorted((evaluate(cases, t, n)[0], t, n) for t, n in grid)
    for ece, t, n in results[:5]:
        _, per = evaluate(cases, t, n)
        unclear: dict[str, int] = {}
        for name, ranked in cases:
            conf = confidences(ranked, t, n)
            unclear[name] = unclear.get(name, 0) + (not conf or conf[0] < CLEAR_CONFIDENCE)
        each = ", ".join(f"{k} {v:.3f} (unclear {unclear[k]})" for k, v in sorted(per.items()))
        print(f"T {t} NONE {n}: pooled ECE (worse of all / top) {ece:.3f}; {each}")


if __name__ == "__main__":
    main()
