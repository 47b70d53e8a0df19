"""Reads what an SDK'd process says about itself: name, version, build, components.

For a watched pid the SDK's socket is `/proc/<pid>/root/tmp/coral-sdk-<nspid>.sock`
(`coral_mcp.sdk.protocol`): through `/proc/<pid>/root` the agent sees the process's
own filesystem (its container, its private /tmp), and `<nspid>` is the pid the process
knows itself by (the last `NSpid` in /proc/<pid>/status). A socket is only trusted when
it belongs to the process's user. The answer is untrusted input: bounded in size and
time, checked field by field, and anything malformed is logged and dropped.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from coral_mcp.sdk.protocol import INFO_PATH, MAX_INFO_BYTES, SOCKET_DIR, socket_name

logger = logging.getLogger(__name__)

_MAX_TEXT = 200
_MAX_ITEMS = 64


@dataclass(frozen=True, slots=True)
class ComponentHealth:
    name: str
    healthy: bool
    detail: str
    latency_ms: float


@dataclass(frozen=True, slots=True)
class SdkInfo:
    """One answer of a service's SDK."""

    pid: int
    service: str
    version: str | None
    build: tuple[tuple[str, str], ...]
    endpoints: tuple[tuple[str, str], ...]
    components: tuple[ComponentHealth, ...]


class SdkProbe:
    """Finds and asks the SDK endpoint of a process; `proc_root` is the seam."""

    def __init__(self, proc_root: Path = Path("/proc"), timeout_s: float = 3.0) -> None:
        self._proc = proc_root
        self._socket_dir = SOCKET_DIR.as_posix().rstrip("/")
        self.timeout_s = timeout_s
        self._nspid: dict[int, int] = {}

    def socket_of(self, pid: int) -> Path | None:
        """The SDK socket of `pid` when it has one that its own user made."""
        nspid = self._nspid.get(pid)
        if nspid is None:
            nspid = self._nspid[pid] = self._own_pid(pid)
        # Plain strings, not pathlib: asked for every watched process (once a minute
        # where absent), and pathlib's joins cost more than the stat itself.
        path = f"{self._proc}/{pid}/root{self._socket_dir}/{socket_name(nspid)}"
        try:
            found = os.stat(path)
            owner = os.stat(f"{self._proc}/{pid}").st_uid
        except OSError:  # none, gone, or not ours to see
            return None
        return Path(path) if found.st_uid == owner else None

    def retain(self, pids: set[int]) -> None:
        """Forget pids no longer watched (a pid number may come back as another process)."""
        for pid in set(self._nspid) - pids:
            del self._nspid[pid]

    def read(self, pid: int) -> SdkInfo | None:
        path = self.socket_of(pid)
        if path is None:
            return None
        try:
            body = _get(path, self.timeout_s)
            return parse_info(pid, json.loads(body))
        except (OSError, ValueError) as exc:
            logger.debug("sdk endpoint of pid %d unreadable: %s", pid, exc)
            return None

    def service_name(self, pid: int) -> str | None:
        """The service name `pid`'s SDK reports (None without an SDK that answers)."""
        info = self.read(pid)
        return info.service if info is not None else None

    def _own_pid(self, pid: int) -> int:
        """The pid as the process sees it (inside its pid namespace)."""
        try:
            text = (self._proc / str(pid) / "status").read_text()
        except OSError:
            return pid
        for line in text.splitlines():
            if line.startswith("NSpid:"):
                fields = line.split()[1:]
                if fields and fields[-1].isdigit():
                    return int(fields[-1])
        return pid


def _get(path: Path, timeout_s: float) -> bytes:
    """GET INFO_PATH over the Unix socket at `path` (HTTP/1.0); the body of a 200."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout_s)
        sock.connect(os.fspath(path))
        sock.sendall(f"GET {INFO_PATH} HTTP/1.0\r\nHost: coral-sdk\r\n\r\n".encode())
        limit = MAX_INFO_BYTES + 4096
        chunks: list[bytes] = []
        received = 0
        while received <= limit:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
            received += len(chunk)
    if received > limit:
        raise ValueError(f"answer larger than {MAX_INFO_BYTES} bytes")
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].split()
    if len(status) < 2 or status[1] != b"200":
        raise ValueError(f"answered {head[:80]!r}")
    return body


def parse_info(pid: int, doc: object) -> SdkInfo:
    """Check an info document field by field; ValueError names what is wrong."""
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    service = doc.get("service")
    if not isinstance(service, str) or not service:
        raise ValueError("no service name")
    version = doc.get("version")
    if version is not None and not isinstance(version, str):
        raise ValueError("version is not text")
    components = doc.get("components") or {}
    if not isinstance(components, dict):
        raise ValueError("components is not an object")
    health: list[ComponentHealth] = []
    for name, result in list(components.items())[:_MAX_ITEMS]:
        if not isinstance(result, dict) or not isinstance(result.get("healthy"), bool):
            raise ValueError(f"component {name[:_MAX_TEXT]!r} has no healthy verdict")
        latency = result.get("latency_ms")
        health.append(
            ComponentHealth(
                name=name[:_MAX_TEXT],
                healthy=result["healthy"],
                detail=str(result.get("detail") or "")[:_MAX_TEXT],
                latency_ms=_number(latency),
            )
        )
    return SdkInfo(
        pid=pid,
        service=service[:_MAX_TEXT],
        version=version[:_MAX_TEXT] if version else None,
        build=_pairs(doc.get("build")),
        endpoints=_pairs(doc.get("endpoints")),
        components=tuple(sorted(health, key=lambda c: c.name)),
    )


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    try:
        return float(value)
    except OverflowError:  # an integer beyond any float
        return 0.0


def _pairs(value: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict):
        return ()
    return tuple(
        sorted(
            (str(k)[:_MAX_TEXT], str(v)[:_MAX_TEXT])
            for k, v in list(value.items())[:_MAX_ITEMS]
            if isinstance(v, str | int | float)
        )
    )
