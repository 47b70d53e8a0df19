"""Root-cause accuracy beside the reference rankers, in one run: the scenario library,
DoWhy's microservice example (when converted) and the real development sets (the Nezha
cases in ../shared/data/rca/, when present; never committed).

Usage: python benchmarks/analysis_accuracy.py [--compare] [--rca DIR] [--dowhy DIR]
       --compare  also rank with BARO and graph traversal (coral eval --compare)
       --rca      the directory holding nezha-cases.tar.gz (default ../shared/data/rca)
       --dowhy    converted DoWhy cases (default benchmarks/data/dowhy, made by
                  scripts/convert_dowhy.py)

Every data set is copied or unpacked below one temporary root and evaluated by one
`run_all` (the same code as `coral eval ROOT --compare`): a table per data set and fault
kind, the targets of issue 18 checked, the reliability table and ECE pooled over the
real development sets, and the share of faults invisible in the root's own metrics
(meta.json `root_cause_top_z` below the anomaly threshold) answered "no clear root
cause". Appends one entry to RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path

from common import append_result

from coral_mcp.analysis.accuracy import (
    Scored,
    accuracy,
    calibration,
    expected_calibration_error,
    top_calibration,
)
from coral_mcp.analysis.detect import THRESHOLD
from coral_mcp.intelligence.evaluation import CaseOutcome, run_all
from coral_mcp.investigate.report import calibration_row, evaluation_text

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from scripts.gen_scenarios import generate  # noqa: E402

REAL = ("nezha_ob", "nezha_tt")


def invisible(o: CaseOutcome) -> bool:
    """The fault barely shows in the root's own metrics (per the case's meta.json)."""
    meta = o.case.path / "meta.json"
    if not meta.is_file():
        return False
    top = json.loads(meta.read_text()).get("root_cause_top_z") or []
    return max((abs(float(z)) for _, z in top), default=0.0) < THRESHOLD


def acc(outcomes: list[CaseOutcome], ranker: str) -> tuple[float, float]:
    labelled = [o for o in outcomes if o.case.label is not None]
    scored = [o.scored() if ranker == "coral" else o.reference_scored(ranker) for o in labelled]
    a = accuracy(scored)
    return a.ac1, a.ac3


def targets(outcomes: list[CaseOutcome], compare: bool) -> list[str]:
    by = {
        name: [o for o in outcomes if o.dataset == name] for name in {o.dataset for o in outcomes}
    }
    lines = []
    if by.get("library"):
        ac1, _ = acc(by["library"], "coral")
        lines.append(
            f"target library AC@1 >= 0.95: {ac1:.2f} ({'met' if ac1 >= 0.95 else 'NOT met'})"
        )
    if by.get("nezha_ob"):
        ac1, ac3 = acc(by["nezha_ob"], "coral")
        ok = ac1 >= 0.6 and ac3 >= 0.85
        lines.append(
            f"target Nezha OB AC@1 >= 0.6 and AC@3 >= 0.85: {ac1:.2f} / {ac3:.2f}"
            f" ({'met' if ok else 'NOT met'})"
        )
    if by.get("nezha_tt"):
        tt = by["nezha_tt"]
        _, ac3 = acc(tt, "coral")
        if compare:
            refs = {r: acc(tt, r)[1] for r in ("baro", "traversal")}
            ok = all(ac3 > v for v in refs.values())
            lines.append(
                f"target Nezha TT AC@3 above BARO and traversal: {ac3:.2f} vs BARO"
                f" {refs['baro']:.2f}, traversal {refs['traversal']:.2f}"
                f" ({'met' if ok else 'NOT met'})"
            )
        hidden = [o for o in tt if invisible(o)]
        unclear = sum(1 for o in hidden if o.unclear)
        share = unclear / len(hidden) if hidden else 0.0
        lines.append(
            f"target Nezha TT invisible faults mostly 'no clear root cause': {unclear}/"
            f"{len(hidden)} = {share:.2f} ({'met' if share > 0.5 else 'NOT met'});"
            f" wrongly confident (top >= 0.5, wrong service) on"
            f" {sum(1 for o in hidden if o.rank != 1 and top_conf(o) >= 0.5)}"
        )
    real = [o.scored() for o in outcomes if o.dataset in REAL and o.case.label is not None]
    if real:
        ece = expected_calibration_error(real)
        top = expected_calibration_error(
            [Scored(s.kind, s.rank, s.seconds, s.predictions[:1]) for s in real]
        )
        lines.append(
            f"target pooled ECE (real dev sets, every hypothesis) <= 0.1: {ece:.3f}"
            f" ({'met' if ece <= 0.1 else 'NOT met'}); top hypotheses only: {top:.3f}"
        )
        lines.append(
            "reliability, every hypothesis: "
            + "; ".join(calibration_row(b) for b in calibration(real))
        )
        lines.append(
            "reliability, top hypotheses: "
            + "; ".join(calibration_row(b) for b in top_calibration(real))
        )
    return lines


def top_conf(o: CaseOutcome) -> float:
    return o.result.hypotheses[0].confidence if o.result.hypotheses else 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--compare", action="store_true")
    parser.add_argument("--rca", type=Path, default=HERE.parent.parent / "shared" / "data" / "rca")
    parser.add_argument("--dowhy", type=Path, default=HERE / "data" / "dowhy")
    args = parser.parse_args()
    logging.getLogger("coral_mcp.storage").setLevel(logging.WARNING)
    notes = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        generate(root / "library")
        if args.dowhy.is_dir():
            shutil.copytree(args.dowhy, root / "dowhy")
        else:
            notes.append(f"DoWhy cases absent ({args.dowhy}): skipped")
        tarball = args.rca / "nezha-cases.tar.gz"
        if tarball.is_file():
            with tarfile.open(tarball) as tar:
                tar.extractall(root, filter="data")
        else:
            notes.append(f"real dev sets absent ({tarball}): skipped")
        outcomes = run_all(root, args.compare)
        checked = targets(outcomes, args.compare)  # reads meta.json: before the cleanup
    lines = [*notes, *checked, *evaluation_text(outcomes, args.compare).splitlines()]
    command = "python benchmarks/analysis_accuracy.py" + (" --compare" if args.compare else "")
    print(
        append_result(
            "Root-cause accuracy: library, DoWhy and real dev sets beside BARO and traversal",
            command,
            lines,
        )
    )


if __name__ == "__main__":
    main()
