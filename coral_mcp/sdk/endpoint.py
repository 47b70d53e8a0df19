"""The SDK's local endpoint: HTTP/1.0 on a Unix socket, served by one daemon thread.

See `coral_mcp.sdk.protocol` for where the socket lives and why. The socket is
world-connectable (mode 0666) so an agent running as its own user finds it; what it
tells is the service's name, version, build and component health, and how often it
evaluates checks is capped by the components' `min_interval_s`.

HTTP is spoken by hand (one GET, answered and closed) rather than with `http.server`,
which would load `http.client`, `email` and `ssl` into the application: ~8 MiB.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import socketserver
import stat
import threading
from collections.abc import Callable
from pathlib import Path

from coral_mcp.sdk.protocol import (
    INFO_PATH,
    SOCKET_DIR,
    SOCKET_PATTERN,
    socket_name,
    socket_pid,
)

logger = logging.getLogger(__name__)

Document = Callable[[], dict[str, object]]

_MAX_REQUEST_BYTES = 8192
_REQUEST_TIMEOUT_S = 5.0  # a client that sends nothing does not keep a thread forever
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 500: "Internal Server Error"}


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, path: str, document: Document) -> None:
        self.document = document
        super().__init__(path, _Handler)


class _Handler(socketserver.BaseRequestHandler):
    server: _Server
    request: socket.socket

    def handle(self) -> None:
        self.request.settimeout(_REQUEST_TIMEOUT_S)
        try:
            head = self._read_head()
        except OSError:
            return
        status, body = self._answer(head)
        data = json.dumps(body, separators=(",", ":")).encode()
        reply = (
            f"HTTP/1.0 {status} {_REASONS[status]}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
        ).encode()
        with contextlib.suppress(OSError):
            self.request.sendall(reply + data)

    def _read_head(self) -> bytes:
        received = b""
        while b"\r\n\r\n" not in received and len(received) < _MAX_REQUEST_BYTES:
            chunk = self.request.recv(4096)
            if not chunk:
                break
            received += chunk
        return received

    def _answer(self, head: bytes) -> tuple[int, dict[str, object]]:
        parts = head.split(b"\r\n", 1)[0].split()
        if len(parts) != 3 or parts[0] != b"GET":
            return 400, {"error": f"one request exists: GET {INFO_PATH}"}
        if parts[1].split(b"?", 1)[0] != INFO_PATH.encode():
            return 404, {"error": f"not found; ask GET {INFO_PATH}"}
        try:
            return 200, self.server.document()
        except Exception as exc:  # never take the application down with us
            logger.exception("coral sdk: building the info document failed")
            return 500, {"error": f"{type(exc).__name__}: {exc}"}


class Endpoint:
    """The listening socket of this process and the thread that answers on it."""

    def __init__(self, document: Document, directory: Path = SOCKET_DIR) -> None:
        self.path = directory / socket_name(os.getpid())
        self._pid = os.getpid()
        _clear_stale(self.path)
        _sweep(directory, self.path)
        self._server = _Server(str(self.path), document)
        os.chmod(self.path, 0o666)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.5},
            name="coral-sdk-endpoint",
            daemon=True,
        )
        self._thread.start()

    def close(self) -> None:
        """Stop answering and remove the socket (only the process that made it does)."""
        if os.getpid() != self._pid:
            self.abandon()
            return
        self._server.shutdown()
        self._server.server_close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def abandon(self) -> None:
        """In a forked child: close the inherited socket, leave the parent's file alone."""
        self._server.socket.close()


def _sweep(directory: Path, own: Path) -> None:
    """Remove the sockets of this user's processes that ended without removing theirs
    (killed, or stopped by a signal the application does not handle): no process of
    that pid lives here and nobody answers on it. One that answers stays, whatever its
    pid says (another pid namespace may share this directory); so does one whose process
    lives (it may be between making its socket and listening on it)."""
    for path in directory.glob(SOCKET_PATTERN):
        found = _lstat(path)
        if path == own or found is None or not _ours(found) or _alive(path.name):
            continue
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(1.0)
            try:
                probe.connect(str(path))
            except ConnectionRefusedError:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            except OSError:
                continue


def _alive(name: str) -> bool:
    pid = socket_pid(name)
    if pid is None:
        return True  # not a name the SDK makes: leave it alone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # someone else's process
    return True


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return path.lstat()
    except FileNotFoundError:
        return None


def _ours(found: os.stat_result) -> bool:
    """A socket of this user."""
    return found.st_uid == os.getuid() and stat.S_ISSOCK(found.st_mode)


def _clear_stale(path: Path) -> None:
    """Remove a socket left by an earlier process with our pid; refuse anyone else's."""
    found = _lstat(path)
    if found is None:
        return
    if not _ours(found):
        raise PermissionError(f"{path} exists and is not a socket of this user")
    path.unlink()
