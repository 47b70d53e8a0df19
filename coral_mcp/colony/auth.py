"""The colony's HTTP bearer token: made once per data dir, kept 0600, checked on every
MCP and REST request (not on /healthz). Dashboard pages are let in by the dashboard's
own session gate instead.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from coral_mcp.datadir import read_token_file
from coral_mcp.errors import DataDirError

if TYPE_CHECKING:
    from coral_mcp.dashboard.app import Dashboard

TOKEN_FILE = "mcp.token"
OPEN_PATHS = frozenset({"/healthz"})

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def load_or_create_token(data_dir: Path) -> str:
    """The token in `data_dir/mcp.token`, creating it (0600, atomically) if missing."""
    path = data_dir / TOKEN_FILE
    try:
        token = path.read_text().strip()
        if token:
            return token
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise DataDirError(f"cannot read {path}: {exc.strerror}") from None
    token = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
    tmp = path.with_suffix(".tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(token + "\n")
        os.replace(tmp, path)
    except OSError as exc:
        raise DataDirError(f"cannot write {path}: {exc.strerror}") from None
    return token


def read_token(data_dir: Path) -> str | None:
    """The token kept in `data_dir`, if there is one."""
    return read_token_file(data_dir / TOKEN_FILE)


def compare_digest(a: bytes, b: bytes) -> bool:
    """Constant-time comparison. hmac is imported here, not at module level: it loads
    OpenSSL's libcrypto, which the agent (reading only the token file) must not carry."""
    import hmac  # noqa: PLC0415

    return hmac.compare_digest(a, b)


class BearerAuth:
    """ASGI middleware: HTTP requests need `Authorization: Bearer <token>` (401 otherwise);
    with a `dashboard`, its pages need its session instead (401 and the login form)."""

    def __init__(self, app: ASGIApp, token: str, dashboard: Dashboard | None = None) -> None:
        self._app = app
        self._expected = f"Bearer {token}".encode()
        self._dashboard = dashboard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self._app(scope, receive, send)
            return
        board = self._dashboard
        if board is not None and board.is_page(scope["path"]):
            if board.admits(scope):
                await self._app(scope, receive, send)
            else:
                await board.refusal()(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(b"authorization", b"")
        if compare_digest(given, self._expected):
            await self._app(scope, receive, send)
            return
        body = (
            b'{"error": "missing or wrong bearer token", "hint": "coral colony token show --mcp"}'
        )
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"www-authenticate", b'Bearer realm="coral"'),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
