"""Root-cause accuracy (AC@1, AC@3, Avg@5, per fault kind, calibration) on the scenario
library and, when converted, on DoWhy's microservice example data.

Usage: python benchmarks/analysis_accuracy.py [DOWHY_DIR]
       (DOWHY_DIR default: benchmarks/data/dowhy, made by scripts/convert_dowhy.py)
Appends one entry per data set to RESULTS.md.
"""

from __future__ import annotations

import logging
import sys
import tempfile
from pathlib import Path

from common import append_result

from coral_mcp.analysis.accuracy import Accuracy, accuracy, by_kind, calibration
from coral_mcp.intelligence.evaluation import run_all
from coral_mcp.investigate.report import calibration_row

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from scripts.gen_scenarios import generate  # noqa: E402


def score(root: Path) -> list[str]:
    outcomes = run_all(root)
    scored = [o.scored() for o in outcomes if o.case.label is not None]
    quiet = [o for o in outcomes if o.case.label is None]

    def row(name: str, a: Accuracy) -> str:
        return (
            f"{name}: AC@1 {a.ac1:.2f}, AC@3 {a.ac3:.2f}, Avg@5 {a.avg5:.2f},"
            f" kind@1 {a.kind_ac1:.2f}, {a.mean_s * 1000:.0f} ms/case ({a.cases} cases)"
        )

    lines = [row("overall", accuracy(scored))]
    lines += [row(kind, a) for kind, a in by_kind(scored).items()]
    if quiet:
        right = sum(1 for o in quiet if o.correct_none)
        lines.append(f"no-fault cases answered 'no significant anomaly': {right}/{len(quiet)}")
    buckets = [calibration_row(b) for b in calibration(scored)]
    lines.append(
        "calibration (every hypothesis: confidence -> share naming the root cause): "
        + "; ".join(buckets)
    )
    lines += [
        f"miss: {o.name}: rank {o.rank}, top "
        + (
            o.result.hypotheses[0].service
            if o.result.hypotheses
            else "none (no significant anomaly)"
        )
        for o in outcomes
        if o.case.label is not None and o.rank != 1
    ]
    return lines


def main() -> None:
    logging.getLogger("coral_mcp.storage").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        print(
            append_result(
                "Root-cause accuracy: scenario library",
                "python benchmarks/analysis_accuracy.py (coral eval of gen_scenarios.py output)",
                score(Path(tmp)),
            )
        )
    dowhy = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "data" / "dowhy"
    if dowhy.is_dir():
        print(
            append_result(
                "Root-cause accuracy: DoWhy microservice example (dowhy 0.12 sdist)",
                f"python scripts/convert_dowhy.py && coral eval {dowhy.relative_to(HERE.parent)}",
                score(dowhy),
            )
        )


if __name__ == "__main__":
    main()
