"""What a person sees while the loop works. `Silent` shows nothing (`--json`,
`--quiet`) but keeps the notes for the record; `live_progress.LiveProgress` (which loads
rich) shows it live.
"""

from __future__ import annotations

from coral_mcp.investigate.conversation import ToolCall, ToolOutcome


def arguments_text(call: ToolCall) -> str:
    if not call.arguments:
        return ""
    shown = [f"{k}={v!r}" for k, v in call.arguments.items() if k != "question"]
    text = ", ".join(shown)
    return text if len(text) <= 70 else text[:67] + "..."


class Silent:
    def __init__(self) -> None:
        self.notes: list[str] = []
        self.streamed = False

    def __enter__(self) -> Silent:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def step(self, number: int) -> None:
        pass

    def text(self, delta: str) -> None:
        pass

    def tool_started(self, call: ToolCall) -> None:
        pass

    def tool_finished(self, call: ToolCall, outcome: ToolOutcome, elapsed_s: float) -> None:
        pass

    def note(self, message: str) -> None:
        self.notes.append(message)
