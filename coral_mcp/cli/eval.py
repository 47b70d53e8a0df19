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
def eval_cases(directory: Path, as_json: bool) -> None:
    """Replay every case below DIRECTORY; print AC@1, AC@3, Avg@5 and time per case.

    Overall and per fault kind, plus a calibration table (for every ranked
    hypothesis: its confidence against how often its service was the root cause).
    Cases without a root cause in case.json count as right when the answer is
    "no significant anomaly".
    """
    from coral_mcp.analysis.accuracy import accuracy, by_kind, calibration

    # Every replay migrates a fresh store: those lines are noise here.
    logging.getLogger("coral_mcp.storage").setLevel(logging.WARNING)
    from coral_mcp.intelligence.evaluation import run_all
    from coral_mcp.investigate.report import evaluation_text

    outcomes = run_all(directory)
    scored = [o.scored() for o in outcomes if o.case.label is not None]
    quiet = [o for o in outcomes if o.case.label is None]
    no_fault = (sum(1 for o in quiet if o.correct_none), len(quiet))
    if not as_json:
        click.echo(evaluation_text(scored, no_fault))
        return
    doc = {
        "overall": asdict(accuracy(scored)),
        "by_kind": {k: asdict(a) for k, a in by_kind(scored).items()},
        "no_fault": {"right": no_fault[0], "cases": no_fault[1]},
        "calibration": [asdict(b) for b in calibration(scored)],
        "cases": [
            {
                "case": o.name,
                "label": None if o.case.label is None else asdict(o.case.label),
                "rank": o.rank,
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
