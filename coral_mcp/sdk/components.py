"""Component health, evaluated on demand, each check bounded by a timeout.

A check is a callable with no arguments, plain or `async`. It says "healthy" by
returning `None`, `True` or any other truthy value, or a `(healthy, detail)` pair; it
says "unhealthy" by returning `False` (or a falsy value) or by raising — the exception
becomes the detail. A check that has not answered within the timeout is unhealthy
("timed out"); while it still hangs it is not started again, so a stuck dependency
costs one worker thread, not one per request.

Checks run in a small pool of worker threads that lives as long as the SDK, so an
evaluation is a hand-off to threads that already exist. Results are reused for
`min_interval_s`, so a caller asking in a loop cannot make the checks run in a loop.
`async` checks run on the application's event loop when one was given (the ASGI
helper gives it), else on a private loop in the worker thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio

Check = Callable[[], Any]

_DETAIL_CHARS = 300


@dataclass(frozen=True, slots=True)
class ComponentResult:
    healthy: bool
    detail: str
    latency_ms: float

    def as_json(self) -> dict[str, object]:
        return {
            "healthy": self.healthy,
            "detail": self.detail,
            "latency_ms": round(self.latency_ms, 3),
        }


class Components:
    def __init__(
        self,
        checks: Mapping[str, Check],
        *,
        timeout_s: float = 2.0,
        min_interval_s: float = 1.0,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        for name, check in checks.items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"component names are non-empty strings, not {name!r}")
            if not callable(check):
                raise TypeError(f"component {name!r}: the check must be callable")
        self._checks = dict(checks)
        self.timeout_s = timeout_s
        self.min_interval_s = min_interval_s
        self.loop = loop
        self._pool: ThreadPoolExecutor | None = None
        self._running: dict[str, tuple[Future[ComponentResult], float]] = {}
        self._lock = threading.Lock()
        self._cached: tuple[float, dict[str, ComponentResult]] | None = None

    @property
    def names(self) -> list[str]:
        return list(self._checks)

    def evaluate(self) -> dict[str, ComponentResult]:
        """Every component's health now (or from the last `min_interval_s`)."""
        if not self._checks:
            return {}
        with self._lock:  # one evaluation at a time; the others share its result
            now = time.monotonic()
            if self._cached is not None and now - self._cached[0] < self.min_interval_s:
                return self._cached[1]
            results = self._evaluate(now)
            self._cached = (time.monotonic(), results)
            return results

    def _evaluate(self, started: float) -> dict[str, ComponentResult]:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                max_workers=len(self._checks) + 2, thread_name_prefix="coral-sdk-check"
            )
        futures: dict[str, Future[ComponentResult]] = {}
        for name, check in self._checks.items():
            hung = self._running.get(name)
            if hung is not None and not hung[0].done():
                continue
            futures[name] = self._pool.submit(self._run, check)
            self._running[name] = (futures[name], started)
        wait_futures(list(futures.values()), timeout=self.timeout_s)
        results: dict[str, ComponentResult] = {}
        for name in self._checks:
            future, since = self._running[name]
            if future.done():
                results[name] = future.result()
                del self._running[name]
            else:
                waited_s = time.monotonic() - since
                results[name] = ComponentResult(
                    False, f"timed out: no answer after {waited_s:.1f} s", waited_s * 1000
                )
        return results

    def _run(self, check: Check) -> ComponentResult:
        start = time.perf_counter()
        try:
            outcome = check()
            if hasattr(outcome, "__await__"):  # an async check (asyncio loaded only then)
                outcome = self._await(outcome)
            healthy, detail = _verdict(outcome)
        except Exception as exc:  # a failing check is an unhealthy component
            healthy, detail = False, f"{type(exc).__name__}: {exc}"
        return ComponentResult(
            healthy, detail[:_DETAIL_CHARS], (time.perf_counter() - start) * 1000
        )

    def _await(self, awaitable: Any) -> Any:
        import asyncio  # noqa: PLC0415 - costs ~9 MiB (it loads ssl); only for async checks

        loop = self.loop
        if loop is not None and loop.is_running():
            return asyncio.run_coroutine_threadsafe(_as_coroutine(awaitable), loop).result(
                self.timeout_s
            )
        return asyncio.run(_as_coroutine(awaitable))

    def renewed(self) -> Components:
        """The same checks with fresh threads and no loop (for a forked child)."""
        return Components(
            self._checks, timeout_s=self.timeout_s, min_interval_s=self.min_interval_s
        )

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


async def _as_coroutine(awaitable: Any) -> Any:
    return await awaitable


def _verdict(outcome: Any) -> tuple[bool, str]:
    if outcome is None:
        return True, ""
    if isinstance(outcome, tuple) and len(outcome) == 2:
        return bool(outcome[0]), str(outcome[1])
    return bool(outcome), ""
