"""`coral ask "QUESTION"`: ask the colony what is going on."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import click

from coral_mcp.cli.common import echo_text
from coral_mcp.cli.rest import colony_options, locate


@click.command()
@click.argument("question")
@colony_options
@click.option(
    "--since",
    default=None,
    help="For what-happened questions: range start, e.g. 30m, 2h [default: 1h].",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print the answer and the tool results as JSON."
)
def ask(
    question: str,
    colony_url: str | None,
    token: str | None,
    data_dir: Path | None,
    since: str | None,
    as_json: bool,
) -> None:
    """Ask Coral a question: "what happened?", "why is api slow?", "what is running?",
    "show me the topology".

    Answered by the builtin provider from the colony's own data, no LLM needed.
    """
    from coral_mcp.investigate.builtin import answer
    from coral_mcp.investigate.colony_client import ColonyClient

    async def run() -> None:
        access = locate(colony_url, token, data_dir)
        async with ColonyClient(access.url, access.token) as client:
            result = await answer(question, client, since)
        if as_json:
            click.echo(json.dumps(result.as_json(), indent=2))
        else:
            echo_text(result.text)

    asyncio.run(run())
