"""The `anthropic` provider: the Messages API with tool use, streamed.

Every `tool_use` block of an assistant turn is answered by a `tool_result` block with
the same `tool_use_id` in the next user message; the loop's neutral history keeps that
pairing, this module only spells it. The SDK's own retries are off: the loop retries.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from coral_mcp.investigate.ask_settings import AskSettings
from coral_mcp.investigate.conversation import (
    AssistantTurn,
    Entry,
    ToolCall,
    ToolResults,
    ToolSpec,
    Turn,
    Usage,
    UserText,
)
from coral_mcp.investigate.providers import (
    MAX_OUTPUT_TOKENS,
    ProviderError,
    TextSink,
    sdk_client,
    sdk_error,
)

try:
    import anthropic
except ImportError:  # pragma: no cover - depends on the install
    anthropic = None  # type: ignore[assignment]


def messages(history: Sequence[Entry]) -> list[dict[str, Any]]:
    """The neutral history as Messages API messages."""
    out: list[dict[str, Any]] = []
    for entry in history:
        if isinstance(entry, UserText):
            out.append({"role": "user", "content": entry.text})
        elif isinstance(entry, AssistantTurn):
            blocks: list[dict[str, Any]] = []
            if entry.text:
                blocks.append({"type": "text", "text": entry.text})
            blocks += [
                {"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments or {}}
                for c in entry.calls
            ]
            out.append({"role": "assistant", "content": blocks or entry.text or "(no text)"})
        else:
            out.append({"role": "user", "content": tool_results(entry)})
    return out


def tool_results(entry: ToolResults) -> list[dict[str, Any]]:
    return [
        {
            "type": "tool_result",
            "tool_use_id": o.call_id,
            "content": o.content,
            "is_error": o.is_error,
        }
        for o in entry.outcomes
    ]


def _call(block: Any) -> ToolCall:
    raw = block.input
    if isinstance(raw, dict):
        return ToolCall(block.id, block.name, raw)
    text = raw if isinstance(raw, str) else json.dumps(raw, default=str)
    return ToolCall(block.id, block.name, None, f"got {type(raw).__name__}", text[:500])


class AnthropicProvider:
    name = "anthropic"

    def __init__(self, settings: AskSettings) -> None:
        self.model = settings.model_name
        self._client: anthropic.AsyncAnthropic = sdk_client(anthropic, "AsyncAnthropic", settings)

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
            {"name": t.name, "description": t.description, "input_schema": t.input_schema}
            for t in tools
        ]
        try:
            async with self._client.messages.stream(
                model=self.model,
                max_tokens=MAX_OUTPUT_TOKENS,
                system=system,
                messages=messages(history),  # type: ignore[arg-type]
                tools=specs,  # type: ignore[arg-type]
            ) as stream:
                async for event in stream:
                    if event.type == "text":
                        on_text(event.text)
                final = await stream.get_final_message()
        except anthropic.AnthropicError as exc:
            raise sdk_error(self.name, self._client.base_url, exc, anthropic) from None
        except ValueError:
            # The SDK parses streamed tool input as it comes and gives up on broken JSON.
            raise ProviderError(
                f"{self.name}: the model sent tool arguments that are not JSON", retryable=True
            ) from None
        text = "".join(b.text for b in final.content if b.type == "text")
        calls = tuple(_call(b) for b in final.content if b.type == "tool_use")
        usage = Usage(final.usage.input_tokens, final.usage.output_tokens)
        return Turn(text, calls, str(final.stop_reason), usage)
