"""Text from agents never drives the operator's terminal: names stored by an older
colony with escape sequences in them come out of `coral colony status` and `coral ask`
escaped. Real colony process, real CLI, a DuckDB file seeded past the (now closed) edge.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from coral_mcp.models import Event, EventBatch, ServiceState, Severity
from coral_mcp.storage.ops import RegisterAgent, StoreEvents
from coral_mcp.storage.store import ColonyStore
from tests.conftest import Processes, coral_cmd

pytestmark = pytest.mark.e2e

CLEAR_SCREEN = "\x1b[2J"


def test_escape_sequences_in_stored_names_reach_the_terminal_escaped(
    tmp_path: Path, procs: Processes
) -> None:
    colony_dir = tmp_path / "colony"
    colony_dir.mkdir()
    store = ColonyStore(colony_dir)
    now_ms = int(time.time() * 1000)
    service = f"api{CLEAR_SCREEN}"
    store.apply(
        [
            RegisterAgent(
                f"evil{CLEAR_SCREEN}", f"host\u202e{CLEAR_SCREEN}", "1", 1, "ipv4:x",
                (ServiceState(service, "pid:1", (), ()),), now_ms,
            ),
            StoreEvents(
                f"evil{CLEAR_SCREEN}", 1,
                EventBatch((Event(now_ms - 1000, service, "crash", Severity.CRITICAL,
                                  f"died {CLEAR_SCREEN}", ()),)),
                now_ms,
            ),
        ]
    )  # fmt: skip
    store.close()
    procs.colony(colony_dir)

    for args in (("colony", "status"), ("ask", "what happened?")):
        done = subprocess.run(
            coral_cmd(*args, "--data-dir", str(tmp_path)),
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert b"\x1b" not in done.stdout and "\u202e".encode() not in done.stdout, done.stdout
        assert b"\\x1b[2J" in done.stdout, done.stdout
