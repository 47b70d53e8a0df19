"""One `coral ask` question, start to finish: builtin or LLM, with fallback and a record.

With an LLM provider: Coral's own investigation runs first and opens the conversation
as the model's first tool result; external MCP servers join when the question names
them (or, with `auto_query`, when Coral's best hypothesis is weak); the loop runs; if
the model fails or runs out, the builtin report is the answer and says why. Every
question ends as a record (question, tool calls, answer, hypotheses) that the caller
stores in the colony, readable as `coral://investigations/{id}`.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from coral_mcp.investigate import builtin
from coral_mcp.investigate.ask_settings import AskSettings
from coral_mcp.investigate.colony_client import ColonyClient
from coral_mcp.investigate.conversation import (
    AssistantTurn,
    Entry,
    ToolCall,
    ToolOutcome,
    ToolSpec,
    UserText,
)
from coral_mcp.investigate.loop import Loop, Observer, StepRecord
from coral_mcp.investigate.mcp_bridge import (
    CORAL,
    ExternalServers,
    Toolbox,
    cap,
    list_all_tools,
    specs_for,
    wanted_servers,
)
from coral_mcp.investigate.providers import make_provider

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

#: How many earlier question/answer pairs a follow-up carries.
MAX_THREAD = 5


@dataclass(slots=True)
class AskResult:
    """What a question produced: the record to store and print."""

    id: str
    question: str
    provider: str
    model: str | None
    answer: str
    intent: str | None = None
    focus: str | None = None
    fallback: str | None = None
    parent: str | None = None
    investigation: dict[str, Any] | None = None
    steps: list[StepRecord] = field(default_factory=list)
    tools: dict[str, dict[str, Any]] = field(default_factory=dict)
    usage: dict[str, int] = field(default_factory=dict)
    skipped_servers: list[dict[str, str]] = field(default_factory=list)
    thread: list[dict[str, str]] = field(default_factory=list)
    started_at: str = ""
    duration_ms: float = 0.0

    def record(self) -> dict[str, Any]:
        """The document stored in the colony (and printed by `--json`)."""
        inv = self.investigation or {}
        return {
            "kind": "ask",
            "id": self.id,
            "question": self.question,
            "provider": self.provider,
            "model": self.model,
            "intent": self.intent,
            "focus": self.focus,
            "answer": self.answer,
            "fallback": self.fallback,
            "parent": self.parent,
            "thread": self.thread,
            "investigation_id": inv.get("id"),
            "range": {"start": inv.get("start"), "end": inv.get("end")} if inv else None,
            "hypotheses": [_brief(h) for h in inv.get("hypotheses", [])[:5]],
            "steps": [
                {
                    "tool": s.tool,
                    "arguments": s.arguments,
                    "is_error": s.is_error,
                    "output_chars": s.output_chars,
                    "elapsed_ms": round(s.elapsed_ms, 1),
                }
                for s in self.steps
            ],
            "skipped_servers": self.skipped_servers,
            "usage": self.usage,
            "started_at": self.started_at,
            "duration_ms": round(self.duration_ms, 1),
        }


def _brief(h: dict[str, Any]) -> dict[str, Any]:
    return {k: h.get(k) for k in ("rank", "service", "kind", "confidence", "recommendation")}


def new_id() -> str:
    return "ask-" + uuid.uuid4().hex[:16]


def earlier_entries(previous: dict[str, Any] | None) -> tuple[list[Entry], list[dict[str, str]]]:
    """A follow-up's context: the earlier questions and answers, oldest first."""
    if previous is None:
        return [], []
    thread = [*previous.get("thread", []), {"q": previous["question"], "a": previous["answer"]}]
    thread = thread[-MAX_THREAD:]
    entries: list[Entry] = []
    for pair in thread:
        entries += [UserText(pair["q"]), AssistantTurn(pair["a"])]
    return entries, thread


class Session:
    def __init__(
        self,
        settings: AskSettings,
        colony: ColonyClient,
        observer: Observer,
        since: str | None = None,
    ) -> None:
        self._settings = settings
        self._colony = colony
        self._observer = observer
        self._since = since

    async def ask(self, question: str, previous: dict[str, Any] | None = None) -> AskResult:
        started, t0 = datetime.now(UTC), time.monotonic()
        earlier, thread = earlier_entries(previous)
        inherited = previous.get("focus") if previous else None
        if self._settings.provider == "builtin":
            result = await self._builtin(question, None, inherited)
        else:
            result = await self._llm(question, earlier, inherited)
        result.parent = previous["id"] if previous else None
        result.thread = thread
        result.started_at = started.isoformat().replace("+00:00", "Z")
        result.duration_ms = (time.monotonic() - t0) * 1000
        return result

    async def _builtin(
        self,
        question: str,
        investigation: dict[str, Any] | None,
        inherited: str | None,
    ) -> AskResult:
        got = await builtin.answer(
            question,
            self._colony,
            self._since,
            investigation=investigation,
            inherited_focus=inherited,
        )
        return AskResult(
            id=new_id(),
            question=question,
            provider="builtin",
            model=None,
            answer=got.text,
            intent=got.intent,
            focus=got.focus,
            investigation=got.tools.get("investigate"),
            tools=got.tools,
        )

    async def coral_specs(self) -> list[ToolSpec]:
        tools = await list_all_tools(self._colony.session)
        return specs_for(CORAL, tools, set())[0]

    async def _seed(
        self, question: str, inherited: str | None
    ) -> tuple[ToolCall, ToolOutcome, dict[str, Any]]:
        """Coral's own investigation, as the model's first tool call and result."""
        focus = await builtin.focus_of(question, self._colony, inherited)
        arguments = builtin.investigate_arguments(question, self._since, focus)
        call = ToolCall("coral_investigate_0", "investigate", arguments)
        self._observer.tool_started(call)
        t0 = time.monotonic()
        found = await self._colony.call("investigate", arguments)
        text = cap(
            json.dumps(found, separators=(",", ":")), self._settings.limits.max_tool_output_chars
        )
        outcome = ToolOutcome(call.id, call.name, text)
        self._observer.tool_finished(call, outcome, time.monotonic() - t0)
        return call, outcome, found

    async def _llm(self, question: str, earlier: list[Entry], inherited: str | None) -> AskResult:
        settings = self._settings
        call, first, investigation = await self._seed(question, inherited)
        hypotheses = investigation.get("hypotheses") or []
        weak = not hypotheses or hypotheses[0]["confidence"] < settings.auto_query_below
        servers = wanted_servers(question, settings.mcp_servers, weak, settings.auto_query)
        async with ExternalServers(servers) as ext:
            taken: set[str] = set()
            specs = specs_for(CORAL, await list_all_tools(self._colony.session), taken)[0]
            clients = {CORAL: self._colony.session, **ext.clients}
            skipped = [{"server": s.server, "reason": s.reason} for s in ext.skipped]
            for s in ext.skipped:
                self._observer.note(f"MCP server {s.server} skipped: {s.reason}")
            for name, tools in ext.tools.items():
                spec = next(s for s in servers if s.name == name)
                more, left_out = specs_for(name, tools, taken, spec.read_only_tools)
                specs += more
                if left_out:
                    self._observer.note(f"{name}: {left_out} tools not marked read-only left out")
            toolbox = Toolbox(clients, specs, settings.limits.max_tool_output_chars)
            provider = make_provider(settings)
            try:
                loop = Loop(provider, toolbox, settings.limits, self._observer)
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
            self._observer.note(f"{settings.provider} gave no answer: {outcome.stopped}")
            report = await self._builtin(question, investigation, inherited)
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
