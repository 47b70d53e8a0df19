"""The `openai` provider: chat completions with tools, streamed, at any compatible URL.

`base_url` points it at OpenAI or at a local server that speaks the same API (Ollama
`http://localhost:11434/v1`, vLLM `http://localhost:8000/v1`, llama.cpp's
`llama-server` `http://localhost:8080/v1`). Tool-call arguments arrive as a JSON string
that a model may get wrong: such a call is kept with its raw text and answered with an
error, never run. The SDK's own retries are off: the loop retries.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from coral_mcp.investigate.ask_settings import AskSettings
from coral_mcp.investigate.conversation import (
    AssistantTurn,
    Entry,
    ToolCall,
    ToolSpec,
    Turn,
    Usage,
    UserText,
)
from coral_mcp.investigate.providers import (
    TextSink,
    sdk_client,
    sdk_error,
)

try:
    import openai
except ImportError:  # pragma: no cover - depends on the install
    openai = None  # type: ignore[assignment]


def messages(system: str, history: Sequence[Entry]) -> list[dict[str, Any]]:
    """The neutral history as chat-completion messages."""
    out: list[dict[str, Any]] = [{"role": "system", "content": system}]
    for entry in history:
        if isinstance(entry, UserText):
            out.append({"role": "user", "content": entry.text})
        elif isinstance(entry, AssistantTurn):
            message: dict[str, Any] = {"role": "assistant", "content": entry.text or None}
            if entry.calls:
                message["tool_calls"] = [
                    {
                        "id": c.id,
                        "type": "function",
                        "function": {
                            "name": c.name,
                            "arguments": c.raw if c.arguments is None else json.dumps(c.arguments),
                        },
                    }
                    for c in entry.calls
                ]
            out.append(message)
        else:
            out += [
                {"role": "tool", "tool_call_id": o.call_id, "content": o.content}
                for o in entry.outcomes
            ]
    return out


def parse_arguments(call_id: str, name: str, raw: str) -> ToolCall:
    try:
        value = json.loads(raw) if raw.strip() else {}
    except ValueError as exc:
        return ToolCall(call_id, name, None, f"invalid JSON: {exc}", raw[:2000])
    if not isinstance(value, dict):
        return ToolCall(call_id, name, None, f"got {type(value).__name__}", raw[:2000])
    return ToolCall(call_id, name, value)


@dataclass(slots=True)
class _Pending:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class OpenAIProvider:
    name = "openai"

    def __init__(self, settings: AskSettings) -> None:
        self.model = settings.model_name
        self._client: openai.AsyncOpenAI = sdk_client(openai, "AsyncOpenAI", settings)

    async def close(self) -> None:
        await self._client.close()

    async def complete(
        self,
        system: str,
        history: Sequence[Entry],
        tools: Sequence[ToolSpec],
        on_text: TextSink,
    ) -> Turn:
        specs = [
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    "description": t.description,
                    "parameters": t.input_schema,
                },
            }
            for t in tools
        ]
        wire_messages: Any = messages(system, history)
        wire_tools: Any = specs
        text: list[str] = []
        pending: dict[int, _Pending] = {}
        finish = "stop"
        usage = Usage()
        try:
            stream = await self._client.chat.completions.create(
                model=self.model,
                messages=wire_messages,
                tools=wire_tools,
                stream=True,
                stream_options={"include_usage": True},
            )
            async for chunk in stream:
                if chunk.usage is not None:
                    usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
                for choice in chunk.choices:
                    delta = choice.delta
                    if delta.content:
                        text.append(delta.content)
                        on_text(delta.content)
                    for tc in delta.tool_calls or ():
                        slot = pending.setdefault(tc.index, _Pending())
                        slot.id = tc.id or slot.id
                        if tc.function is not None:
                            slot.name = tc.function.name or slot.name
                            slot.arguments.append(tc.function.arguments or "")
                    if choice.finish_reason:
                        finish = choice.finish_reason
        except openai.OpenAIError as exc:
            raise sdk_error(self.name, self._client.base_url, exc, openai) from None
        calls = tuple(
            parse_arguments(p.id or f"call_{i}", p.name, "".join(p.arguments))
            for i, p in sorted(pending.items())
        )
        return Turn("".join(text), calls, finish, usage)
