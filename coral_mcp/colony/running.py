"""`colony.json`: where a running colony listens, for the other processes of its host.

The colony writes it once it is ready and removes it when it stops. A reader trusts it
only while its pid is alive and still a Coral process, so a file left by a crash (or a pid
reused by another program) is not mistaken for a running colony.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATE_FILE = "colony.json"


@dataclass(frozen=True, slots=True)
class RunningColony:
    """A colony running on this host, as its state file describes it."""

    pid: int
    http_url: str
    grpc_target: str


def write_state(colony_dir: Path, state: dict[str, Any]) -> None:
    """Replace the state file atomically (readers never see half of it)."""
    tmp = colony_dir / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps(state))
    os.replace(tmp, colony_dir / STATE_FILE)


def read_running(colony_dir: Path) -> RunningColony | None:
    """The colony running on `colony_dir`, or None when none runs there now."""
    try:
        state = json.loads((colony_dir / STATE_FILE).read_text())
        found = RunningColony(int(state["pid"]), str(state["http"]), str(state["grpc"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return found if _is_coral_process(found.pid) else None


def _is_coral_process(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, owned by another user
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc here: a live pid is the best evidence there is
    return any(_names_coral(arg) for arg in cmdline.split(b"\0"))


def _names_coral(arg: bytes) -> bool:
    """An argument that names Coral's program: the `coral` script or the package."""
    return arg.rsplit(b"/", 1)[-1] in (b"coral", b"coral-mcp") or arg.startswith(b"coral_mcp")
