"""Memory and CPU limits, usage, throttling and OOM kills of a process's cgroup.

cgroup v2 (the unified hierarchy) is read where present; on a v1 host the memory
controller still tells the limit and the OOM-kill count. The cgroup filesystem root is
the seam (`Path("/sys/fs/cgroup")`; tests pass a directory shaped like it). A cgroup
that is not visible (another namespace) or not readable yields no stats, not an error.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from coral_mcp.agent.collectors.procfs import ProcFS

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CgroupStat:
    """One cgroup at one moment; None where the kernel does not say (or no limit)."""

    path: str
    memory_limit_bytes: float | None = None
    memory_current_bytes: float | None = None
    oom_kills: int | None = None
    cpu_limit_cores: float | None = None
    cpu_throttled_periods: float | None = None
    cpu_throttled_s: float | None = None
    #: The processes in the cgroup (`cgroup.procs`); empty when unreadable.
    pids: frozenset[int] = frozenset()


class CgroupReader:
    def __init__(self, procfs: ProcFS, root: Path = Path("/sys/fs/cgroup")) -> None:
        self._procfs = procfs
        self._root = root

    def paths_of(self, pid: int) -> dict[str, str]:
        """The process's cgroup per controller ("" for v2), to read again after it exits."""
        return self._procfs.cgroup_paths(pid)

    def read(self, paths: dict[str, str]) -> CgroupStat | None:
        """Stats of the cgroup given by `paths_of()`; None when not visible."""
        if "" in paths and paths[""] not in ("", "/"):
            stat = self._v2(paths[""])
            if stat is not None:
                return stat
        if "memory" in paths:
            return self._v1_memory(paths["memory"])
        return None

    def _dir(self, *parts: str) -> Path | None:
        for base in (self._root, self._root / "unified"):
            path = base.joinpath(*(p.strip("/") for p in parts if p.strip("/")))
            if path.is_dir():
                return path
        return None

    def _v2(self, cgroup: str) -> CgroupStat | None:
        directory = self._dir(cgroup)
        if directory is None or not (directory / "cgroup.controllers").exists():
            return None
        events = _keyed(_read(directory / "memory.events"))
        cpu_stat = _keyed(_read(directory / "cpu.stat"))
        throttled_us = cpu_stat.get("throttled_usec")
        return CgroupStat(
            path=cgroup,
            memory_limit_bytes=_number(_read(directory / "memory.max")),
            memory_current_bytes=_number(_read(directory / "memory.current")),
            oom_kills=None if "oom_kill" not in events else int(events["oom_kill"]),
            cpu_limit_cores=_cpu_max(_read(directory / "cpu.max")),
            cpu_throttled_periods=cpu_stat.get("nr_throttled"),
            cpu_throttled_s=None if throttled_us is None else throttled_us / 1e6,
            pids=_pids(_read(directory / "cgroup.procs")),
        )

    def _v1_memory(self, cgroup: str) -> CgroupStat | None:
        directory = self._dir("memory", cgroup)
        if directory is None:
            return None
        limit = _number(_read(directory / "memory.limit_in_bytes"))
        control = _keyed(_read(directory / "memory.oom_control"))
        return CgroupStat(
            path=cgroup,
            memory_limit_bytes=None if limit is None or limit >= 2**62 else limit,
            memory_current_bytes=_number(_read(directory / "memory.usage_in_bytes")),
            oom_kills=None if "oom_kill" not in control else int(control["oom_kill"]),
            pids=_pids(_read(directory / "cgroup.procs")),
        )


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        logger.debug("cannot read %s: %s", path, exc)
        return None


def _pids(text: str | None) -> frozenset[int]:
    return frozenset(int(line) for line in (text or "").split() if line.isdigit())


def _number(text: str | None) -> float | None:
    """A single number; None for absent files and `max` (no limit)."""
    if text is None:
        return None
    value = text.strip()
    try:
        return float(value)
    except ValueError:
        return None


def _keyed(text: str | None) -> dict[str, float]:
    found: dict[str, float] = {}
    for line in (text or "").splitlines():
        key, _, value = line.partition(" ")
        try:
            found[key] = float(value)
        except ValueError:
            continue
    return found


def _cpu_max(text: str | None) -> float | None:
    """`cpu.max` ("QUOTA PERIOD" or "max PERIOD") as cores; None without a quota."""
    if text is None:
        return None
    parts = text.split()
    if len(parts) != 2 or parts[0] == "max":
        return None
    try:
        return float(parts[0]) / float(parts[1])
    except (ValueError, ZeroDivisionError):
        return None
