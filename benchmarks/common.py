"""Shared pieces of the benchmarks: machine description, results file, free ports."""

from __future__ import annotations

import compileall
import importlib.util
import os
import platform
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{platform.system()} {platform.release()}, {os.cpu_count()} cores ({cpu}),"
        f" Python {platform.python_version()}"
    )


#: What the lean agent imports: compiled to bytecode before an agent is measured.
AGENT_PACKAGES = ("coral_mcp", "grpc", "google.protobuf", "psutil")


def compile_bytecode(packages: tuple[str, ...] = AGENT_PACKAGES) -> None:
    """Write the packages' bytecode caches, as `pip install` does, so a measured process
    does not compile its imports at start (which costs CPU and leaves several MiB of
    heap behind) where the environment installed without them (`uv pip install`
    without `--compile-bytecode`, or PYTHONDONTWRITEBYTECODE set)."""
    for package in packages:
        spec = importlib.util.find_spec(package)
        for location in (spec.submodule_search_locations or []) if spec else []:
            compileall.compile_dir(location, quiet=1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def append_result(title: str, command: str, lines: list[str]) -> str:
    """Append one dated entry to RESULTS.md; return the text appended."""
    entry = "\n".join(
        [
            f"## {title}",
            "",
            f"- date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
            f"- machine: {machine()}",
            f"- command: `{command}`",
            *[f"- {line}" for line in lines],
            "",
        ]
    )
    if not RESULTS.exists():
        RESULTS.write_text("# Benchmark results\n\nEach run appends an entry; newest last.\n\n")
    with RESULTS.open("a") as out:
        out.write(entry + "\n")
    return entry


def stop_processes(procs: list[subprocess.Popen[bytes]]) -> None:
    """Terminate the processes (newest first) and wait for each."""
    for proc in reversed(procs):
        proc.terminate()
    for proc in procs:
        proc.wait(timeout=15)
        if proc.stdout:
            proc.stdout.close()


@dataclass(frozen=True)
class Colony:
    proc: subprocess.Popen[bytes]
    grpc_port: int
    http_port: int
    #: The colony's token: HTTP and its plain gRPC port want it.
    token: str


@contextmanager
def running_colony(data_dir: str) -> Iterator[Colony]:
    """A real colony process on free loopback ports, ready; stopped on exit."""
    grpc_port, http_port = free_port(), free_port()
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "coral"), "--log-level", "WARNING", "colony", "start",
         "--data-dir", data_dir, "--grpc-port", str(grpc_port), "--http-port", str(http_port)],
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not Path(data_dir, "colony", "colony.json").exists():
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit("colony did not start")
            time.sleep(0.1)
        token = Path(data_dir, "colony", "mcp.token").read_text().strip()
        yield Colony(proc, grpc_port, http_port, token)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
