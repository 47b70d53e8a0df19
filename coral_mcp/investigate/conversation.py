"""The ask loop's own vocabulary, independent of any LLM provider's wire format.

A conversation is a list of entries: the user's text, the assistant's turns (text and
tool calls) and the tool results answering them. Each provider translates this list
into its own messages on every step, so tool calls and their results stay paired
however the provider spells them.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

#: Tool names every supported provider accepts: Anthropic and OpenAI both allow letters,
#: digits, `_` and `-`, at most 64 characters. MCP allows more (`.`, 128 characters).
PROVIDER_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
NAMESPACE_SEP = "__"


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool as the model sees it; `server`/`remote_name` say where calls go."""

    name: str
    description: str
    input_schema: dict[str, Any]
    server: str
    remote_name: str


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One tool call the model asked for. `arguments` is None when the model's
    arguments were not a JSON object; `problem` then says why."""

    id: str
    name: str
    arguments: dict[str, Any] | None
    problem: str | None = None
    #: The arguments exactly as the model sent them, when they were not an object.
    raw: str = ""


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    call_id: str
    name: str
    content: str
    is_error: bool = False


@dataclass(frozen=True, slots=True)
class UserText:
    text: str


@dataclass(frozen=True, slots=True)
class AssistantTurn:
    text: str
    calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True, slots=True)
class ToolResults:
    outcomes: tuple[ToolOutcome, ...]


Entry = UserText | AssistantTurn | ToolResults


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True, slots=True)
class Turn:
    """What one model call returned: text, tool calls, why it stopped, tokens used."""

    text: str
    calls: tuple[ToolCall, ...]
    stop_reason: str
    usage: Usage = field(default_factory=Usage)


def provider_name(name: str, taken: set[str] | frozenset[str] = frozenset()) -> str:
    """`name` made valid for every provider: other characters become `_`, and a name too
    long (or clashing with one in `taken`) keeps a short hash of the original."""
    clean = re.sub(r"[^A-Za-z0-9_-]", "_", name) or "tool"
    if len(clean) <= 64 and clean not in taken and PROVIDER_NAME.match(clean):
        return clean
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"{clean[:55]}_{digest}"


def namespaced(server: str, tool: str) -> str:
    """`sentry` + `search_issues` -> `sentry__search_issues`."""
    return f"{server}{NAMESPACE_SEP}{tool}"
