"""`coral ask "QUESTION"`: ask the colony what is going on, offline or with an LLM."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from coral_mcp.cli.common import echo_err, echo_text
from coral_mcp.cli.rest import ColonyAccess, colony_options, get_json, locate, post_json
from coral_mcp.errors import QueryError, TokenRefusedError


def check_since(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """--since read here, at once, as the colony will read it: a bad one never travels."""
    if value is None:
        return None
    from coral_mcp.models.timerange import parse_range  # with the models: ~0.05 s, only here

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
    help="Range start for what happened [default: 1h], what changed [default: 24h] and"
    " is X healthy, e.g. 30m, 2h.",
)
@click.option(
    "--provider",
    type=click.Choice(["builtin", "anthropic", "openai"]),
    default=None,
    help="Who answers: builtin (offline, no LLM), anthropic, or openai (any"
    " OpenAI-compatible server) [default: the config's, else builtin].",
)
@click.option("--model", default=None, help="The model name for anthropic/openai.")
@click.option(
    "--base-url",
    default=None,
    help="The provider's API URL, e.g. http://localhost:11434/v1 for Ollama.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Config file with an [ask] table [default: $CORAL_CONFIG, else"
    " ~/.config/coral/config.toml].",
)
@click.option(
    "--continue",
    "follow_up",
    is_flag=True,
    help="Follow up on the last question asked of this colony.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the whole record as JSON.")
@click.option(
    "--dry-run", is_flag=True, help="Show the prompt and tools; call no model, run no tool."
)
@click.option("--quiet", "-q", is_flag=True, help="Print only the answer, no progress.")
def ask(
    question: str,
    colony_url: str | None,
    token: str | None,
    data_dir: Path | None,
    since: str | None,
    provider: str | None,
    model: str | None,
    base_url: str | None,
    config_path: Path | None,
    follow_up: bool,
    as_json: bool,
    dry_run: bool,
    quiet: bool,
) -> None:
    """Ask Coral a question: "what happened?", "why is api slow?", "is db healthy?",
    "what changed?", "what depends on db?", "compare api with before", "what is running?".

    The builtin provider answers from the colony's own data, offline and
    deterministically. With --provider anthropic or openai, a model investigates with
    Coral's read-only tools (and those of external MCP servers from the config),
    starting from Coral's own hypotheses; if it fails, the builtin report answers.
    Every question is stored in the colony: read it as coral://investigations/ID.
    Nothing is ever changed: recommendations are printed, never executed.
    """
    from coral_mcp.investigate.ask_settings import default_config_path, load
    from coral_mcp.investigate.builtin import uses_since

    path = config_path or default_config_path(os.environ, Path.home())
    settings = load(path, os.environ, provider=provider, model=model, base_url=base_url)
    access = locate(colony_url, token, data_dir)
    previous = get_json(access, "/api/v1/asks/latest") if follow_up else None
    try:
        if dry_run:
            echo_text(asyncio.run(_dry_run(settings, access, question)))
            return
        record = asyncio.run(_ask(settings, access, question, since, previous, as_json or quiet))
    except TokenRefusedError:
        raise access.refused() from None
    if since is not None and not uses_since(record.get("intent"), record.get("focus")):
        echo_err(
            "note: --since applies to what happened, what changed and is X healthy;"
            " this answer is now"
        )
    _print(record, as_json)


async def _dry_run(settings: Any, access: ColonyAccess, question: str) -> str:
    from coral_mcp.investigate.colony_client import ColonyClient
    from coral_mcp.investigate.llm_session import coral_specs, dry_run_text

    async with ColonyClient(access.url, access.token, access.named) as client:
        specs = await coral_specs(client)
    return dry_run_text(settings, question, specs)


async def _ask(
    settings: Any,
    access: ColonyAccess,
    question: str,
    since: str | None,
    previous: dict[str, Any] | None,
    silent: bool,
) -> dict[str, Any]:
    from coral_mcp.errors import CoralError
    from coral_mcp.investigate.progress import Silent
    from coral_mcp.investigate.rest_colony import RestColony
    from coral_mcp.investigate.session import Session

    if silent:
        observer = Silent()
    else:
        from coral_mcp.cli.common import terminal_safe
        from coral_mcp.investigate.live_progress import LiveProgress

        observer = LiveProgress(clean=terminal_safe)
    if settings.provider == "builtin":
        door: Any = RestColony(access.url, access.token, access.named)
    else:
        from coral_mcp.investigate.colony_client import ColonyClient

        door = ColonyClient(access.url, access.token, access.named)
    async with door as colony:
        session = Session(settings, colony, observer, since)
        with observer:
            result = await session.ask(question, previous)
    record = result.record()
    try:
        await asyncio.to_thread(post_json, access, "/api/v1/asks", record)
        record["stored"] = f"coral://investigations/{result.id}"
    except CoralError as exc:
        observer.note(f"the conversation was not stored: {exc.message}")
        record["stored"] = None
    record["notes"] = observer.notes
    record["tools"] = result.tools
    record["streamed"] = observer.streamed and result.fallback is None
    return record


def _print(record: dict[str, Any], as_json: bool) -> None:
    streamed = record.pop("streamed")
    if as_json:
        click.echo(json.dumps(record, indent=2))
        return
    if not streamed:
        echo_text(record["answer"])
    if record["stored"]:
        click.echo(f"({record['stored']}; follow up with --continue)", err=True)
