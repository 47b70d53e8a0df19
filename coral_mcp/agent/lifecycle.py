"""Lifecycle events of watched services, from one observation to the next.

`LifecycleTracker.observe()` compares what a service looks like now (its processes,
its cgroup's OOM-kill counter, its outbound peers) with what it looked like at the
previous sample and returns the events in between: start, exit, crash (with exit code
or signal where knowable), restart (a new pid for the same service, nothing changed),
deploy (it came back with another executable, command line or version-like
environment variable: one `deploy` event carrying old and new version instead of the
restart), OOM kill, new and lost dependency edges.

A service's *workers* (processes whose parent is one of its processes: PostgreSQL's
backends, a pre-fork server's workers) come and go, and rename themselves, as the
service works: their start, clean end and new process title are no events (only a
worker that crashed is). The service's identity, for deploys, is its leading processes'.

The first observation of a service only sets the baseline: an agent starting up does
not report every running process as "started". How a gone process ended is asked of
the `exit_status` seam (a zombie's status in /proc, then systemd).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

from coral_mcp.agent.collectors.processes import ProcessStat
from coral_mcp.agent.collectors.procfs import ExitStatus
from coral_mcp.models import Endpoint, Event, EventKind, Severity

ExitLookup = Callable[[int, str | None], ExitStatus | None]
UnitLookup = Callable[[int], str | None]
Fingerprint = tuple[str, int, float, tuple[str, ...], tuple[tuple[str, str], ...]]

_CMDLINE_CHARS = 300


@dataclass(slots=True)
class _Memory:
    """What the tracker remembers of one service between observations."""

    pids: dict[int, Fingerprint] = field(default_factory=dict)
    workers: set[int] = field(default_factory=set)
    units: dict[int, str | None] = field(default_factory=dict)
    fingerprint: Fingerprint | None = None
    had_pids: bool = False
    last_gone_pid: int | None = None
    peers: frozenset[Endpoint] = frozenset()
    oom_kills: int | None = None


class LifecycleTracker:
    def __init__(
        self,
        exit_status: ExitLookup = lambda pid, unit: None,
        unit_of: UnitLookup = lambda pid: None,
    ) -> None:
        self._exit_status = exit_status
        self._unit_of = unit_of
        self._services: dict[str, _Memory] = {}

    @property
    def known_services(self) -> list[str]:
        return sorted(self._services)

    def forget(self, service: str) -> None:
        self._services.pop(service, None)

    def observe(
        self,
        now_s: float,
        service: str,
        processes: Mapping[int, ProcessStat],
        peers: Collection[Endpoint] = (),
        oom_kills: int | None = None,
    ) -> list[Event]:
        """Events for `service` since its previous observation; `processes` by pid."""
        ts_ms = int(now_s * 1000)
        memory = self._services.get(service)
        first = memory is None
        if memory is None:
            memory = self._services[service] = _Memory()
        events: list[Event] = []
        gone = [pid for pid in memory.pids if pid not in processes]
        new = [pid for pid in processes if pid not in memory.pids]
        workers = {pid for pid, stat in processes.items() if stat.ppid in processes}
        for pid in gone:
            ended = self._ended(ts_ms, service, pid, memory.units.get(pid))
            if pid not in memory.workers or ended.kind == EventKind.CRASH:
                events.append(ended)
            del memory.pids[pid]
            memory.units.pop(pid, None)
            if pid not in memory.workers:
                memory.last_gone_pid = pid
        for pid in sorted(new):
            stat = processes[pid]
            if not first and pid not in workers:
                events += self._began(ts_ms, service, stat, memory)
            memory.pids[pid] = stat.fingerprint
            # A worker's end is read from its zombie only: its service's unit names
            # the leader, and a backend per connection would be a lookup per connection.
            memory.units[pid] = None if pid in workers else self._unit_of(pid)
        for pid, stat in processes.items():  # same pid, new program (the pid was reused)
            if pid not in new and memory.pids[pid] != stat.fingerprint:
                if pid not in workers:
                    events.append(_deploy(ts_ms, service, memory.pids[pid], stat))
                memory.pids[pid] = stat.fingerprint
        memory.workers = workers
        if processes:
            leaders = [pid for pid in processes if pid not in workers] or list(processes)
            memory.fingerprint = processes[max(leaders)].fingerprint
            memory.had_pids = True
        if not first:
            events += _oom(ts_ms, service, memory.oom_kills, oom_kills)
            events += _edges(ts_ms, service, memory.peers, frozenset(peers))
        if oom_kills is not None:
            memory.oom_kills = oom_kills
        memory.peers = frozenset(peers)
        return events

    def _ended(self, ts_ms: int, service: str, pid: int, unit: str | None) -> Event:
        status = self._exit_status(pid, unit)
        attrs: tuple[tuple[str, str], ...] = (("pid", str(pid)),)
        if unit:
            attrs += (("unit", unit),)
        if status is None:
            return Event(
                ts_ms,
                service,
                EventKind.EXIT,
                Severity.WARNING,
                f"process {pid} exited (status unknown)",
                attrs,
            )
        attrs += status.attributes()
        if status.failed:
            return Event(
                ts_ms,
                service,
                EventKind.CRASH,
                Severity.CRITICAL,
                f"process {pid} crashed: {status.describe()}",
                attrs,
            )
        return Event(
            ts_ms,
            service,
            EventKind.EXIT,
            Severity.INFO,
            f"process {pid} exited: {status.describe()}",
            attrs,
        )

    def _began(self, ts_ms: int, service: str, stat: ProcessStat, memory: _Memory) -> list[Event]:
        attrs = (("pid", str(stat.pid)), ("exe", stat.exe), ("cmdline", _cmdline(stat.cmdline)))
        restarted = memory.had_pids and not memory.pids
        gone = memory.last_gone_pid
        previous = (("previous_pid", str(gone)),) if restarted and gone is not None else ()
        if memory.fingerprint is not None and memory.fingerprint != stat.fingerprint:
            return [_deploy(ts_ms, service, memory.fingerprint, stat, previous)]
        if restarted:
            return [
                Event(
                    ts_ms,
                    service,
                    EventKind.RESTART,
                    Severity.WARNING,
                    f"restarted as pid {stat.pid} (same executable, command line and version)",
                    attrs + previous,
                )
            ]
        return [
            Event(
                ts_ms, service, EventKind.START, Severity.INFO, f"process {stat.pid} started", attrs
            )
        ]


def _deploy(
    ts_ms: int,
    service: str,
    before: Fingerprint,
    stat: ProcessStat,
    extra: tuple[tuple[str, str], ...] = (),
) -> Event:
    old_exe, old_inode, old_mtime, old_cmdline, old_env = before
    changed = [
        what
        for what, differs in (
            ("executable path", old_exe != stat.exe),
            ("executable file", (old_inode, old_mtime) != (stat.exe_inode, stat.exe_mtime_s)),
            ("command line", old_cmdline != stat.cmdline),
            ("environment", old_env != stat.version_env),
        )
        if differs
    ]
    old_version, new_version = version_of(old_env), version_of(stat.version_env)
    attrs = (
        ("pid", str(stat.pid)),
        *extra,
        ("changed", ", ".join(changed)),
        ("old_version", old_version or _describe(old_exe, old_mtime)),
        ("new_version", new_version or _describe(stat.exe, stat.exe_mtime_s)),
        ("old_exe", old_exe),
        ("new_exe", stat.exe),
        ("old_cmdline", _cmdline(old_cmdline)),
        ("new_cmdline", _cmdline(stat.cmdline)),
    )
    versions = f"{old_version} -> {new_version}: " if old_version != new_version else ""
    return Event(
        ts_ms,
        service,
        EventKind.DEPLOY,
        Severity.INFO,
        f"new version deployed ({versions}{', '.join(changed)} changed)",
        attrs,
    )


def version_of(env: tuple[tuple[str, str], ...]) -> str:
    """The version a process's environment names: `APP_VERSION`, `SERVICE_VERSION` or
    `VERSION` first, another `*VERSION*`, an image or tag, then any other (commit,
    revision); "" when none."""
    preferred = ("APP_VERSION", "SERVICE_VERSION", "VERSION")
    for key, value in sorted(env, key=lambda kv: kv[0] not in preferred):
        if value and kv_matches(key, ("VERSION",)):
            return value
    for words in (("IMAGE", "TAG"), ()):
        for key, value in env:
            if value and (not words or kv_matches(key, words)):
                return value
    return ""


def kv_matches(key: str, words: tuple[str, ...]) -> bool:
    return any(w in key.upper() for w in words)


def _describe(exe: str, mtime_s: float) -> str:
    """A version for a program that names none: its executable's name and build time."""
    name = exe.rsplit("/", 1)[-1] or "?"
    return f"{name}@{int(mtime_s)}" if mtime_s else name


def _oom(ts_ms: int, service: str, before: int | None, now: int | None) -> list[Event]:
    if before is None or now is None or now <= before:
        return []
    return [
        Event(
            ts_ms,
            service,
            EventKind.OOM_KILL,
            Severity.CRITICAL,
            f"the kernel killed {now - before} process(es) for lack of memory (cgroup limit)",
            (("oom_kills", str(now)), ("new_oom_kills", str(now - before))),
        )
    ]


def _edges(
    ts_ms: int, service: str, before: frozenset[Endpoint], now: frozenset[Endpoint]
) -> list[Event]:
    changes = (
        (now - before, EventKind.DEPENDENCY_NEW, Severity.INFO, "new connection to {}"),
        (before - now, EventKind.DEPENDENCY_LOST, Severity.WARNING, "no longer connected to {}"),
    )
    return [
        Event(ts_ms, service, kind, severity, text.format(peer), (("peer", str(peer)),))
        for peers, kind, severity, text in changes
        for peer in sorted(peers)
    ]


def _cmdline(cmdline: tuple[str, ...]) -> str:
    return " ".join(cmdline)[:_CMDLINE_CHARS]
