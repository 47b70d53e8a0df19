"""`coral ask` conversations as documents: the record's schema (a trust boundary: the
colony stores what `coral ask` posts) and reading one back by id.

A conversation lives beside the colony's own investigations and is read the same way,
as `coral://investigations/{id}`; its id starts with `ask-`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from coral_mcp.errors import QueryError
from coral_mcp.tools.data import CoralData

ASK_PREFIX = "ask-"


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StepIn(_In):
    tool: str = Field(max_length=200)
    arguments: dict[str, Any] | None
    is_error: bool
    output_chars: int = Field(ge=0)
    elapsed_ms: float = Field(ge=0)


class PairIn(_In):
    q: str = Field(max_length=8000)
    a: str = Field(max_length=200_000)


class RangeIn(_In):
    start: str | None
    end: str | None


class AskRecord(_In):
    """A `coral ask` conversation, as `coral ask --json` prints it."""

    kind: Literal["ask"]
    id: str = Field(pattern=r"^ask-[0-9a-f]{16}$")
    question: str = Field(max_length=8000)
    provider: Literal["builtin", "anthropic", "openai"]
    model: str | None = Field(max_length=200)
    intent: str | None = Field(max_length=40)
    focus: str | None = Field(max_length=200)
    answer: str = Field(max_length=200_000)
    fallback: str | None = Field(max_length=2000)
    parent: str | None = Field(pattern=r"^ask-[0-9a-f]{16}$")
    thread: list[PairIn] = Field(max_length=10)
    investigation_id: str | None = Field(max_length=200)
    range: RangeIn | None
    hypotheses: list[dict[str, Any]] = Field(max_length=10)
    steps: list[StepIn] = Field(max_length=500)
    skipped_servers: list[dict[str, str]] = Field(max_length=50)
    usage: dict[str, int]
    started_at: str = Field(max_length=40)
    duration_ms: float = Field(ge=0)


async def recorded_ask(data: CoralData, ask_id: str) -> AskRecord:
    """A stored `coral ask` conversation, validated as it was stored."""
    found = await data.investigation(ask_id)
    if found is None:
        raise QueryError(
            f"no conversation {ask_id!r}", hint="ids are printed after each `coral ask` answer"
        )
    return AskRecord.model_validate(found)
