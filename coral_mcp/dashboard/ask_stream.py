"""The dashboard's ask box: a question answered on the colony and streamed to the
browser as it is produced, one JSON object a line (NDJSON over a chunked response):

    {"progress": "investigate(start='1h') ..."}   a tool call or a model step began/ended
    {"text": "..."}                                more of the answer
    {"note": "..."}                                a retry, a skipped server, a fallback
    {"done": {"answer": ..., "investigation": ..., "ask": ...}}  the whole answer, last
    {"error": "...", "hint": "..."}                no answer, and why

The builtin provider answers in-process from the tools, each part of its answer sent
as soon as it is written. With an LLM configured for the colony (the `[ask]` table of
Coral's config file), the model investigates over the colony's own MCP endpoint, as
`coral ask` does, and its text streams as it comes. Every question is stored as a
conversation, as `coral ask` stores it (`coral://investigations/{id}`).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from coral_mcp.errors import CoralError
from coral_mcp.investigate import builtin
from coral_mcp.investigate.ask_settings import AskSettings
from coral_mcp.investigate.conversation import ToolCall, ToolOutcome
from coral_mcp.investigate.progress import Silent, arguments_text
from coral_mcp.investigate.record import AskResult
from coral_mcp.tools.catalog import TOOLS
from coral_mcp.tools.data import CoralData

logger = logging.getLogger(__name__)

#: The builtin provider's whole answer, seconds at most.
BUILTIN_TIMEOUT_S = 60.0
#: Beyond an LLM's own total timeout: the investigation before it and storing the record.
LLM_GRACE_S = 30.0

Event = dict[str, Any]


@dataclass(frozen=True, slots=True)
class LlmDoor:
    """What the dashboard needs to ask an LLM: the settings, and the colony's own MCP
    endpoint and token (the model reads the colony as any MCP client does)."""

    settings: AskSettings
    colony_url: str
    token: str | None


class StreamObserver(Silent):
    """The ask loop's observer: what a person would see, as events on a queue."""

    def __init__(self) -> None:
        super().__init__()
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue()

    def step(self, number: int) -> None:
        self.queue.put_nowait({"progress": f"thinking (step {number})"})

    def text(self, delta: str) -> None:
        self.streamed = True
        self.queue.put_nowait({"text": delta})

    def tool_started(self, call: ToolCall) -> None:
        self.queue.put_nowait({"progress": f"{call.name}({arguments_text(call)}) ..."})

    def tool_finished(self, call: ToolCall, outcome: ToolOutcome, elapsed_s: float) -> None:
        verdict = "failed" if outcome.is_error else "done"
        self.queue.put_nowait({"progress": f"{call.name} {verdict} in {elapsed_s:.1f} s"})

    def note(self, message: str) -> None:
        super().note(message)
        self.queue.put_nowait({"note": message})


class ObservedTools:
    """The builtin provider's tool caller: the tools in-process, each call observed."""

    def __init__(self, data: CoralData, observer: StreamObserver) -> None:
        self._data = data
        self._observer = observer
        self._tools = {tool.__name__: tool for tool in TOOLS}
        self._ids = itertools.count(1)

    async def call(self, tool: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        call = ToolCall(f"dashboard-{next(self._ids)}", tool, dict(arguments or {}))
        self._observer.tool_started(call)
        started = time.monotonic()
        try:
            result = await self._tools[tool](self._data, **(arguments or {}))
        except CoralError as exc:
            outcome = ToolOutcome(call.id, tool, exc.message, is_error=True)
            self._observer.tool_finished(call, outcome, time.monotonic() - started)
            raise
        self._observer.tool_finished(
            call, ToolOutcome(call.id, tool, ""), time.monotonic() - started
        )
        return dict(result.model_dump(mode="json"))


async def _builtin(
    data: CoralData, question: str, since: str, observer: StreamObserver
) -> AskResult:
    got = await builtin.answer(
        question, ObservedTools(data, observer), since, on_part=observer.text
    )
    return AskResult.of_builtin(question, got)


async def _llm(door: LlmDoor, question: str, since: str, observer: StreamObserver) -> AskResult:
    from coral_mcp.investigate.colony_client import ColonyClient  # noqa: PLC0415 - MCP SDK
    from coral_mcp.investigate.session import Session  # noqa: PLC0415

    named = f"this colony's MCP endpoint ({door.colony_url})"
    async with ColonyClient(door.colony_url, door.token, named) as colony:
        return await Session(door.settings, colony, observer, since).ask(question)


def _time(text: object, default: datetime) -> datetime:
    if not isinstance(text, str):
        return default
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return default


async def answer(
    data: CoralData,
    question: str,
    since: str,
    observer: StreamObserver,
    llm: LlmDoor | None = None,
) -> AskResult:
    """Answer `question` (builtin, or the LLM behind `llm`) and store the conversation."""
    started, t0 = datetime.now(UTC), time.monotonic()
    if llm is None:
        result = await asyncio.wait_for(
            _builtin(data, question, since, observer), BUILTIN_TIMEOUT_S
        )
    else:
        limit = llm.settings.limits.total_timeout_s + LLM_GRACE_S
        result = await asyncio.wait_for(_llm(llm, question, since, observer), limit)
    result.started_at = started.isoformat().replace("+00:00", "Z")
    result.duration_ms = (time.monotonic() - t0) * 1000
    inv = result.investigation or {}
    start, end = _time(inv.get("start"), started), _time(inv.get("end"), started)
    await data.record_ask(result.record(), start, end)
    return result


def _line(event: Event) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode() + b"\n"


async def stream(
    data: CoralData, question: str, since: str, llm: LlmDoor | None = None
) -> AsyncIterator[bytes]:
    """The answer to `question` as NDJSON events (see the module's docstring). The
    question is answered in a task of its own, cancelled if the browser goes away."""
    observer = StreamObserver()
    who = "the builtin provider" if llm is None else f"{llm.settings.provider}"
    if llm is not None:
        who += f" ({llm.settings.model_name})"
    yield _line({"progress": f"asking {who}"})
    task = asyncio.create_task(answer(data, question, since, observer, llm))
    task.add_done_callback(lambda _: observer.queue.put_nowait(None))
    try:
        while (event := await observer.queue.get()) is not None:
            yield _line(event)
        try:
            result = task.result()
        except CoralError as exc:
            yield _line({"error": exc.message, "hint": exc.hint})
            return
        except TimeoutError:
            yield _line({"error": "no answer in time", "hint": "ask about a shorter range"})
            return
        except Exception:
            logger.exception("the dashboard's ask failed: %r", question)
            yield _line({"error": "the colony failed to answer", "hint": "see the colony's log"})
            return
        inv = result.investigation or {}
        yield _line(
            {
                "done": {
                    "answer": result.answer,
                    "provider": result.provider,
                    "intent": result.intent,
                    "fallback": result.fallback,
                    "investigation": inv.get("id"),
                    "ask": result.id,
                }
            }
        )
    finally:
        if not task.done():
            task.cancel()
