"""The CLI sends the colony token only to the colony it belongs to: never to whatever
squats the default port when that colony is not running. A real squatting socket, on
the real default port, inside a network namespace of its own."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from coral_mcp.colony.auth import load_or_create_token
from coral_mcp.config import DEFAULT_HTTP_PORT
from tests.conftest import Processes, coral_cmd, wait_for

SQUATTER = str(Path(__file__).with_name("squatter.py"))


@pytest.fixture
def netns() -> Iterator[str]:
    """A network namespace with only loopback (root only)."""
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    name = f"coral-sq-{secrets.token_hex(3)}"
    made = subprocess.run(["ip", "netns", "add", name], capture_output=True, check=False)
    if made.returncode != 0:
        pytest.skip("this machine forbids network namespaces")
    try:
        subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


def test_the_token_never_reaches_a_squatter_on_the_default_port(
    netns: str, tmp_path: Path, procs: Processes
) -> None:
    root = tmp_path / "coral"
    (root / "colony").mkdir(parents=True)
    token = load_or_create_token(root / "colony")
    seen = tmp_path / "seen.log"
    seen.touch()
    inside = ["ip", "netns", "exec", netns]
    squatter = procs.start(
        "squatter",
        [*inside, sys.executable, SQUATTER, str(DEFAULT_HTTP_PORT), str(seen)],
        wait_ready=True,
    )

    def status() -> subprocess.CompletedProcess[str]:
        cmd = [*inside, *coral_cmd("colony", "status", "--data-dir", str(root))]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)

    # No colony runs on the data dir: the CLI tries the default port, without the token.
    done = status()
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") <= 2, done.stderr  # one line, and a hint
    wait_for(seen.read_text, 10, "the squatter to see the request")
    assert token not in seen.read_text()
    assert "None" in seen.read_text()

    # A stale state file whose pid now belongs to another program (the squatter):
    # still not the colony of this data dir, so still no token.
    state = {"pid": squatter.pid, "http": f"http://127.0.0.1:{DEFAULT_HTTP_PORT}"}
    (root / "colony" / "colony.json").write_text(json.dumps(state))
    done = status()
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert token not in seen.read_text()
    assert "not with a Coral colony's status" in done.stderr
