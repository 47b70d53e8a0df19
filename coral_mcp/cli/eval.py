"""`coral eval DIR`: replay every case below DIR and score the root-cause rankings."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path

import click


@click.command(name="eval")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the scores (and each case) as JSON.")
@click.option(
    "--compare",
    is_flag=True,
    help="Also rank with the reference rankers BARO and graph traversal, side by side.",
)
def eval_cases(directory: Path, as_json: bool, compare: bool) -> None:
    """Replay every case below DIRECTORY; print AC@1, AC@3, Avg@5 and time per case.

    Per dataset (each directory below DIRECTORY) and overall, per fault kind, with a
    calibration table (for every ranked hypothesis: its confidence against how often
    its service was the root cause) and the cases Coral got wrong. Cases without a root
    cause in case.json count as right when the answer is "no significant anomaly".
    --compare runs BARO and a graph traversal on the same cases beside Coral.
    """
    from coral_mcp.analysis.accuracy import (
        accuracy,
        by_kind,
        calibration,
        expected_calibration_error,
    )

    # Every replay migrates a fresh store: those lines are noise here.
    logging.getLogger("coral_mcp.storage").setLevel(logging.WARNING)
    from rich.console import Console
    from rich.progress import Progress

    from coral_mcp.intelligence.evaluation import REFERENCES, run_all
    from coral_mcp.investigate.report import evaluation_text

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("replaying cases", total=None)
        outcomes = run_all(
            directory, compare, lambda done, total: bar.update(task, completed=done, total=total)
        )
    if not as_json:
        click.echo(evaluation_text(outcomes, compare))
        return
    scored = [o.scored() for o in outcomes if o.case.label is not None]
    quiet = [o for o in outcomes if o.case.label is None]
    refs = {
        r: asdict(accuracy([o.reference_scored(r) for o in outcomes if o.case.label]))
        for r in (REFERENCES if compare else ())
    }
    doc = {
        "overall": asdict(accuracy(scored)),
        "by_kind": {k: asdict(a) for k, a in by_kind(scored).items()},
        "references": refs,
        "no_fault": {"right": sum(1 for o in quiet if o.correct_none), "cases": len(quiet)},
        "calibration": [asdict(b) for b in calibration(scored)],
        "ece": expected_calibration_error(scored),
        "cases": [
            {
                "case": o.name,
                "dataset": o.dataset,
                "label": None if o.case.label is None else asdict(o.case.label),
                "rank": o.rank,
                "outcome": o.result.outcome.value,
                "reference_ranks": o.references,
                "top": [
                    {"service": h.service, "kind": h.kind.value, "confidence": h.confidence}
                    for h in o.result.hypotheses[:3]
                ],
                "seconds": round(o.seconds, 4),
            }
            for o in outcomes
        ],
    }
    click.echo(json.dumps(doc, indent=2))
