"""`coral ask "QUESTION"`: ask the colony what is going on."""

from __future__ import annotations

import asyncio
import json

import click

from coral_mcp.config import DEFAULT_HTTP_PORT


@click.command()
@click.argument("question")
@click.option(
    "--colony",
    default=f"http://127.0.0.1:{DEFAULT_HTTP_PORT}",
    show_default=True,
    help="Colony HTTP URL (its MCP endpoint is URL/mcp).",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print the answer and the tool results as JSON."
)
def ask(question: str, colony: str, as_json: bool) -> None:
    """Ask Coral a question, e.g. "what is running?" or "show me the topology".

    Answered by the builtin provider from the colony's own data, no LLM needed.
    """
    from coral_mcp.investigate.builtin import answer
    from coral_mcp.investigate.colony_client import ColonyClient

    async def run() -> None:
        async with ColonyClient(colony) as client:
            result = await answer(question, client)
        if as_json:
            click.echo(json.dumps(result.as_json(), indent=2))
        else:
            click.echo(result.text)

    asyncio.run(run())
