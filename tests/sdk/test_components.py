"""Component checks: verdicts, exceptions, timeouts, no pile-up of hung checks."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from coral_mcp.sdk.components import Components


def test_verdicts_come_from_return_values_and_exceptions() -> None:
    def broken() -> None:
        raise ConnectionRefusedError("db:5432 refused")

    components = Components(
        {
            "none": lambda: None,
            "true": lambda: True,
            "false": lambda: False,
            "pair": lambda: (False, "replica lag 30 s"),
            "raises": broken,
        }
    )
    try:
        results = components.evaluate()
    finally:
        components.close()
    assert {n: r.healthy for n, r in results.items()} == {
        "none": True, "true": True, "false": False, "pair": False, "raises": False,
    }  # fmt: skip
    assert results["pair"].detail == "replica lag 30 s"
    assert results["raises"].detail == "ConnectionRefusedError: db:5432 refused"


def test_a_hanging_check_is_unhealthy_after_the_timeout_and_not_started_twice() -> None:
    release = threading.Event()
    started: list[float] = []

    def hangs() -> bool:
        started.append(time.monotonic())
        release.wait(10)
        return True

    components = Components({"slow": hangs, "fast": lambda: True}, timeout_s=0.2, min_interval_s=0)
    try:
        begin = time.monotonic()
        first = components.evaluate()
        assert time.monotonic() - begin < 2
        assert first["slow"].healthy is False and "timed out" in first["slow"].detail
        assert first["fast"].healthy is True
        second = components.evaluate()
        assert second["slow"].healthy is False
        assert len(started) == 1  # still hanging: not started again
        release.set()
        deadline = time.monotonic() + 5
        while components.evaluate()["slow"].healthy is False:
            assert time.monotonic() < deadline, "the check never came back"
        components.evaluate()  # the late answer was used; now the check runs anew
        assert len(started) == 2
    finally:
        release.set()
        components.close()


def test_results_are_reused_within_the_minimum_interval() -> None:
    calls: list[int] = []
    components = Components({"c": lambda: calls.append(1)}, min_interval_s=60)
    try:
        components.evaluate()
        components.evaluate()
    finally:
        components.close()
    assert len(calls) == 1


def test_async_checks_run_on_the_given_event_loop() -> None:
    loop = asyncio.new_event_loop()
    runner = threading.Thread(target=loop.run_forever, daemon=True)
    runner.start()
    seen: list[asyncio.AbstractEventLoop] = []

    async def check() -> bool:
        seen.append(asyncio.get_running_loop())
        return False

    components = Components({"a": check}, loop=loop)
    try:
        assert components.evaluate()["a"].healthy is False
    finally:
        components.close()
        loop.call_soon_threadsafe(loop.stop)
        runner.join(5)
        loop.close()
    assert seen == [loop]


def test_bad_components_are_refused_at_init() -> None:
    with pytest.raises(TypeError, match="'db': the check must be callable"):
        Components({"db": "select 1"})  # type: ignore[dict-item]
