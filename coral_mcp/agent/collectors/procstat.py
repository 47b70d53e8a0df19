"""A process's changing numbers read straight from `/proc/PID/{stat,io,status,schedstat}`.

psutil reads the same files through several layers per value; at every sample of
every watched process that is the agent's largest cost. Here one read of `stat` gives
state, parent, CPU ticks, threads, start time and memory; `io` the bytes read and
written (where permitted); `status` the context switches; `task/TID/schedstat` how
long each thread waited on a run queue for a CPU (the kernel's run delay); the
descriptors are counted only every FDS_EVERY samples (a directory listing, and they
change slowly).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import NamedTuple

FDS_EVERY = 3
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_CHUNK = 4096
#: The states of a process that has ended (a zombie not yet reaped, or dead).
ENDED = ("Z", "X")


class RawStat(NamedTuple):
    """One reading of a process. `cpu_s` since it started; `start_ticks` identifies it
    (a reused pid has another)."""

    comm: str
    state: str
    ppid: int
    cpu_s: float
    threads: int
    start_ticks: int
    vms_bytes: int
    rss_bytes: int


def read_small(path: str) -> bytes | None:
    """A small /proc file in one read (no buffered file object: read for every watched
    process at every sample); None when it is gone or unreadable."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        data = os.read(fd, _CHUNK)
        while more := os.read(fd, _CHUNK):  # longer than one read: the rest too
            data += more
        return data
    except OSError:
        return None
    finally:
        os.close(fd)


def read_stat(proc_root: str, pid: int) -> RawStat | None:
    """None when the process is gone."""
    data = read_small(f"{proc_root}/{pid}/stat")
    if data is None:
        return None
    close = data.rfind(b")")
    fields = data[close + 2 :].split()
    if len(fields) < 22:
        return None
    return RawStat(
        comm=data[data.find(b"(") + 1 : close].decode(errors="replace"),
        state=fields[0].decode(),
        ppid=int(fields[1]),
        cpu_s=(int(fields[11]) + int(fields[12])) / CLOCK_TICKS,
        threads=int(fields[17]),
        start_ticks=int(fields[19]),
        vms_bytes=int(fields[20]),
        rss_bytes=int(fields[21]) * PAGE_BYTES,
    )


class SchedStat(NamedTuple):
    """The kernel's scheduler counters of one thread (`/proc/PID/task/TID/schedstat`;
    `/proc/PID/schedstat` is the main thread's): nanoseconds spent waiting on a run
    queue for a CPU, and the timeslices it was given, since it started."""

    wait_ns: int
    slices: int


def read_schedstat(proc_root: str, pid: int) -> SchedStat | None:
    """None when gone or when the kernel keeps no schedstats (`CONFIG_SCHED_INFO`)."""
    return _schedstat(f"{proc_root}/{pid}/schedstat")


def _schedstat(path: str) -> SchedStat | None:
    data = read_small(path)
    fields = data.split() if data else []
    return SchedStat(int(fields[1]), int(fields[2])) if len(fields) >= 3 else None


def thread_ids(proc_root: str, pid: int) -> tuple[int, ...]:
    """The process's threads (`/proc/PID/task`); empty when it is gone."""
    try:
        return tuple(int(tid) for tid in os.listdir(f"{proc_root}/{pid}/task") if tid.isdigit())
    except OSError:
        return ()


def read_thread_schedstats(proc_root: str, pid: int, tids: Iterable[int]) -> dict[int, SchedStat]:
    """The scheduler counters of the given threads of `pid` (those still there)."""
    found = {tid: _schedstat(f"{proc_root}/{pid}/task/{tid}/schedstat") for tid in tids}
    return {tid: stat for tid, stat in found.items() if stat is not None}


def threads_waited_since(
    now: Mapping[int, SchedStat], before: Mapping[int, SchedStat]
) -> SchedStat | None:
    """What the threads read both times waited and were given since `before`, summed;
    None when no thread was read both times."""
    return summed(waited_since(stat, before.get(tid)) for tid, stat in now.items())


def waited_since(now: SchedStat | None, before: SchedStat | None) -> SchedStat | None:
    """What changed from `before` to `now`; None without both, or when a counter went
    down (another process under the same pid)."""
    if now is None or before is None or now.wait_ns < before.wait_ns or now.slices < before.slices:
        return None
    return SchedStat(now.wait_ns - before.wait_ns, now.slices - before.slices)


def summed(stats: Iterable[SchedStat | None]) -> SchedStat | None:
    """The counters added up; None when none is known."""
    known = [stat for stat in stats if stat is not None]
    if not known:
        return None
    return SchedStat(sum(s.wait_ns for s in known), sum(s.slices for s in known))


def read_io(proc_root: str, pid: int) -> tuple[int, int] | None:
    """(read_bytes, write_bytes) of storage I/O; None when not permitted."""
    data = read_small(f"{proc_root}/{pid}/io")
    if data is None:
        return None
    found: dict[bytes, int] = {}
    for line in data.splitlines():
        key, _, value = line.partition(b": ")
        if key in (b"read_bytes", b"write_bytes"):
            found[key] = int(value)
    if len(found) != 2:
        return None
    return found[b"read_bytes"], found[b"write_bytes"]


def read_ctx_switches(proc_root: str, pid: int) -> int | None:
    """Voluntary + involuntary context switches; None when unreadable."""
    data = read_small(f"{proc_root}/{pid}/status")
    if data is None:
        return None
    total = 0
    start = data.find(b"voluntary_ctxt_switches:")
    if start < 0:
        return None
    for line in data[max(start - 3, 0) :].splitlines():
        if b"ctxt_switches:" in line:
            total += int(line.split()[-1])
    return total


def count_fds(proc_root: str, pid: int) -> int | None:
    try:
        return len(os.listdir(f"{proc_root}/{pid}/fd"))
    except OSError:
        return None
