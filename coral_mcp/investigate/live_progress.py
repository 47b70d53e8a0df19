"""Live progress on stderr, the answer on stdout: which tool is running and for how long
(a rich spinner with an elapsed-time column, on a terminal), a line per finished tool,
notes (retries, skipped servers, refused calls) and the model's text as it streams.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from coral_mcp.investigate.conversation import ToolCall, ToolOutcome
from coral_mcp.investigate.progress import Silent, arguments_text


class LiveProgress(Silent):
    """Progress on `err` (a terminal: live; otherwise plain lines), text on `out`."""

    def __init__(
        self,
        out: TextIO | None = None,
        err: TextIO | None = None,
        clean: Callable[[str], str] = str,
    ) -> None:
        super().__init__()
        #: Makes model text safe for a terminal (the CLI strips control sequences).
        self._clean = clean
        self._out = out or sys.stdout
        self._console = Console(file=err or sys.stderr, highlight=False)
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=self._console,
            transient=True,
        )
        self._task: TaskID | None = None
        self._mid_line = False

    def __enter__(self) -> LiveProgress:
        if self._console.is_terminal:  # a spinner only where someone watches it
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._clear()
        if self._console.is_terminal:
            self._progress.stop()
        self._end_line()

    def _show(self, description: str) -> None:
        self._clear()
        if self._console.is_terminal:
            self._task = self._progress.add_task(description, total=None)

    def _clear(self) -> None:
        if self._task is not None:
            self._progress.remove_task(self._task)
            self._task = None

    def _end_line(self) -> None:
        if self._mid_line:
            self._out.write("\n")
            self._out.flush()
            self._mid_line = False

    def step(self, number: int) -> None:
        self._show(f"thinking (step {number})")

    def text(self, delta: str) -> None:
        self._clear()
        self.streamed = True
        self._out.write(self._clean(delta))
        self._out.flush()
        self._mid_line = not delta.endswith("\n")

    def tool_started(self, call: ToolCall) -> None:
        self._end_line()
        self._show(f"{call.name}({arguments_text(call)})")

    def tool_finished(self, call: ToolCall, outcome: ToolOutcome, elapsed_s: float) -> None:
        self._clear()
        mark = "[red]x[/red]" if outcome.is_error else "[green]v[/green]"
        self._console.print(
            f"{mark} {call.name}({arguments_text(call)}) {elapsed_s:.1f} s,"
            f" {len(outcome.content):,} chars",
            markup=True,
        )

    def note(self, message: str) -> None:
        super().note(message)
        self._end_line()
        self._console.print(f"[yellow]![/yellow] {message}", markup=True)
