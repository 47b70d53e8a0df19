"""The processes a service's processes started, and the CPU they burn.

A service found by its port is the processes that listen on it, yet its work often
runs in their children: PostgreSQL serves each connection in a backend it forks, a
job server runs its jobs as subprocesses. A query burning a core in a backend is
PostgreSQL's CPU, so the CPU of a service's descendants counts as the service's.

Only the CPU (and how long they waited for one: a backend kept off the CPU by a busy
host delays the server's answers as its main process's wait does): the descendants'
memory, threads and descriptors stay out of the service's figures (a backend per
connection would turn a caller's connection leak into growth of PostgreSQL's own
processes, and the caller is the cause).

The tree is walked down from `/proc/PID/task/TID/children` (a child is listed under
the thread that forked it) at the socket-scan cadence; a descendant's CPU is read from
its `/proc/PID/stat` at every look, as the listening processes' is. A subtree rooted
at another watched service's process is that service's, and the agent's own
processes are no one's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping

from coral_mcp.agent.collectors import procstat

#: Descendants followed per service at most (a backend per connection can be hundreds).
MAX_DESCENDANTS = 256


def children(proc_root: str, pid: int) -> list[int]:
    """The pids `pid` started that still run (empty when it is gone or unreadable)."""
    found: list[int] = []
    for tid in procstat.thread_ids(proc_root, pid):
        data = procstat.read_small(f"{proc_root}/{pid}/task/{tid}/children")
        if data:
            found += [int(child) for child in data.split() if child.isdigit()]
    return found


class DescendantCpu:
    """Per service, the CPU % its processes' descendants used since their last reading."""

    def __init__(
        self, proc_root: str = "/proc", clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._proc_root = proc_root
        self._clock = clock
        self._trees: dict[str, tuple[int, ...]] = {}
        #: pid -> (start ticks, CPU seconds, when read)
        self._previous: dict[int, tuple[int, float, float]] = {}
        #: pid -> its scheduler counters when last read
        self._sched: dict[int, procstat.SchedStat] = {}

    def find(self, services: Mapping[str, Collection[int]], own: Collection[int] = ()) -> None:
        """Walk each service's tree down from its processes (`services`: name -> pids)."""
        claimed = {pid for pids in services.values() for pid in pids} | set(own)
        trees: dict[str, tuple[int, ...]] = {}
        for name, leaders in services.items():
            seen = set(claimed)
            found: list[int] = []
            frontier = list(leaders)
            while frontier and len(found) < MAX_DESCENDANTS:
                for child in children(self._proc_root, frontier.pop()):
                    if child not in seen:
                        seen.add(child)
                        found.append(child)
                        frontier.append(child)
            if found:
                trees[name] = tuple(found[:MAX_DESCENDANTS])
        self._trees = trees
        followed = {pid for tree in trees.values() for pid in tree}
        for pid in [p for p in self._previous if p not in followed]:
            del self._previous[pid]
        for pid in [p for p in self._sched if p not in followed]:
            del self._sched[pid]

    def percent(self, service: str) -> float | None:
        """CPU % of the service's descendants since their previous reading, summed;
        None while none of them has been read twice."""
        total: float | None = None
        now = self._clock()
        for pid in self._trees.get(service, ()):
            raw = procstat.read_stat(self._proc_root, pid)
            if raw is None or raw.state in procstat.ENDED:
                self._previous.pop(pid, None)
                continue
            used = self._since(pid, raw, now)
            self._previous[pid] = (raw.start_ticks, raw.cpu_s, now)
            if used is not None:
                total = (total or 0.0) + used
        return total

    def waited(self, service: str) -> procstat.SchedStat | None:
        """How long the service's descendants waited for a CPU since their previous
        reading, and the timeslices they were given, summed; None while none has been
        read twice (one read of `/proc/PID/schedstat` each)."""
        waits = []
        for pid in self._trees.get(service, ()):
            now = procstat.read_schedstat(self._proc_root, pid)
            waits.append(procstat.waited_since(now, self._sched.get(pid)))
            if now is None:
                self._sched.pop(pid, None)
            else:
                self._sched[pid] = now
        return procstat.summed(waits)

    def idle(self, service: str, max_percent: float) -> bool:
        """Whether every descendant used less than `max_percent` of a core since its
        last reading (read now, the readings kept); False for one never read."""
        now = self._clock()
        for pid in self._trees.get(service, ()):
            raw = procstat.read_stat(self._proc_root, pid)
            if raw is None or raw.state in procstat.ENDED:
                continue
            used = self._since(pid, raw, now)
            if used is None or used >= max_percent:
                return False
        return True

    def _since(self, pid: int, raw: procstat.RawStat, now: float) -> float | None:
        """CPU % of `pid` from its previous reading to `raw`; None without one (never
        read, or the pid now another process's)."""
        previous = self._previous.get(pid)
        if previous is None or previous[0] != raw.start_ticks or now <= previous[2]:
            return None
        return 100.0 * (raw.cpu_s - previous[1]) / (now - previous[2])
