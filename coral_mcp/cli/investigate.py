"""`coral investigate --replay CASE_DIR`: rank root causes of a recorded case."""

from __future__ import annotations

import asyncio
import logging
import tempfile
from pathlib import Path

import click

from coral_mcp.cli.common import echo_text


@click.command()
@click.option(
    "--replay",
    "case_dir",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="A case directory (metrics.csv, events.csv, edges.csv, case.json; see docs/replay.md).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the investigation as JSON.")
def investigate(case_dir: Path, as_json: bool) -> None:
    """Import a recorded case into a fresh store and investigate it.

    Runs the same storage and analysis code as a live colony: ranked hypotheses with
    confidence, evidence, counter-evidence and a recommendation, or "no significant
    anomaly". The case's label (case.json root_cause) is not used.
    """
    # Every replay migrates a fresh store: those lines are noise here.
    logging.getLogger("coral_mcp.storage").setLevel(logging.WARNING)
    from coral_mcp.intelligence.replay import load_case, replay
    from coral_mcp.investigate.report import investigation_text

    case = load_case(case_dir)
    with tempfile.TemporaryDirectory(prefix="coral-replay-") as tmp:
        result = asyncio.run(replay(case, Path(tmp)))
    if as_json:
        from coral_mcp.tools.intelligence_schemas import InvestigationOut

        click.echo(InvestigationOut.model_validate(result).model_dump_json(indent=2))
    else:
        echo_text(investigation_text(result))
