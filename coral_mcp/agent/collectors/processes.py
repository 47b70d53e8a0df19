"""Per-process resource usage, read through psutil.

psutil is the seam: the sampler takes the module (or a fake with the same surface).
Each process is read under `oneshot()`; a process that vanishes, is a zombie or may
not be read is skipped on its own without failing the sample. CPU percent needs two
readings: the first for a process is discarded (reported as None).
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import psutil

from coral_mcp.agent.collectors import procstat

logger = logging.getLogger(__name__)

_PSUTIL_GONE = (psutil.NoSuchProcess, psutil.ZombieProcess)
_Identity = tuple[str, int, float, tuple[str, ...], tuple[tuple[str, str], ...]]
_Previous = tuple[int, float, float, int | None, int, dict[int, procstat.SchedStat]]


@dataclass(frozen=True, slots=True)
class ProcessStat:
    """One process at one moment. `cpu_percent` is None on its first reading.

    Optional fields are None where the kernel does not say or may not be read.
    `exe_inode`/`exe_mtime_s` identify the executable file, so a replaced binary at the
    same path is still told apart (a deploy).
    """

    pid: int
    name: str
    cpu_percent: float | None
    rss_bytes: int
    threads: int
    fds: int | None
    vms_bytes: int = 0
    read_bytes: int | None = None
    write_bytes: int | None = None
    ctx_switches: int | None = None
    create_time_s: float = 0.0
    exe: str = ""
    exe_inode: int = 0
    exe_mtime_s: float = 0.0
    cmdline: tuple[str, ...] = ()
    ppid: int = 0
    #: Version-like variables of its environment (`APP_VERSION`, `IMAGE_TAG`...), sorted.
    version_env: tuple[tuple[str, str], ...] = ()
    cwd: str = ""
    #: Since its previous reading (None on the first, or where the kernel does not say):
    #: how long its threads waited on a run queue for a CPU, and the timeslices they
    #: were given, summed (`/proc/PID/task/TID/schedstat`; threads that came or went
    #: in between are left out).
    waited: procstat.SchedStat | None = None

    @property
    def fingerprint(
        self,
    ) -> tuple[str, int, float, tuple[str, ...], tuple[tuple[str, str], ...]]:
        """What a deploy changes: the executable (path, inode, mtime), the command line
        and the version-like environment."""
        return (self.exe, self.exe_inode, self.exe_mtime_s, self.cmdline, self.version_env)


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    """Identity of a running process, for matching services by name."""

    pid: int
    name: str
    cmdline: tuple[str, ...]
    zombie: bool = False
    #: Working directory ("" when unreadable or not asked for).
    cwd: str = ""


class ProcessSampler:
    """Reads resource usage of given pids, keeping psutil handles between calls.

    Handles are kept so `cpu_percent` can measure since the previous reading; a pid
    reused by a new process is detected through its create time. That check costs a
    second read of the process's stat file, so it is made every REUSE_CHECK_EVERY
    samples of a pid: with Linux's pid space, a pid is not handed out again within
    seconds, and a vanished process is seen at once anyway (its reads fail).
    """

    REUSE_CHECK_EVERY = 6

    def __init__(
        self,
        ps: ModuleType = psutil,
        version_env: Callable[[int], tuple[tuple[str, str], ...]] = lambda pid: (),
        proc_root: str = "/proc",
    ) -> None:
        self._ps = ps
        self._version_env = version_env
        self._handles: dict[int, Any] = {}
        # What does not change while a process lives (exe, its file, the command line,
        # its environment) is read once per process, not at every sample.
        self._identity: dict[int, _Identity] = {}
        self._samples_since_check: dict[int, int] = {}
        # /proc read directly where it can be (Linux, the real psutil); per pid:
        # (start ticks, cpu seconds, when read, descriptors, samples since counted,
        # scheduler counters per thread)
        self._proc_root = proc_root
        self._fast = ps is psutil and os.path.exists(f"{proc_root}/self/stat")
        self._previous: dict[int, _Previous] = {}
        self._boot_time_s = float(psutil.boot_time()) if self._fast else 0.0

    def sample(self, pids: Iterable[int], keep: Iterable[int] = ()) -> dict[int, ProcessStat]:
        """The pids' readings; what is known of `keep` pids (not read now) is kept."""
        stats: dict[int, ProcessStat] = {}
        wanted = set(pids)
        kept = wanted | set(keep)
        for pid in [p for p in {*self._handles, *self._previous} if p not in kept]:
            self._forget(pid)
        for pid in wanted:
            stat = self._sample_fast(pid) if self._fast else self._sample_one(pid)
            if stat is not None:
                stats[pid] = stat
        return stats

    def idle(self, pids: Iterable[int], max_percent: float) -> bool:
        """Whether each process used less than `max_percent` of a core since its last
        reading (one read of /proc/PID/stat each). True where that cannot be told
        cheaply (not Linux, a fake psutil); False for a process never read or gone."""
        if not self._fast:
            return True
        now = time.monotonic()
        for pid in pids:
            previous = self._previous.get(pid)
            raw = procstat.read_stat(self._proc_root, pid)
            if previous is None or raw is None or raw.start_ticks != previous[0]:
                return False
            _, cpu_s, at, _, _, _ = previous
            if now <= at or 100.0 * (raw.cpu_s - cpu_s) / (now - at) >= max_percent:
                return False
        return True

    def _forget(self, pid: int) -> None:
        self._handles.pop(pid, None)
        self._identity.pop(pid, None)
        self._samples_since_check.pop(pid, None)
        self._previous.pop(pid, None)

    def _sample_fast(self, pid: int) -> ProcessStat | None:
        """One process from /proc directly (Linux, the real psutil)."""
        raw = procstat.read_stat(self._proc_root, pid)
        if raw is None or raw.state in procstat.ENDED:
            self._forget(pid)
            return None
        now = time.monotonic()
        previous = self._previous.get(pid)
        if previous is not None and previous[0] != raw.start_ticks:  # the pid was reused
            self._forget(pid)
            previous = None
        if pid not in self._identity:
            identity = self._read_identity(pid)
            if identity is None:
                return None
            self._identity[pid] = identity
        cpu = None
        fds: int | None
        waited = None
        if previous is None:
            fds, count = procstat.count_fds(self._proc_root, pid), 0
            sched = self._sched(pid, raw.threads, None)
        else:
            _, cpu_s, at, fds, count, before = previous
            if now > at:
                cpu = 100.0 * (raw.cpu_s - cpu_s) / (now - at)
            count = (count + 1) % procstat.FDS_EVERY
            if count == 0:
                fds = procstat.count_fds(self._proc_root, pid)
            sched = self._sched(pid, raw.threads, before if count else None)
            waited = procstat.threads_waited_since(sched, before)
        self._previous[pid] = (raw.start_ticks, raw.cpu_s, now, fds, count, sched)
        io = procstat.read_io(self._proc_root, pid)
        exe, inode, mtime, cmdline, version_env = self._identity[pid]
        return ProcessStat(
            pid=pid,
            name=raw.comm,
            cpu_percent=cpu,
            rss_bytes=raw.rss_bytes,
            threads=raw.threads,
            fds=fds,
            vms_bytes=raw.vms_bytes,
            read_bytes=None if io is None else io[0],
            write_bytes=None if io is None else io[1],
            ctx_switches=procstat.read_ctx_switches(self._proc_root, pid),
            create_time_s=self._boot_time_s + raw.start_ticks / procstat.CLOCK_TICKS,
            exe=exe,
            exe_inode=inode,
            exe_mtime_s=mtime,
            cmdline=cmdline,
            ppid=raw.ppid,
            version_env=version_env,
            waited=waited,
        )

    def _sched(
        self, pid: int, threads: int, known: dict[int, procstat.SchedStat] | None
    ) -> dict[int, procstat.SchedStat]:
        """The scheduler counters of the process's threads: those `known` from the
        previous reading while as many threads run, else listed afresh (a listing of
        `/proc/PID/task`; never for a process of one thread)."""
        if threads == 1:
            tids: Iterable[int] = (pid,)
        elif known is not None and len(known) == threads:
            tids = known
        else:
            tids = procstat.thread_ids(self._proc_root, pid)
        return procstat.read_thread_schedstats(self._proc_root, pid, tids)

    def _read_identity(self, pid: int) -> _Identity | None:
        """What does not change while a process lives, read once (through psutil)."""
        try:
            proc = self._ps.Process(pid)
            exe = _optional(proc.exe) or ""
            cmdline = tuple(_optional(proc.cmdline) or ())
        except _PSUTIL_GONE:
            return None
        except psutil.AccessDenied:
            logger.debug("access denied reading pid %d", pid)
            return None
        return (exe, *_file_identity(exe), cmdline, self._version_env(pid))

    def _due_for_reuse_check(self, pid: int) -> bool:
        count = self._samples_since_check.get(pid, 0) + 1
        self._samples_since_check[pid] = count % self.REUSE_CHECK_EVERY
        return count >= self.REUSE_CHECK_EVERY

    def _sample_one(self, pid: int) -> ProcessStat | None:
        """One process through psutil (other platforms, and fakes)."""
        fresh = pid not in self._handles
        try:
            if fresh:
                self._handles[pid] = self._ps.Process(pid)
            proc = self._handles[pid]
            if not fresh and self._due_for_reuse_check(pid) and not proc.is_running():
                # the pid now belongs to another process
                proc = self._handles[pid] = self._ps.Process(pid)
                fresh = True
            with proc.oneshot():
                if proc.status() == psutil.STATUS_ZOMBIE:
                    raise psutil.ZombieProcess(pid)
                cpu = proc.cpu_percent(interval=None)
                memory = proc.memory_info()
                threads = proc.num_threads()
                name = proc.name()
                created = proc.create_time()
                ppid = proc.ppid()
                fds = _optional(proc.num_fds)
                io = _optional(proc.io_counters)
                ctx = _optional(proc.num_ctx_switches)
                if fresh or pid not in self._identity:
                    exe = _optional(proc.exe) or ""
                    self._identity[pid] = (
                        exe,
                        *_file_identity(exe),
                        tuple(_optional(proc.cmdline) or ()),
                        self._version_env(pid),
                    )
        except _PSUTIL_GONE:
            self._forget(pid)
            return None
        except psutil.AccessDenied:
            logger.debug("access denied reading pid %d", pid)
            return None
        exe, inode, mtime, cmdline, version_env = self._identity[pid]
        return ProcessStat(
            pid=pid,
            name=name,
            cpu_percent=None if fresh else float(cpu),
            rss_bytes=int(memory.rss),
            threads=int(threads),
            fds=fds,
            vms_bytes=int(memory.vms),
            read_bytes=None if io is None else int(io.read_bytes),
            write_bytes=None if io is None else int(io.write_bytes),
            ctx_switches=None if ctx is None else int(ctx.voluntary + ctx.involuntary),
            create_time_s=float(created),
            exe=exe,
            exe_inode=inode,
            exe_mtime_s=mtime,
            cmdline=cmdline,
            ppid=int(ppid),
            version_env=version_env,
        )


def _optional(read: Any) -> Any:
    """One psutil reading that may be denied (another user's process): None then."""
    try:
        return read()
    except psutil.AccessDenied:
        return None


def _file_identity(path: str) -> tuple[int, float]:
    if not path:
        return 0, 0.0
    try:
        st = os.stat(path)
    except OSError:  # deleted after a deploy, or in another mount namespace
        return 0, 0.0
    return st.st_ino, st.st_mtime


def processes_by_pid(pids: Iterable[int], ps: ModuleType = psutil) -> list[ProcessInfo]:
    """Name and command line of the given pids (those still there): cheaper than listing
    every process on the host when services are found by port or pid only."""
    found: list[ProcessInfo] = []
    for pid in set(pids):
        try:
            proc = ps.Process(pid)
            with proc.oneshot():
                zombie = proc.status() == psutil.STATUS_ZOMBIE
                name = proc.name()
                cmdline = () if zombie else tuple(_optional(proc.cmdline) or ())
                cwd = "" if zombie else str(_optional(proc.cwd) or "")
        except _PSUTIL_GONE:
            continue
        except psutil.AccessDenied:
            logger.debug("access denied reading pid %d", pid)
            continue
        found.append(ProcessInfo(pid=pid, name=name, cmdline=cmdline, zombie=zombie, cwd=cwd))
    return found


def list_processes(ps: ModuleType = psutil) -> list[ProcessInfo]:
    """Every readable process on the host with its name and command line."""
    found: list[ProcessInfo] = []
    for proc in ps.process_iter(["pid", "name", "cmdline", "status"]):
        info = proc.info
        found.append(
            ProcessInfo(
                pid=int(info["pid"]),
                name=str(info.get("name") or ""),
                cmdline=tuple(info.get("cmdline") or ()),
                zombie=info.get("status") == psutil.STATUS_ZOMBIE,
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
            if arg in ("-c", "-e", "--eval"):  # inline code: no script to name it after
                return clean_name(f"{process.name}{arg}", MAX_AUTO_NAME_CHARS)
            if arg == "-m" and index + 1 < len(args):
                return clean_name(args[index + 1], MAX_AUTO_NAME_CHARS)
            if arg in ("-jar", "-cp", "-classpath") and index + 1 < len(args):
                continue
            if not arg.startswith("-"):
                base = arg.rsplit("/", 1)[-1]
                name = clean_name(base.rsplit(".", 1)[0] if "." in base else base)
                return clean_name(name, MAX_AUTO_NAME_CHARS) or clean_name(process.name)
    return clean_name(process.name, MAX_AUTO_NAME_CHARS) or f"pid-{process.pid}"


#: Auto-discovered names stay short: they head every line of `what is running?`.
MAX_AUTO_NAME_CHARS = 24


def clean_name(text: str, max_chars: int = 64) -> str:
    """`text` reduced to a valid service name (letters, digits, '.', '_', '-')."""
    return re.sub(r"[^A-Za-z0-9._-]", "-", text)[:max_chars].strip("-.")
