"""What only `/proc` tells: a zombie's exit status, a process's cgroup and environment,
the host's TCP counters.

The `/proc` root is the seam (`ProcFS(Path("/proc"))`; tests pass a directory shaped
like it). Every reader returns None (or empty) when an entry is gone or unreadable:
processes vanish between listing and reading, and another user's entries are closed.
"""

from __future__ import annotations

import contextlib
import logging
import re
import signal
from dataclasses import dataclass
from pathlib import Path

from coral_mcp.agent.collectors.procstat import ENDED

logger = logging.getLogger(__name__)

# /proc/PID/stat: field 52 (1-based) is the exit status in waitpid(2) form (Linux >= 3.5).
_EXIT_CODE_FIELD = 52
# Signals that ask a process to stop (service managers, Ctrl-C): an exit, not a crash.
_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}
_SNMP_TCP_KEYS = {
    "RetransSegs": "tcp_retransmits",
    "AttemptFails": "tcp_attempt_fails",
    "EstabResets": "tcp_estab_resets",
    "OutRsts": "tcp_out_resets",
    "ActiveOpens": "tcp_active_opens",
    "PassiveOpens": "tcp_passive_opens",
    "InErrs": "tcp_in_errors",
}


# Environment variables that name what is deployed: versions, image tags, commits —
# not the toolchain's own (PYTHON_VERSION, PYTEST_VERSION, PIP_DISABLE_PIP_VERSION_CHECK...).
_VERSION_VARIABLE = re.compile(
    rb"^(?!(PYTHON|PYTEST|PIP|NODE|NPM|YARN|JAVA|JDK|GO|GOLANG|RUBY|GEM|BUNDLER|PHP|PERL|DOTNET"
    rb"|ASPNET|MAVEN|GRADLE|RUST|RUSTUP|CARGO|GPG|CLOUD_SDK|DEBIAN|UBUNTU|ALPINE|LANG)_)"
    rb"(?!.*CHECK)"
    rb".*(VERSION|IMAGE|(^|_)TAG$|REVISION|COMMIT|GIT_SHA|BUILD_ID|RELEASE)",
    re.IGNORECASE,
)
_MAX_VERSION_VARIABLES = 8


@dataclass(frozen=True, slots=True)
class ExitStatus:
    """How a process ended: `code` for a normal exit, `signal` when a signal killed it."""

    code: int | None
    signal: int | None
    source: str

    @property
    def failed(self) -> bool:
        """A crash: a non-zero exit code, or a signal other than a polite stop request."""
        if self.signal:
            return self.signal not in _STOP_SIGNALS
        return bool(self.code)

    def describe(self) -> str:
        if self.signal:
            try:
                return f"killed by {signal.Signals(self.signal).name}"
            except ValueError:
                return f"killed by signal {self.signal}"
        return f"exit code {self.code}"

    def attributes(self) -> tuple[tuple[str, str], ...]:
        attrs = [("exit_source", self.source)]
        if self.code is not None:
            attrs.append(("exit_code", str(self.code)))
        if self.signal:
            attrs.append(("signal", str(self.signal)))
            with contextlib.suppress(ValueError):
                attrs.append(("signal_name", signal.Signals(self.signal).name))
        return tuple(attrs)


def exit_status_from_wait(status: int, source: str) -> ExitStatus:
    """Decode a waitpid(2) status word."""
    if status & 0x7F:
        return ExitStatus(code=None, signal=status & 0x7F, source=source)
    return ExitStatus(code=(status >> 8) & 0xFF, signal=None, source=source)


class ProcFS:
    """Reads `/proc` (or a directory shaped like it)."""

    def __init__(self, root: Path = Path("/proc")) -> None:
        self.root = root

    def _read(self, *parts: str) -> str | None:
        path = self.root.joinpath(*parts)
        try:
            return path.read_text(errors="replace")
        except (FileNotFoundError, ProcessLookupError, NotADirectoryError):
            return None
        except OSError as exc:  # PermissionError and kin: logged, then carried on
            logger.debug("cannot read %s: %s", path, exc)
            return None

    def zombie_exit_status(self, pid: int) -> ExitStatus | None:
        """The exit status of a zombie (exited, not yet reaped by its parent), else None."""
        text = self._read(str(pid), "stat")
        if text is None or ")" not in text:
            return None
        fields = text.rsplit(")", 1)[1].split()
        # fields[0] is field 3 (state)
        if not fields or fields[0] not in ENDED or len(fields) < _EXIT_CODE_FIELD - 2:
            return None
        try:
            status = int(fields[_EXIT_CODE_FIELD - 3])
        except ValueError:
            return None
        return exit_status_from_wait(status, "zombie")

    def cgroup_paths(self, pid: int) -> dict[str, str]:
        """Controller (or "" for the cgroup v2 unified hierarchy) -> cgroup path."""
        text = self._read(str(pid), "cgroup")
        found: dict[str, str] = {}
        for line in (text or "").splitlines():
            parts = line.split(":", 2)
            if len(parts) != 3:
                continue
            _, controllers, path = parts
            for controller in controllers.split(",") if controllers else [""]:
                found[controller] = path
        return found

    def systemd_unit(self, pid: int) -> str | None:
        """The systemd unit a process runs in (`nginx.service`), from its cgroup path."""
        paths = self.cgroup_paths(pid)
        for key in ("", "name=systemd"):
            path = paths.get(key, "")
            for part in reversed(path.split("/")):
                if part.endswith(".service") and not part.startswith("user@"):
                    return part
        return None

    def environ_value(self, pid: int, key: str) -> str | None:
        """One variable of a process's environment, or None (absent or unreadable)."""
        path = self.root / str(pid) / "environ"
        try:
            data = path.read_bytes()
        except OSError:
            return None
        prefix = key.encode() + b"="
        for entry in data.split(b"\0"):
            if entry.startswith(prefix):
                return entry[len(prefix) :].decode(errors="replace")
        return None

    def version_environ(self, pid: int) -> tuple[tuple[str, str], ...]:
        """The version-like variables of a process's environment (`APP_VERSION`,
        `IMAGE_TAG`, `GIT_COMMIT`...), sorted; empty when unreadable (another user's)."""
        try:
            data = (self.root / str(pid) / "environ").read_bytes()
        except OSError:
            return ()
        found: list[tuple[str, str]] = []
        for entry in data.split(b"\0"):
            key, sep, value = entry.partition(b"=")
            if sep and _VERSION_VARIABLE.search(key):
                found.append(
                    (key.decode(errors="replace")[:64], value.decode(errors="replace")[:64])
                )
        return tuple(sorted(found)[:_MAX_VERSION_VARIABLES])

    def tcp_counters(self) -> dict[str, float]:
        """Host TCP counters since boot (retransmits, failed attempts, resets...)."""
        text = self._read("net", "snmp")
        if text is None:
            return {}
        lines = [line.split() for line in text.splitlines() if line.startswith("Tcp:")]
        if len(lines) < 2:
            return {}
        header, values = lines[0][1:], lines[1][1:]
        counters: dict[str, float] = {}
        for key, value in zip(header, values, strict=False):
            name = _SNMP_TCP_KEYS.get(key)
            if name is not None:
                try:
                    counters[name] = float(value)
                except ValueError:
                    logger.warning("unreadable /proc/net/snmp value %s=%r", key, value)
        return counters
