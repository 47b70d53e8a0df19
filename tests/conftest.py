"""Shared helpers: free ports, real subprocesses cleaned up after each test, polling.

Every test runs with a HOME (and CORAL_HOME, XDG_* dirs) of its own, so nothing a test or
a process it starts writes by default lands in the real home directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
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
# The home directory of whoever runs the tests, seen before any test replaces HOME.
REAL_HOME = Path(os.environ.get("HOME") or Path.home())
# What the variables below point at during a test: `home` is a fresh directory per test.
ISOLATED_ENV = {
    "HOME": "",
    "CORAL_HOME": ".local/share/coral",
    "XDG_DATA_HOME": ".local/share",
    "XDG_CONFIG_HOME": ".config",
    "XDG_CACHE_HOME": ".cache",
    "XDG_STATE_HOME": ".local/state",
}
DATA = Path(__file__).resolve().parent / "data"
#: Seconds a Coral process may take to start: ~2 s on an idle machine, but many times
#: that while the whole suite shares two cores. Waiting stops at once when it exits.
START_S = 90.0
#: HTTP timeout of the tests' own MCP clients: the MCP SDK's (and Coral's) 30 s, not
#: httpx's 5 s; a colony builds its MCP server on the first MCP request (LazyMcp).
MCP_TIMEOUT_S = 30.0
T = TypeVar("T")


def _isolate(home: Path, patch: pytest.MonkeyPatch) -> Path:
    for name, relative in ISOLATED_ENV.items():
        patch.setenv(name, str(home / relative) if relative else str(home))
    for name in ("XDG_RUNTIME_DIR", "CORAL_TOKEN"):
        patch.delenv(name, raising=False)
    return home


@pytest.fixture(scope="session", autouse=True)
def isolated_session_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A home for what session- and module-scoped fixtures start (before any test's own)."""
    with pytest.MonkeyPatch.context() as patch:
        yield _isolate(tmp_path_factory.mktemp("session-home"), patch)


@pytest.fixture(autouse=True)
def isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A HOME of the test's own (with CORAL_HOME and the XDG dirs inside it); children inherit it."""
    return _isolate(tmp_path_factory.mktemp("home"), monkeypatch)


#: `make test` runs the suite on pytest-xdist workers (`--dist loadgroup`): a group (an
#: `xdist_group` mark) is one unit of work on one worker, and units start in the order of
#: the items (`--no-loadscope-reorder`). The longest units start first (longest-first
#: scheduling), so no worker begins a long one while the others are nearly done: the
#: live fault suite (~7 min, mostly waiting for faults to show) at once on a worker of
#: its own, then the other groups in this order, then the tests that start real Coral
#: processes (`e2e`), then the rest. Measured durations: benchmarks/RESULTS.md,
#: "make test".
START_FIRST = ("live-faults", "end-to-end", "mcp-budget")


def _start_rank(item: pytest.Item) -> tuple[int, int]:
    groups = [str(m.args[0]) for m in item.iter_markers("xdist_group") if m.args]
    if groups:
        first = [START_FIRST.index(g) for g in groups if g in START_FIRST]
        return (0, min(first)) if first else (1, 0)
    return (2, 0) if item.get_closest_marker("e2e") else (3, 0)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Longest work first (stable: within a rank, the usual order)."""
    items.sort(key=_start_rank)


#: The live fault suite: one running application on a worker of its own (START_FIRST).
LIVE_SUITE = "tests/demo/test_live_faults.py"
#: Per part of the suite (the live fault suite or the rest): its tests, first start, last end.
_SPANS: dict[bool, tuple[set[str], float, float]] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Note when each test's phases began and ended (on xdist's controller: every worker's)."""
    live = report.nodeid.startswith(LIVE_SUITE)
    tests, first, last = _SPANS.get(live, (set(), report.start, report.stop))
    tests.add(report.nodeid)
    _SPANS[live] = (tests, min(first, report.start), max(last, report.stop))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line: each part's tests and wall time, from its first start to its last end
    (setup and teardown included), measured from the tests' own timestamps."""
    if not _SPANS or hasattr(terminalreporter.config, "workerinput"):
        return
    parts = [
        f"{name}: {len(tests)} tests, wall {last - first:.0f} s" if tests else f"{name}: not run"
        for name, (tests, first, last) in (
            ("suite without the live fault suite", _SPANS.get(False, (set(), 0.0, 0.0))),
            ("live fault suite", _SPANS.get(True, (set(), 0.0, 0.0))),
        )
    ]
    terminalreporter.write_line(f"{'; '.join(parts)} (walls from first start to last end)")


def _port_slice() -> range:
    """This worker's ports: below the kernel's ephemeral range (where port 0 and outgoing
    connections draw theirs), each xdist worker a slice of its own."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 1)
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    base = max(1024, low - 12000)
    size = (low - base) // max(workers, 1)
    return range(base + worker * size, base + (worker + 1) * size)


_PORTS = _port_slice()
# From a random place in the slice (another suite may run beside this one), then in turn.
_next_port = random.randrange(len(_PORTS)) if len(_PORTS) else 0


def free_port() -> int:
    """A loopback port nothing listens on, for a process a test starts to bind later.
    A port the kernel picks (bind to port 0) can be picked again for anyone else until
    that process binds it; one from this worker's slice is not handed out again in this
    run (the slices lie below the ephemeral range, and each worker goes round its own)."""
    global _next_port  # noqa: PLW0603 - one counter per worker process
    for _ in range(min(len(_PORTS), 200)):
        port = _PORTS[_next_port % len(_PORTS)]
        _next_port += 1
        with socket.socket() as sock, contextlib.suppress(OSError):
            sock.bind(("127.0.0.1", port))
            return port
    with socket.socket() as sock:  # no slice here (a narrow range): the kernel's choice
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Callable[[], T | None], timeout_s: float = 30.0, what: str = "") -> T:
    """Poll `predicate` until it returns something truthy; fail after timeout_s. Between
    polls it waits 0.1 s, or as long as the last poll took (up to 1 s): a costly
    predicate (one that runs a command) then takes about half of a core, not all of it."""
    deadline = time.monotonic() + timeout_s
    while True:
        began = time.monotonic()
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what or predicate}")
        time.sleep(min(max(0.1, time.monotonic() - began), 1.0))


def coral_cmd(*args: str) -> list[str]:
    """The `coral` console script installed beside this Python."""
    return [str(Path(sys.executable).parent / "coral"), *args]


def as_a_terminal_job() -> None:
    """`preexec_fn` for a child a test interrupts as Ctrl-C would: it starts as a shell
    starts a foreground job, SIGINT at its default action and nothing blocked, whatever
    this worker's state (a child inherits the signals a process ignores and blocks)."""
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture(autouse=True)
def _sigint_as_found() -> Iterator[None]:
    """Each test leaves SIGINT as it found it, its handler and the mask of this thread
    (where tests start their children): children started later inherit both."""
    handler = signal.getsignal(signal.SIGINT)
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, set())
    yield
    if signal.getsignal(signal.SIGINT) is not handler:
        signal.signal(signal.SIGINT, handler)
    if signal.pthread_sigmask(signal.SIG_BLOCK, set()) != mask:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


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
    pid: int


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
            wait_for(
                lambda: b"ready" in self.stdout(name) or proc.poll() is not None, START_S, name
            )
            if proc.poll() is not None:
                pytest.fail(f"{name} exited: {self.stderr(name).decode()}")
        return proc

    def tcp_service(self, name: str, listen: int, *connect: int) -> subprocess.Popen[bytes]:
        cmd = [sys.executable, str(DATA / "tcp_service.py"), "--listen", str(listen)]
        for port in connect:
            cmd += ["--connect", f"127.0.0.1:{port}"]
        return self.start(name, cmd, wait_ready=True)

    def colony(self, data_dir: Path, name: str = "colony", *extra: str) -> RunningColony:
        """A real colony on loopback ports it chooses itself (port 0: a port picked here
        could be taken by another test's process before the colony binds it), keeping
        its files in data_dir/colony; returns once it is ready (its colony.json, written
        when it listens, names the ports), and fails at once if it exits instead."""
        proc = self.start(
            name,
            coral_cmd(
                "colony", "start", "--data-dir", str(data_dir),
                "--grpc-port", "0", "--http-port", "0", *extra,
            ),
        )  # fmt: skip
        doc = self.wait_colony(proc, data_dir, name)
        grpc_port = int(str(doc["grpc"]).rsplit(":", 1)[1])
        url = f"http://127.0.0.1:{int(str(doc['http']).rsplit(':', 1)[1])}"
        token = colony_token(data_dir / "colony")
        return RunningColony(url, grpc_port, data_dir, token, proc.pid)

    def wait_colony(
        self, proc: subprocess.Popen[bytes], data_dir: Path, name: str
    ) -> dict[str, object]:
        """Wait until the colony `proc` (files in data_dir/colony) listens: its colony.json,
        written when it is ready, names its pid; fails at once if it exits instead."""
        state = data_dir / "colony" / "colony.json"

        def ready() -> dict[str, object] | None:
            with contextlib.suppress(OSError, ValueError):
                doc = json.loads(state.read_text())
                if doc.get("pid") == proc.pid:  # not a file left by an earlier colony
                    return dict(doc)
            return None

        wait_for(lambda: ready() or proc.poll() is not None, START_S, f"{name} ready")
        if proc.poll() is not None:
            pytest.fail(f"{name} exited: {self.stderr(name).decode()}")
        return ready() or {}

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
        """A real agent watching `services` (name -> spec) and streaming to grpc_port,
        keeping its files in data_dir/agent."""
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
        return proc.wait(timeout=30)

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


def colony_token(colony_dir: Path, timeout_s: float = START_S) -> str:
    """The bearer token a colony made in its data dir (waits for it to appear: a colony
    starting while the suite loads the machine has taken over 30 s to write it)."""
    path = colony_dir / "mcp.token"
    wait_for(path.exists, timeout_s, f"{path}")
    return path.read_text().strip()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
