"""What one `coral ask` question leaves behind: the record stored in the colony (readable
as `coral://investigations/{id}`) and printed by `--json`; and a follow-up's context.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from coral_mcp.investigate.conversation import AssistantTurn, Entry, UserText
from coral_mcp.investigate.loop import StepRecord

if TYPE_CHECKING:
    from coral_mcp.investigate.builtin import Answer

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

    @classmethod
    def of_builtin(cls, question: str, got: Answer) -> AskResult:
        """The record of an answer the builtin analyzer wrote."""
        return cls(
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
