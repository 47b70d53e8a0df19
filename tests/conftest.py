"""Shared helpers: free ports, real subprocesses cleaned up after each test, polling."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Callable[[], T | None], timeout_s: float = 30.0, what: str = "") -> T:
    """Poll `predicate` until it returns something truthy; fail after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what or predicate}")
        time.sleep(0.1)


def coral_cmd(*args: str) -> list[str]:
    """The `coral` console script installed beside this Python."""
    return [str(Path(sys.executable).parent / "coral"), *args]


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass(frozen=True)
class RunningColony:
    url: str
    grpc_port: int
    data_dir: Path
    token: str


class Processes:
    """Starts subprocesses and kills whatever is left of them at teardown."""

    def __init__(self, logs: Path) -> None:
        self._logs = logs
        self._procs: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, cmd: list[str], wait_ready: bool = False) -> subprocess.Popen[bytes]:
        with (
            open(self._logs / f"{name}.out", "wb") as out,
            open(self._logs / f"{name}.err", "wb") as err,
        ):
            proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=child_env(), cwd=ROOT)
        self._procs.append(proc)
        if wait_ready:
            wait_for(lambda: b"ready" in self.stdout(name) or proc.poll() is not None, 20, name)
            if proc.poll() is not None:
                pytest.fail(f"{name} exited: {self.stderr(name).decode()}")
        return proc

    def tcp_service(self, name: str, listen: int, *connect: int) -> subprocess.Popen[bytes]:
        cmd = [sys.executable, str(DATA / "tcp_service.py"), "--listen", str(listen)]
        for port in connect:
            cmd += ["--connect", f"127.0.0.1:{port}"]
        return self.start(name, cmd, wait_ready=True)

    def colony(self, data_dir: Path, name: str = "colony", *extra: str) -> RunningColony:
        """A real colony on free loopback ports; returns once its token exists."""
        grpc_port, http_port = free_port(), free_port()
        self.start(
            name,
            coral_cmd(
                "colony", "start", "--data-dir", str(data_dir),
                "--grpc-port", str(grpc_port), "--http-port", str(http_port), *extra,
            ),
        )  # fmt: skip
        url = f"http://127.0.0.1:{http_port}"
        token = colony_token(data_dir)
        wait_for((data_dir / "colony.json").exists, 30, f"{name} ready")
        return RunningColony(url, grpc_port, data_dir, token)

    def agent(
        self,
        data_dir: Path,
        grpc_port: int,
        services: dict[str, str],
        interval_s: float = 0.5,
        push_s: float = 1.0,
        name: str = "agent",
        *extra: str,
    ) -> subprocess.Popen[bytes]:
        """A real agent watching `services` (name -> spec) and streaming to grpc_port."""
        specs = [arg for n, spec in services.items() for arg in ("--service", f"{n}={spec}")]
        return self.start(
            name,
            coral_cmd(
                "agent", "start", "--colony", f"127.0.0.1:{grpc_port}", *specs,
                "--interval", str(interval_s), "--push", str(push_s),
                "--data-dir", str(data_dir), *extra,
            ),
        )  # fmt: skip

    def stdout(self, name: str) -> bytes:
        return (self._logs / f"{name}.out").read_bytes()

    def stderr(self, name: str) -> bytes:
        return (self._logs / f"{name}.err").read_bytes()

    def reap(self, pid: int) -> int:
        """Wait for child `pid` to end and collect its status (as a service manager does)."""
        proc = next(p for p in self._procs if p.pid == pid)
        return proc.wait(timeout=10)

    def stop_all(self) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self._procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Processes]:
    logs = tmp_path / "logs"
    logs.mkdir()
    processes = Processes(logs)
    yield processes
    processes.stop_all()


def colony_token(colony_dir: Path, timeout_s: float = 30.0) -> str:
    """The bearer token a colony made in its data dir (waits for it to appear)."""
    path = colony_dir / "mcp.token"
    wait_for(path.exists, timeout_s, f"{path}")
    return path.read_text().strip()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
