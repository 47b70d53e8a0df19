"""`--tunnel none`: no privileges needed; gRPC over TLS pinned to the colony key, with
the agent's identity in a client certificate the colony issued. Real processes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.conftest import Processes, coral_cmd, free_port, wait_for


def _coral(*args: str) -> str:
    done = subprocess.run(coral_cmd(*args), capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _agents(root: Path) -> dict[str, Any]:
    done = subprocess.run(
        coral_cmd("colony", "status", "--json", "--data-dir", str(root)),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if done.returncode != 0:
        return {}
    return {a["agent_id"]: a for a in json.loads(done.stdout)["agents"]}


def test_without_a_tunnel_an_agent_streams_over_pinned_mutual_tls(
    tmp_path: Path, procs: Processes
) -> None:
    colony_dir, agent_dir = tmp_path / "colony", tmp_path / "agent"
    join_port, tls_port = free_port(), free_port()
    _coral("colony", "init", "--data-dir", str(tmp_path), "--endpoint", "127.0.0.1")
    token = _coral(
        "colony",
        "token",
        "create",
        "--data-dir",
        str(tmp_path),
        "--endpoint",
        f"127.0.0.1:{join_port}",
    ).strip()
    procs.start(
        "colony",
        coral_cmd(
            "colony",
            "start",
            "--data-dir",
            str(tmp_path),
            "--tunnel",
            "none",
            "--grpc-port",
            str(free_port()),
            "--http-port",
            str(free_port()),
            "--join-host",
            "127.0.0.1",
            "--join-port",
            str(join_port),
            "--tls-port",
            str(tls_port),
        ),
    )
    wait_for((colony_dir / "colony.json").exists, 30, "colony")
    agent = procs.start(
        "agent",
        coral_cmd(
            "agent",
            "start",
            "--data-dir",
            str(tmp_path),
            "--tunnel",
            "none",
            "--join",
            token,
            "--interval",
            "0.3",
            "--push",
            "0.5",
            "--no-auto",
        ),
    )
    wait_for((agent_dir / "agent.json").exists, 30, "agent identity")
    agent_id = json.loads((agent_dir / "agent.json").read_text())["agent_id"]
    wait_for(
        lambda: _agents(tmp_path).get(agent_id, {}).get("committed_seq", 0) >= 2,
        40,
        "summaries over mutual TLS",
    )
    assert f"colony 127.0.0.1:{tls_port} (mesh, none)" in procs.stderr("agent").decode()
    # Joined, the long-running (lean) agent does not carry the token on its command line.
    cmdline = Path(f"/proc/{agent.pid}/cmdline").read_bytes()
    assert b"coral_mcp.agent" in cmdline and token.encode() not in cmdline
    tokens = json.loads(_coral("colony", "token", "list", "--json", "--data-dir", str(tmp_path)))
    assert [t["state"] for t in tokens] == ["used up"]

    # A token of another colony, pointed at this one: the agent refuses before sending
    # its secret, with one clear line and no traceback.
    other_dir = tmp_path / "other"
    _coral("colony", "init", "--data-dir", str(other_dir))
    foreign = _coral(
        "colony",
        "token",
        "create",
        "--data-dir",
        str(other_dir),
        "--endpoint",
        f"127.0.0.1:{join_port}",
    ).strip()
    done = subprocess.run(
        coral_cmd(
            "agent",
            "start",
            "--data-dir",
            str(tmp_path / "agent2"),
            "--tunnel",
            "none",
            "--join",
            foreign,
        ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "Error: the colony's certificate is not signed by the pinned key" in done.stderr
    assert "Traceback" not in done.stderr
