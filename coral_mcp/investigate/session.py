"""One `coral ask` question, start to finish: builtin or LLM, with fallback and a record.

The builtin provider reads the colony through its REST API (see `rest_colony.py`);
an LLM provider needs the MCP session (see `llm_session.py`, imported only then, with
the MCP SDK and the provider's SDK). Every question ends as a record (see `record.py`)
that the caller stores in the colony, readable as `coral://investigations/{id}`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from coral_mcp.investigate import builtin
from coral_mcp.investigate.ask_settings import AskSettings
from coral_mcp.investigate.loop import Observer
from coral_mcp.investigate.record import AskResult, earlier_entries


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

            result = await ask_llm(
                self.settings,
                self.colony,
                self.observer,
                self.since,
                question,
                earlier,
                inherited,
                fallback=self.builtin,
            )
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
        return AskResult.of_builtin(question, got)
