"""Per-process resource usage, read through psutil.

psutil is the seam: the sampler takes the module (or a fake with the same surface).
Each process is read under `oneshot()`; a process that vanishes, is a zombie or may
not be read is skipped on its own without failing the sample. CPU percent needs two
readings: the first for a process is discarded (reported as None).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import psutil

logger = logging.getLogger(__name__)

_PSUTIL_GONE = (psutil.NoSuchProcess, psutil.ZombieProcess)


@dataclass(frozen=True, slots=True)
class ProcessStat:
    """One process at one moment. `cpu_percent` is None on its first reading."""

    pid: int
    name: str
    cpu_percent: float | None
    rss_bytes: int
    threads: int
    fds: int | None


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    """Identity of a running process, for matching services by name."""

    pid: int
    name: str
    cmdline: tuple[str, ...]


class ProcessSampler:
    """Reads CPU, RSS, threads and FDs of given pids, keeping psutil handles between calls.

    Handles are kept so `cpu_percent` can measure since the previous reading; a pid
    reused by a new process is detected through its create time.
    """

    def __init__(self, ps: ModuleType = psutil) -> None:
        self._ps = ps
        self._handles: dict[int, Any] = {}

    def sample(self, pids: Iterable[int]) -> dict[int, ProcessStat]:
        stats: dict[int, ProcessStat] = {}
        wanted = set(pids)
        for pid in list(self._handles):
            if pid not in wanted:
                del self._handles[pid]
        for pid in wanted:
            stat = self._sample_one(pid)
            if stat is not None:
                stats[pid] = stat
        return stats

    def _sample_one(self, pid: int) -> ProcessStat | None:
        fresh = pid not in self._handles
        try:
            if fresh:
                self._handles[pid] = self._ps.Process(pid)
            proc = self._handles[pid]
            if not fresh and not proc.is_running():  # pid reused by another process
                proc = self._handles[pid] = self._ps.Process(pid)
                fresh = True
            with proc.oneshot():
                cpu = proc.cpu_percent(interval=None)
                memory = proc.memory_info()
                threads = proc.num_threads()
                try:
                    fds: int | None = proc.num_fds()
                except self._ps.AccessDenied:
                    fds = None
                name = proc.name()
        except _PSUTIL_GONE:
            self._handles.pop(pid, None)
            return None
        except psutil.AccessDenied:
            logger.debug("access denied reading pid %d", pid)
            return None
        return ProcessStat(
            pid=pid,
            name=name,
            cpu_percent=None if fresh else float(cpu),
            rss_bytes=int(memory.rss),
            threads=int(threads),
            fds=fds,
        )


def list_processes(ps: ModuleType = psutil) -> list[ProcessInfo]:
    """Every readable process on the host with its name and command line."""
    found: list[ProcessInfo] = []
    for proc in ps.process_iter(["pid", "name", "cmdline"]):
        info = proc.info
        found.append(
            ProcessInfo(
                pid=int(info["pid"]),
                name=str(info.get("name") or ""),
                cmdline=tuple(info.get("cmdline") or ()),
            )
        )
    return found


_INTERPRETERS = re.compile(r"^(python[0-9.]*|pypy[0-9.]*|node|nodejs|ruby|perl|java|php|bash|sh)$")


def service_name_for(process: ProcessInfo) -> str:
    """A stable, readable service name for an auto-discovered process.

    The executable's name, except for interpreters, where the script or module tells
    services apart (`python3 -m http.server` -> `http.server`, `node app.js` -> `app`).
    """
    if _INTERPRETERS.match(process.name) and len(process.cmdline) > 1:
        args = list(process.cmdline[1:])
        for index, arg in enumerate(args):
            if arg == "-m" and index + 1 < len(args):
                return _clean(args[index + 1])
            if arg in ("-jar", "-cp", "-classpath") and index + 1 < len(args):
                continue
            if not arg.startswith("-"):
                base = arg.rsplit("/", 1)[-1]
                return _clean(base.rsplit(".", 1)[0] if "." in base else base)
    return _clean(process.name) or f"pid-{process.pid}"


def _clean(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "-", text)[:64].strip("-.")
