"""Child processes that never outlive the demo.

Every child runs in its own session (so the terminal's Ctrl-C reaches only the demo,
which then stops them in order), with its working directory inside the demo's temporary
directory, its output in a log file there, and a parent-death signal (Linux
`PR_SET_PDEATHSIG`) as the last safety net should the demo itself be killed. A child may
run as another user (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

logger = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
#: Held back while a child is started, so that a Ctrl-C cannot leave it unrecorded.
_DEFERRED = {signal.SIGINT, signal.SIGTERM}


def _child_setup(uid: int | None, gid: int | None) -> Callable[[], None]:
    def setup() -> None:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _DEFERRED)
        if gid is not None:
            os.setgroups([])
            os.setgid(gid)
        if uid is not None:
            os.setuid(uid)
        # After setuid: a change of credentials clears the parent-death signal.
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    return setup


class Children:
    """Starts, restarts and stops the demo's processes; `stop_all` leaves none behind."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()

    def start(
        self,
        name: str,
        cmd: Sequence[str],
        env: dict[str, str] | None = None,
        uid: int | None = None,
        gid: int | None = None,
        cwd: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start `cmd` as `name` (a name already running is stopped first)."""
        self.stop(name)
        full_env = dict(os.environ)
        full_env.update(env or {})
        full_env["PYTHONUNBUFFERED"] = "1"
        with (
            open(self.logs / f"{name}.log", "ab") as out,
            self._lock,
            _deferred_signals(),
        ):
            proc = subprocess.Popen(
                list(cmd),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=full_env,
                cwd=cwd or self.workdir,
                start_new_session=True,
                preexec_fn=_child_setup(uid, gid),  # noqa: PLW1509 - pdeathsig needs it
            )
            self._procs[name] = proc
        logger.debug("started %s (pid %d): %s", name, proc.pid, " ".join(cmd))
        return proc

    def get(self, name: str) -> subprocess.Popen[bytes] | None:
        with self._lock:
            return self._procs.get(name)

    def log_tail(self, name: str, max_bytes: int = 2000) -> str:
        path = self.logs / f"{name}.log"
        if not path.exists():
            return ""
        data = path.read_bytes()[-max_bytes:]
        return data.decode(errors="replace")

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout_s: float = 10.0) -> None:
        """Signal `name` and wait for it to end (SIGKILL after timeout_s)."""
        with self._lock:
            proc = self._procs.pop(name, None)
        if proc is not None:
            _end(proc, sig, timeout_s)

    def stop_many(self, names: list[str], timeout_s: float = 10.0) -> None:
        """Signal all of `names` at once, then wait for each."""
        with self._lock:
            procs = [p for n in names if (p := self._procs.pop(n, None)) is not None]
        _end_all(procs, timeout_s)

    def stop_all(self, timeout_s: float = 10.0) -> None:
        """Stop every child, newest first (load before services before stores)."""
        with self._lock:
            procs = list(reversed(self._procs.values()))
            self._procs.clear()
        _end_all(procs, timeout_s)


@contextlib.contextmanager
def _deferred_signals() -> Iterator[None]:
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _DEFERRED)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _end_all(procs: list[subprocess.Popen[bytes]], timeout_s: float) -> None:
    for proc in procs:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
    for proc in procs:
        _end(proc, signal.SIGTERM, timeout_s)


def _end(proc: subprocess.Popen[bytes], sig: int, timeout_s: float) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
