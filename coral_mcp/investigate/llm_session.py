"""The LLM path of `coral ask`: Coral's investigation first, then the model's loop.

Coral's own investigation runs first and opens the conversation as the model's first
tool result; external MCP servers join when the question names them (or, with
`auto_query`, when Coral's best hypothesis is weak); the loop runs over the colony's
MCP session; if the model fails or runs out, the builtin report is the answer and
says why. Imported only for an LLM provider: it loads the MCP SDK.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from coral_mcp.errors import ConfigError
from coral_mcp.investigate import builtin
from coral_mcp.investigate.ask_settings import AskSettings
from coral_mcp.investigate.colony_client import ColonyClient
from coral_mcp.investigate.conversation import Entry, ToolCall, ToolOutcome, ToolSpec
from coral_mcp.investigate.loop import Loop, Observer
from coral_mcp.investigate.mcp_bridge import (
    CORAL,
    ExternalServers,
    Toolbox,
    cap,
    list_all_tools,
    specs_for,
    wanted_servers,
)
from coral_mcp.investigate.providers import Provider
from coral_mcp.investigate.record import AskResult, new_id

SYSTEM_PROMPT = """\
You are Coral's investigator. Coral watches one distributed application through local
agents; its tools read what they reported: services, topology, events (crashes,
restarts, deploys, OOM kills), metrics against learned baselines, anomalies. Tools
named server__tool come from other systems (e.g. sentry__...). Every tool only reads.

The conversation starts with the result of Coral's own investigate tool: ranked
root-cause hypotheses with evidence. Treat them as leads: confirm or refute the top
ones with get_events, get_service, query_metrics or get_topology before you answer.
Do not call the same tool with the same arguments twice. Times are UTC.

Answer in this order: the answer in one sentence (which service, what went wrong);
your confidence (0-1) and why; the evidence, each item with its time and value; what
a person should do next. You recommend; you never change anything and never claim to
have changed anything."""


async def coral_specs(colony: ColonyClient) -> list[ToolSpec]:
    """Coral's own tools as a model sees them."""
    return specs_for(CORAL, await list_all_tools(colony.session), set())[0]


async def seed(
    colony: ColonyClient,
    observer: Observer,
    settings: AskSettings,
    since: str | None,
    question: str,
    inherited: str | None,
) -> tuple[ToolCall, ToolOutcome, dict[str, Any]]:
    """Coral's own investigation, as the model's first tool call and result."""
    focus, _ = await builtin.focus_of(question, colony, inherited)
    arguments = builtin.investigate_arguments(question, since, focus)
    call = ToolCall("coral_investigate_0", "investigate", arguments)
    observer.tool_started(call)
    t0 = time.monotonic()
    found = await colony.call("investigate", arguments)
    limit = settings.limits.max_tool_output_chars
    outcome = ToolOutcome(call.id, call.name, cap(json.dumps(found, separators=(",", ":")), limit))
    observer.tool_finished(call, outcome, time.monotonic() - t0)
    return call, outcome, found


def make_provider(settings: AskSettings) -> Provider:
    """The provider `settings` name; its SDK is imported here, not before."""
    if settings.provider == "anthropic":
        from coral_mcp.investigate.anthropic_provider import AnthropicProvider  # noqa: PLC0415

        return AnthropicProvider(settings)
    if settings.provider == "openai":
        from coral_mcp.investigate.openai_provider import OpenAIProvider  # noqa: PLC0415

        return OpenAIProvider(settings)
    raise ConfigError(f"{settings.provider!r} is not an LLM provider")


async def ask_llm(
    settings: AskSettings,
    colony: object,
    observer: Observer,
    since: str | None,
    question: str,
    earlier: list[Entry],
    inherited: str | None,
    fallback: Callable[[str, dict[str, Any] | None, str | None], Awaitable[AskResult]],
) -> AskResult:
    """Answer with the model; `fallback` is the builtin answer when the model gives none."""
    assert isinstance(colony, ColonyClient), "an LLM provider needs the MCP session"
    call, first, investigation = await seed(colony, observer, settings, since, question, inherited)
    hypotheses = investigation.get("hypotheses") or []
    weak = not hypotheses or hypotheses[0]["confidence"] < settings.auto_query_below
    servers = wanted_servers(question, settings.mcp_servers, weak, settings.auto_query)
    async with ExternalServers(servers) as ext:
        taken: set[str] = set()
        specs = specs_for(CORAL, await list_all_tools(colony.session), taken)[0]
        clients = {CORAL: colony.session, **ext.clients}
        skipped = [{"server": s.server, "reason": s.reason} for s in ext.skipped]
        for s in ext.skipped:
            observer.note(f"MCP server {s.server} skipped: {s.reason}")
        for name, tools in ext.tools.items():
            spec = next(s for s in servers if s.name == name)
            more, left_out = specs_for(name, tools, taken, spec.read_only_tools)
            specs += more
            if left_out:
                observer.note(f"{name}: {left_out} tools not marked read-only left out")
        toolbox = Toolbox(clients, specs, settings.limits.max_tool_output_chars)
        provider = make_provider(settings)
        try:
            loop = Loop(provider, toolbox, settings.limits, observer)
            outcome = await loop.run(SYSTEM_PROMPT, question, (call, first), earlier)
        finally:
            await provider.close()
    result = AskResult(
        id=new_id(),
        question=question,
        provider=settings.provider,
        model=provider.model,
        answer=outcome.answer or "",
        focus=inherited or (hypotheses[0]["service"] if hypotheses else None),
        investigation=investigation,
        steps=outcome.steps,
        usage={
            "input_tokens": outcome.usage.input_tokens,
            "output_tokens": outcome.usage.output_tokens,
            "model_calls": outcome.model_calls,
        },
        skipped_servers=skipped,
    )
    if outcome.answer is None:
        observer.note(f"{settings.provider} gave no answer: {outcome.stopped}")
        report = await fallback(question, investigation, inherited)
        result.fallback = outcome.stopped
        result.intent, result.tools = report.intent, report.tools
        result.answer = (
            f"({settings.provider} gave no answer: {outcome.stopped}."
            " The builtin report follows.)\n\n" + report.answer
        )
    return result


def dry_run_text(settings: AskSettings, question: str, specs: Sequence[ToolSpec]) -> str:
    """What would be sent: provider, prompt, question and tool list; nothing is called."""
    lines = [
        f"provider: {settings.provider} (model {settings.model_name}"
        + (f", base URL {settings.base_url})" if settings.base_url else ")"),
        "",
        "system prompt:",
        SYSTEM_PROMPT,
        "",
        f"question: {question}",
        "first tool result: investigate (Coral's own hypotheses), run before the model",
        "",
        f"tools ({len(specs)}):",
    ]
    lines += [f"  {s.name}: {s.description.splitlines()[0][:100]}" for s in specs]
    limits = settings.limits
    lines += [
        "",
        f"guards: {limits.max_steps} steps, {limits.token_budget} tokens,"
        f" {limits.max_tool_output_chars} characters per tool result,"
        f" {limits.call_timeout_s:g} s per call, {limits.total_timeout_s:g} s in total",
    ]
    if settings.mcp_servers:
        names = ", ".join(s.name for s in settings.mcp_servers)
        lines.append(
            f"external MCP servers: {names} (joined when the question names them"
            + (
                f", or when confidence < {settings.auto_query_below:g})"
                if settings.auto_query
                else ")"
            )
        )
    return "\n".join(lines)
