"""Shared pieces of the benchmarks: machine description, results file, free ports."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
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
