"""One `coral ask` question, start to finish: builtin or LLM, with fallback and a record.

The builtin provider reads the colony through its REST API (see `rest_colony.py`);
an LLM provider needs the MCP session (see `llm_session.py`, imported only then, with
the MCP SDK and the provider's SDK). Every question ends as a record (question, tool
calls, answer, hypotheses) that the caller stores in the colony, readable as
`coral://investigations/{id}`.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from coral_mcp.investigate import builtin
from coral_mcp.investigate.ask_settings import AskSettings
from coral_mcp.investigate.conversation import AssistantTurn, Entry, UserText
from coral_mcp.investigate.loop import Observer, StepRecord

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
        colony: builtin.ToolCaller,
        observer: Observer,
        since: str | None = None,
    ) -> None:
        self.settings = settings
        self.colony = colony
        self.observer = observer
        self.since = since

    async def ask(self, question: str, previous: dict[str, Any] | None = None) -> AskResult:
        started, t0 = datetime.now(UTC), time.monotonic()
        earlier, thread = earlier_entries(previous)
        inherited = previous.get("focus") if previous else None
        if self.settings.provider == "builtin":
            result = await self.builtin(question, None, inherited)
        else:
            from coral_mcp.investigate.llm_session import ask_llm  # noqa: PLC0415 - MCP + SDK

            result = await ask_llm(self, question, earlier, inherited)
        result.parent = previous["id"] if previous else None
        result.thread = thread
        result.started_at = started.isoformat().replace("+00:00", "Z")
        result.duration_ms = (time.monotonic() - t0) * 1000
        return result

    async def builtin(
        self,
        question: str,
        investigation: dict[str, Any] | None,
        inherited: str | None,
    ) -> AskResult:
        got = await builtin.answer(
            question,
            self.colony,
            self.since,
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
