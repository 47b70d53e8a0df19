"""The SDK's local endpoint: HTTP/1.0 on a Unix socket, served by one daemon thread.

See `coral_mcp.sdk.protocol` for where the socket lives and why. The socket is
world-connectable (mode 0666) so an agent running as its own user finds it; what it
tells is the service's name, version, build and component health, and how often it
evaluates checks is capped by the components' `min_interval_s`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socketserver
import stat
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from coral_mcp.sdk.protocol import INFO_PATH, SOCKET_DIR, socket_name

logger = logging.getLogger(__name__)

Document = Callable[[], dict[str, object]]


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, path: str, document: Document) -> None:
        self.document = document
        super().__init__(path, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 5.0  # a client that sends nothing does not keep a thread forever
    server_version = "coral-sdk"

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] != INFO_PATH:
            self._reply(404, {"error": f"not found; ask GET {INFO_PATH}"})
            return
        try:
            document = self.server.document()
        except Exception as exc:  # never take the application down with us
            logger.exception("coral sdk: building the info document failed")
            self._reply(500, {"error": f"{type(exc).__name__}: {exc}"})
            return
        self._reply(200, document)

    def _reply(self, status: int, body: dict[str, object]) -> None:
        data = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def address_string(self) -> str:
        return "local"

    def log_message(self, format: str, *args: object) -> None:
        logger.debug("coral sdk: " + format, *args)


class Endpoint:
    """The listening socket of this process and the thread that answers on it."""

    def __init__(self, document: Document, directory: Path = SOCKET_DIR) -> None:
        self.path = directory / socket_name(os.getpid())
        self._pid = os.getpid()
        _clear_stale(self.path)
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


def _clear_stale(path: Path) -> None:
    """Remove a socket left by an earlier process with our pid; refuse anyone else's."""
    try:
        found = path.lstat()
    except FileNotFoundError:
        return
    if found.st_uid != os.getuid() or not stat.S_ISSOCK(found.st_mode):
        raise PermissionError(f"{path} exists and is not a socket of this user")
    path.unlink()
