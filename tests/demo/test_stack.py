"""The demo's application stack: its own process stays quiet while the shop runs."""

from __future__ import annotations

import subprocess
import threading
import time

import pytest

from coral_mcp.demo.stack import Stack


def test_the_api_supervisor_looks_five_times_a_second_and_never_spins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """It once waited on an event that was set (a wait that returns at once): a busy loop
    that kept a core of `coral demo`'s process, and of the live fault suite's, busy."""
    stack = Stack()
    looks = 0
    get = stack.children.get

    def counted(name: str) -> subprocess.Popen[bytes] | None:
        nonlocal looks
        looks += 1
        return get(name)

    monkeypatch.setattr(stack.children, "get", counted)
    supervisor = threading.Thread(target=stack._supervise_api, daemon=True)
    stack._supervisor = supervisor
    supervisor.start()
    time.sleep(1.0)
    stack.close()
    assert not supervisor.is_alive()  # close ends it
    assert 0 < looks <= 10
