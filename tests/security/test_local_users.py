"""On the colony's host, "local" does not mean "trusted": another user's process cannot
register or push as an agent on the plain gRPC port; only a caller holding the colony's
token (its own user, or root) can. Real colony and agent processes; the other user is
a real unprivileged uid (nobody)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.colony.test_resilience import Api, agents, committed
from tests.conftest import Processes, wait_for

ATTACKER = str(Path(__file__).with_name("attacker.py"))
NOBODY = "65534"


def as_nobody(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = ["setpriv", "--reuid", NOBODY, "--regid", NOBODY, "--clear-groups", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)


def test_another_local_user_cannot_speak_for_an_agent_on_the_loopback_port(
    tmp_path: Path, procs: Processes
) -> None:
    if os.geteuid() != 0:
        pytest.skip("switching to an unprivileged uid needs root")
    tmp_path.chmod(0o755)  # nobody may reach the scripts' working dir, not the data
    root = tmp_path / "coral"
    colony = procs.colony(root / "colony")
    api = Api(int(colony.url.rsplit(":", 1)[1]), colony.token)
    procs.agent(root / "agent", colony.grpc_port, {"me": f"pid:{os.getpid()}"}, 0.2, 0.5)
    wait_for(lambda: committed(api) >= 2, 40, "the agent, with the token beside it")
    victim = str(agents(api)[0]["agent_id"])
    token_file = root / "colony" / "mcp.token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600

    denied = as_nobody("cat", str(token_file))
    assert denied.returncode != 0
    done = as_nobody(sys.executable, ATTACKER, f"127.0.0.1:{colony.grpc_port}", victim)
    assert done.returncode == 0, done.stderr
    attempt = json.loads(done.stdout)
    assert attempt == {"register": "PERMISSION_DENIED", "connect": "PERMISSION_DENIED"}, attempt
    assert agents(api)[0]["hostname"] != "owned-by-attacker"
    assert b"missing or wrong colony token" in procs.stderr("colony")
    # The agent itself carries on.
    seq = committed(api)
    wait_for(lambda: committed(api) > seq, 30, "the agent still delivering")
