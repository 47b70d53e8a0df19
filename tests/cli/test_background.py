"""`--daemon` and `stop` through the installed `coral` command: pid file, log file, a
clean stop, refusals that say what to do."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from coral_mcp.cli.agent import _without_token
from coral_mcp.cli.background import background_args
from tests.conftest import child_env, coral_cmd, free_port


def _coral(*args: str, timeout_s: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        coral_cmd(*args), capture_output=True, text=True, check=False, timeout=timeout_s,
        env=child_env(),
    )  # fmt: skip


def test_colony_runs_in_the_background_and_stops_cleanly(tmp_path: Path) -> None:
    root = tmp_path / "coral"
    data = root / "colony"  # --data-dir is Coral's; the colony keeps its files here
    grpc_port, http_port = str(free_port()), str(free_port())
    ports = ("--grpc-port", grpc_port, "--http-port", http_port)
    started = _coral("colony", "start", "--daemon", "--data-dir", str(root), *ports)
    assert started.returncode == 0, started.stderr
    pid = int((data / "colony.pid").read_text())
    try:
        assert f"pid {pid}" in started.stdout and str(data / "colony.log") in started.stdout
        assert psutil.Process(pid).is_running()
        assert os.getsid(pid) == pid  # its own session: no terminal to lose
        # Returned once the colony is ready: its token made, its state file written.
        assert (data / "mcp.token").exists() and (data / "colony.json").exists()
        with socket.create_connection(("127.0.0.1", int(http_port)), timeout=5):
            pass
        again = _coral("colony", "start", "--daemon", "--data-dir", str(root), *ports)
        assert again.returncode == 1
        assert f"Coral is already running (pid {pid}, data dir {root})" in again.stderr
        assert "Traceback" not in again.stderr
        stopped = _coral("colony", "stop", "--data-dir", str(root))
        assert stopped.returncode == 0, stopped.stderr
        assert f"colony (pid {pid}) stopped" in stopped.stdout
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"
        assert not (data / "colony.pid").exists()
        log = (data / "colony.log").read_text()
        assert "colony stopped" in log
        assert "leaked" not in log, log[-2000:]  # nothing but the colony's own lines at exit
    finally:
        if psutil.pid_exists(pid):
            os.kill(pid, 9)
    again = _coral("colony", "stop", "--data-dir", str(root))
    assert again.returncode == 0 and "the colony is not running" in again.stdout


def test_a_colony_that_cannot_start_fails_the_command_with_its_log(tmp_path: Path) -> None:
    root = tmp_path / "coral"
    data = root / "colony"  # --data-dir is Coral's; the colony keeps its files here
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = str(squatter.getsockname()[1])
        done = _coral(
            "colony", "start", "--daemon", "--data-dir", str(root),
            "--grpc-port", str(free_port()), "--http-port", taken,
        )  # fmt: skip
    assert done.returncode == 1
    assert "the colony exited at start" in done.stderr and "colony.log ends" in done.stderr
    assert not (data / "colony.pid").exists()


def test_agent_runs_in_the_background_until_stopped(tmp_path: Path) -> None:
    root = tmp_path / "coral"
    data = root / "agent"
    started = _coral(
        "agent", "start", "--daemon", "--data-dir", str(root),
        "--colony", f"127.0.0.1:{free_port()}", "--service", f"me=pid:{os.getpid()}",
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    pid = int((data / "agent.pid").read_text())
    try:
        assert "watching me=pid:" in (data / "agent.log").read_text()
        stopped = _coral("agent", "stop", "--data-dir", str(root))
        assert stopped.returncode == 0 and f"agent (pid {pid}) stopped" in stopped.stdout
    finally:
        if psutil.pid_exists(pid):
            os.kill(pid, 9)


def test_stop_never_signals_a_process_that_is_not_coral(tmp_path: Path) -> None:
    root = tmp_path / "coral"
    data = root / "agent"
    data.mkdir(parents=True)
    stranger = subprocess.Popen(["sleep", "60"])
    try:
        (data / "agent.pid").write_text(f"{stranger.pid}\n")
        done = _coral("agent", "stop", "--data-dir", str(root))
        assert done.returncode == 0 and "stale pid file removed" in done.stdout
        assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()


def test_the_background_command_line_drops_daemon_and_the_join_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    argv = ["coral", "--log-level", "DEBUG", "agent", "start", "--join", "SECRET", "--daemon"]
    monkeypatch.setattr(sys, "argv", [*argv, "--join=SECRET2", "--auto"])
    args = _without_token(background_args())
    assert args == ["--log-level", "DEBUG", "agent", "start", "--auto"]
