"""Small doors a careless or hostile caller finds: data dirs open to other users, and
REST arguments that used to end in a 500 with a non-JSON body. Real processes."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import httpx2
import pytest

from tests.conftest import Processes, auth, wait_for

pytestmark = pytest.mark.e2e


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_data_dirs_made_by_an_older_coral_are_closed_to_other_users(
    tmp_path: Path, procs: Processes
) -> None:
    root = tmp_path / "coral"
    for name in ("colony", "agent"):
        (root / name).mkdir(parents=True)
        (root / name).chmod(0o755)
    colony = procs.colony(root / "colony")
    procs.agent(root / "agent", colony.grpc_port, {"me": f"pid:{os.getpid()}"}, 0.2, 0.5)
    wait_for((root / "agent" / "ring.sqlite").exists, 30, "the agent's ring store")
    wait_for((root / "agent" / "agent.json").exists, 30, "the agent's state")
    assert mode(root / "colony") == 0o700
    assert mode(root / "agent") == 0o700
    for private in ("colony/colony.duckdb", "colony/mcp.token", "agent/ring.sqlite"):
        assert mode(root / private) == 0o600, private
    wait_for(lambda: mode(root / "agent" / "agent.json") == 0o600, 10, "agent.json 0600")


def test_absurd_times_in_rest_queries_get_a_clear_json_400(
    tmp_path: Path, procs: Processes
) -> None:
    colony = procs.colony(tmp_path / "colony")
    for start in ("99999999999999999999", "now-99999999999999w", "1e400"):
        response = httpx2.get(
            f"{colony.url}/api/v1/events",
            params={"start": start},
            headers=auth(colony.token),
            timeout=10,
        )
        assert response.status_code == 400, (start, response.text)
        assert (
            "out of range" in response.json()["error"] or "cannot read" in response.json()["error"]
        ), response.text
