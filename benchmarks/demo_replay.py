"""The live faults again, offline: each kept run of `demo_faults.py --keep DIR` (the
colony's DuckDB file, the fault's ground truth and when Coral was asked) investigated
once more by today's analysis, at the same ranges the live run asked about, and judged
as the live run was. Answers what a change of the analysis does to the live cases in
seconds instead of half an hour; the live run stays the measure (its agents' data is
the same, but a live colony answers while data still arrives).

    python benchmarks/demo_replay.py DIR [DIR ...] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from coral_mcp.demo.scenarios import SCENARIOS, judge
from coral_mcp.intelligence import engine
from coral_mcp.storage.store import ColonyStore
from coral_mcp.tools.intelligence_schemas import InvestigationOut


def cases(roots: list[Path]) -> list[Path]:
    return sorted(p.parent for root in roots for p in root.glob("**/case.json"))


def judged(path: Path) -> bool:
    """A case of a scenario the demo knows (or of no fault): only those have a truth to
    judge the answer by."""
    name = json.loads((path / "case.json").read_text())["scenario"]
    return name == "no_fault" or name in SCENARIOS


def replay(path: Path) -> dict[str, Any]:
    case = json.loads((path / "case.json").read_text())
    scenario = SCENARIOS.get(case["scenario"])
    start = datetime.fromisoformat(case["reference_start"])
    injected = datetime.fromisoformat(case["injected_at"])
    with tempfile.TemporaryDirectory() as tmp:  # DuckDB may replay its WAL: work on a copy
        for f in path.glob("colony.duckdb*"):
            shutil.copy2(f, Path(tmp) / f.name)
        store = ColonyStore(Path(tmp))
        try:
            answers = []
            for text in case["asked"]:
                end = datetime.fromisoformat(text)
                req = engine.Request(start, end, end, "what happened?")
                doc = engine.document(engine.investigate(store, req))
                brief = InvestigationOut.model_validate(doc).brief().model_dump(mode="json")
                answers.append(((end - injected).total_seconds(), judge(scenario, brief), brief))
        finally:
            store.close()
    right = next((a for a in answers if a[1].correct), None) if scenario else None
    last = right or answers[-1]
    return {
        "case": path.name,
        "scenario": case["scenario"],
        "live_correct": case["correct"],
        "correct": last[1].correct,
        "seconds_to_correct": round(right[0], 1) if right else None,
        "rank": last[1].rank,
        "confidence": last[1].confidence,
        "reason": last[1].reason,
        "summary": last[2].get("summary"),
        "top": [
            f"{h['service']} {h['kind']} {h['confidence']}: "
            + "; ".join(f"{e['source']}: {e['description']}" for e in h["evidence"])
            for h in last[2].get("hypotheses") or []
        ],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("dirs", nargs="+", type=Path)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("-v", "--verbose", action="store_true", help="print the top answers")
    args = parser.parse_args()
    kept = cases(args.dirs)
    found = [p for p in kept if judged(p)]
    if len(found) < len(kept):
        print(f"skipped {len(kept) - len(found)} cases of faults no demo scenario describes")
    if not found:
        print(f"no kept cases (case.json) under {', '.join(map(str, args.dirs))}")
        return 1
    results = [replay(p) for p in found]
    by_scenario: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        by_scenario.setdefault(r["scenario"], []).append(r)
        mark = "RIGHT" if r["correct"] else "wrong"
        live = "right" if r["live_correct"] else "wrong"
        print(f"{r['case']}: {mark} (live {live}) t={r['seconds_to_correct']} {r['reason']}")
        if args.verbose:
            print(f"    {r['summary']}")
            for line in r["top"]:
                print(f"    - {line}")
    print()
    for name, runs in sorted(by_scenario.items()):
        right = sum(r["correct"] for r in runs)
        live = sum(r["live_correct"] for r in runs)
        print(f"{name}: right {right}/{len(runs)} (live {live}/{len(runs)})")
    total = sum(r["correct"] for r in results)
    print(f"all: right {total}/{len(results)}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
