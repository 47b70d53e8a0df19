"""The investigation loop: a model calls read-only tools until it answers, within guards.

The model starts from evidence: the conversation opens with the builtin analyzer's
`investigate` call and its result, as if the model had made that call itself. Then
each step is one model call (retried on 429/5xx with jittered exponential backoff,
bounded by a per-call and a total timeout) and the tool calls it asks for. Guards:
most steps, a token budget, a cap on each tool result, and a limit on repeating an
identical call. The loop never raises for a model's failure: it returns an outcome
with no answer and the reason, and the caller falls back to the builtin report.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from coral_mcp.investigate.ask_settings import Limits
from coral_mcp.investigate.conversation import (
    AssistantTurn,
    Entry,
    ToolCall,
    ToolOutcome,
    ToolResults,
    ToolSpec,
    Turn,
    Usage,
    UserText,
)
from coral_mcp.investigate.providers import Provider, ProviderError

logger = logging.getLogger(__name__)

#: Guarded repeats of one call tolerated before the loop gives up on the model.
MAX_GUARD_HITS = 3


class Tools(Protocol):
    @property
    def specs(self) -> Sequence[ToolSpec]: ...

    async def run(self, call: ToolCall, timeout_s: float) -> ToolOutcome:
        """Run one call; failures come back as an `is_error` outcome, capped in size."""
        ...


class Observer(Protocol):
    """What a person watching the loop is told (see `progress.py`)."""

    def step(self, number: int) -> None: ...

    def text(self, delta: str) -> None: ...

    def tool_started(self, call: ToolCall) -> None: ...

    def tool_finished(self, call: ToolCall, outcome: ToolOutcome, elapsed_s: float) -> None: ...

    def note(self, message: str) -> None: ...


@dataclass(frozen=True, slots=True)
class StepRecord:
    tool: str
    arguments: dict[str, object] | None
    is_error: bool
    output_chars: int
    elapsed_ms: float


@dataclass(slots=True)
class LoopOutcome:
    """`answer` is None when the model failed or ran out; `stopped` says why."""

    answer: str | None
    stopped: str
    steps: list[StepRecord] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    history: list[Entry] = field(default_factory=list)
    model_calls: int = 0


def call_key(call: ToolCall) -> str:
    return call.name + json.dumps(call.arguments, sort_keys=True, default=str)


class Loop:
    def __init__(
        self,
        provider: Provider,
        tools: Tools,
        limits: Limits,
        observer: Observer,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._provider = provider
        self._tools = tools
        self._limits = limits
        self._observer = observer
        self._clock = clock
        self._sleep = sleep

    async def run(
        self,
        system: str,
        question: str,
        seed: tuple[ToolCall, ToolOutcome],
        earlier: Sequence[Entry] = (),
    ) -> LoopOutcome:
        call, outcome = seed
        out = LoopOutcome(
            answer=None,
            stopped="",
            history=[
                *earlier,
                UserText(question),
                AssistantTurn("", (call,)),
                ToolResults((outcome,)),
            ],
        )
        out.steps.append(
            StepRecord(call.name, call.arguments, outcome.is_error, len(outcome.content), 0)
        )
        deadline = self._clock() + self._limits.total_timeout_s
        counts: dict[str, int] = {call_key(call): 1}
        guard_hits = 0
        for number in range(1, self._limits.max_steps + 1):
            if out.usage.total >= self._limits.token_budget:
                out.stopped = (
                    f"token budget spent ({out.usage.total} of {self._limits.token_budget})"
                )
                return out
            self._observer.step(number)
            try:
                turn = await self._complete(system, out.history, deadline)
            except ProviderError as exc:
                out.stopped = exc.message
                return out
            out.model_calls += 1
            out.usage = Usage(
                out.usage.input_tokens + turn.usage.input_tokens,
                out.usage.output_tokens + turn.usage.output_tokens,
            )
            out.history.append(AssistantTurn(turn.text, turn.calls))
            if not turn.calls:
                if turn.text.strip():
                    out.answer, out.stopped = turn.text, "answered"
                else:
                    out.stopped = f"the model stopped ({turn.stop_reason}) without an answer"
                return out
            outcomes = []
            for tool_call in turn.calls:
                key = call_key(tool_call)
                counts[key] = counts.get(key, 0) + 1
                if (
                    tool_call.arguments is not None
                    and counts[key] > self._limits.max_identical_calls
                ):
                    guard_hits += 1
                    outcomes.append(self._repeated(tool_call, counts[key] - 1))
                    continue
                outcomes.append(await self._run_tool(tool_call, deadline, out))
            out.history.append(ToolResults(tuple(outcomes)))
            if guard_hits >= MAX_GUARD_HITS:
                out.stopped = "the model kept repeating the same tool call"
                return out
        out.stopped = f"no answer after {self._limits.max_steps} steps"
        return out

    def _repeated(self, call: ToolCall, times: int) -> ToolOutcome:
        self._observer.note(f"{call.name}: identical call #{times + 1} refused")
        return ToolOutcome(
            call.id,
            call.name,
            f"Not run: you already called {call.name} with exactly these arguments"
            f" {times} time(s); the result would be the same. Use the results you have,"
            " try another tool or other arguments, or give your answer.",
            is_error=True,
        )

    async def _run_tool(self, call: ToolCall, deadline: float, out: LoopOutcome) -> ToolOutcome:
        names = {spec.name for spec in self._tools.specs}
        if call.arguments is None:
            outcome = ToolOutcome(
                call.id,
                call.name,
                f"Not run: the arguments were not a JSON object ({call.problem}). Call"
                f" {call.name} again with arguments that match its input schema.",
                is_error=True,
            )
        elif call.name not in names:
            outcome = ToolOutcome(
                call.id,
                call.name,
                f"Not run: there is no tool named {call.name!r}. The tools are:"
                f" {', '.join(sorted(names))}.",
                is_error=True,
            )
        else:
            self._observer.tool_started(call)
            started = self._clock()
            remaining = max(0.1, deadline - started)
            outcome = await self._tools.run(call, remaining)
            elapsed = self._clock() - started
            self._observer.tool_finished(call, outcome, elapsed)
            out.steps.append(
                StepRecord(
                    call.name,
                    call.arguments,
                    outcome.is_error,
                    len(outcome.content),
                    elapsed * 1000,
                )
            )
            return outcome
        out.steps.append(StepRecord(call.name, call.arguments, True, len(outcome.content), 0))
        self._observer.note(f"{call.name}: {outcome.content.split('.')[0]}")
        return outcome

    async def _complete(self, system: str, history: list[Entry], deadline: float) -> Turn:
        limits = self._limits
        for attempt in range(limits.max_retries + 1):
            remaining = deadline - self._clock()
            if remaining <= 0:
                raise ProviderError(f"no answer within {limits.total_timeout_s:g} s in total")
            timeout = min(limits.call_timeout_s, remaining)
            try:
                return await asyncio.wait_for(
                    self._provider.complete(
                        system, history, self._tools.specs, self._observer.text
                    ),
                    timeout,
                )
            except TimeoutError:
                if timeout < limits.call_timeout_s:  # the total ran out, not this call's
                    raise ProviderError(
                        f"no answer within {limits.total_timeout_s:g} s in total"
                    ) from None
                raise ProviderError(
                    f"{self._provider.name} did not answer within {timeout:g} s"
                ) from None
            except ProviderError as exc:
                if not exc.retryable or attempt == limits.max_retries:
                    raise
                delay = limits.backoff_s * 2**attempt * random.uniform(0.5, 1.0)
                if exc.retry_after_s is not None:
                    delay = max(delay, min(exc.retry_after_s, 30.0))
                if self._clock() + delay >= deadline:
                    raise
                self._observer.note(f"{exc.message}; retrying in {delay:.1f} s")
                await self._sleep(delay)
        raise AssertionError("unreachable")
