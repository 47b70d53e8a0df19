"""`coral ask "QUESTION"`: ask the colony what is going on."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import click

from coral_mcp.cli.common import echo_err, echo_text
from coral_mcp.cli.rest import colony_options, locate
from coral_mcp.errors import QueryError, TokenRefusedError
from coral_mcp.models.timerange import parse_range


def check_since(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """--since read here, at once, as the colony will read it: a bad one never travels."""
    if value is None:
        return None
    try:
        parse_range(value, None, datetime.now(UTC))
    except QueryError:
        raise click.BadParameter(
            f"cannot read {value!r} as a time in the past:"
            " use e.g. --since 30m, --since 2h, --since 1d or --since 2026-11-24T10:00:00Z",
        ) from None
    return value


@click.command()
@click.argument("question")
@colony_options
@click.option(
    "--since",
    default=None,
    callback=check_since,
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

    access = locate(colony_url, token, data_dir)

    async def run() -> None:
        try:
            async with ColonyClient(access.url, access.token, access.named) as client:
                result = await answer(question, client, since)
        except TokenRefusedError:
            raise access.refused() from None
        if since is not None and result.intent != "incident":
            echo_err("note: --since applies to what-happened questions; this answer is now")
        if as_json:
            click.echo(json.dumps(result.as_json(), indent=2))
        else:
            echo_text(result.text)

    asyncio.run(run())
