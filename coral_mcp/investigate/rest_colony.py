"""The builtin provider's door to the colony: its REST API (the same documents as the
MCP tools), over one keep-alive connection of the standard library's `http.client`.

Chosen for start-up, which is most of a builtin answer: the MCP SDK alone costs more to
import than the whole answer takes, and httpx2 (with httpcore2, anyio and h11) about
0.2 s of a fresh process. Requests here are small JSON documents, one at a time, on
loopback or a LAN, so nothing of a full client (pools, HTTP/2, streams) is missed.
What comes back is untrusted: bounded in size, and JSON objects only.
"""

from __future__ import annotations

import asyncio
import http.client
import json
from types import TracebackType
from typing import Any
from urllib.parse import urlencode, urlsplit

from coral_mcp.errors import ColonyUnreachableError, QueryError, TokenRefusedError

API = "/api/v1"
#: tool name -> REST path (the routes answer with the tool's own result model).
ROUTES = {
    "list_services": "/services",
    "get_service": "/service",
    "get_topology": "/topology",
    "get_events": "/events",
    "investigate": "/investigate",
    "find_anomalies": "/anomalies",
}
#: Largest answer read from a colony (a builtin answer's documents are a few KB).
MAX_ANSWER_BYTES = 16 * 1024 * 1024
#: Lost connections that a GET on a reused keep-alive connection retries once.
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


def query(arguments: dict[str, Any]) -> dict[str, str]:
    out = {}
    for key, value in arguments.items():
        if value is None:
            continue
        if isinstance(value, list):
            out[key] = ",".join(value)
        else:
            out[key] = str(value).lower() if isinstance(value, bool) else str(value)
    return out


def unreachable(named: str, exc: BaseException) -> ColonyUnreachableError:
    """`named` says which colony and why, e.g. "the colony at URL (given by --colony)"."""
    return ColonyUnreachableError(
        f"cannot reach {named}: {type(exc).__name__}",
        hint="is `coral colony start` or `coral up` running? check --colony",
    )


class ColonyHttp:
    """Blocking JSON requests to one colony: `status, doc = http.request("GET", path)`.

    Transport failures raise ColonyUnreachableError naming the colony; an answer that
    is not a JSON object, or is too large, too. HTTP error statuses are returned, for the
    caller to word."""

    def __init__(
        self, url: str, headers: dict[str, str], timeout_s: float = 30.0, named: str = ""
    ) -> None:
        self.url = url.rstrip("/")
        self.named = named or f"the colony at {self.url}"
        parts = urlsplit(self.url)
        self._prefix = parts.path
        self._headers = {"Accept": "application/json", **headers}
        try:
            port = parts.port
        except ValueError as exc:
            raise unreachable(self.named, exc) from None
        if parts.scheme == "https":
            import ssl  # noqa: PLC0415 - only for https: loading CA certificates costs ~0.2 s

            context = ssl.create_default_context()
            self._conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                parts.hostname or "", port, timeout=timeout_s, context=context
            )
        else:
            self._conn = http.client.HTTPConnection(parts.hostname or "", port, timeout=timeout_s)
        self._used = False

    def close(self) -> None:
        self._conn.close()

    def request(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None = None,
        doc: dict[str, Any] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        target = self._prefix + path + (f"?{urlencode(params)}" if params else "")
        body = None if doc is None else json.dumps(doc).encode()
        headers = (
            self._headers if body is None else {**self._headers, "Content-Type": "application/json"}
        )
        for attempt in (1, 2):
            reused = self._used
            try:
                self._conn.request(method, target, body=body, headers=headers)
                response = self._conn.getresponse()
                data = response.read(MAX_ANSWER_BYTES + 1)
                self._used = True
                break
            except _STALE as exc:
                self._conn.close()
                if not (reused and method == "GET" and attempt == 1):
                    raise unreachable(self.named, exc) from None
                self._used = False
            except (OSError, http.client.HTTPException) as exc:
                self._conn.close()
                raise unreachable(self.named, exc) from None
        if len(data) > MAX_ANSWER_BYTES:
            self._conn.close()
            raise ColonyUnreachableError(
                f"{self.url}{target} answered more than {MAX_ANSWER_BYTES // 2**20} MiB",
                hint="check that --colony points at a Coral colony's HTTP port",
            )
        return response.status, self._object(data, target, response.status)

    def _object(self, data: bytes, target: str, status: int) -> dict[str, Any]:
        try:
            doc = json.loads(data)
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            raise ColonyUnreachableError(
                f"{self.url}{target} did not answer with a JSON object (HTTP {status})",
                hint="check that --colony points at a Coral colony's HTTP port",
            )
        return doc


class RestColony:
    """`async with RestColony(url, token) as colony: await colony.call("investigate", {...})`."""

    def __init__(
        self, url: str, token: str | None = None, named: str = "", timeout_s: float = 30.0
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = ColonyHttp(url, headers, timeout_s, named)
        self.url = self._http.url
        #: How errors name this colony, e.g. "the colony at URL (given by --colony)".
        self.named = self._http.named

    async def __aenter__(self) -> RestColony:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._http.close()

    async def call(self, tool: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        status, doc = await asyncio.to_thread(
            self._http.request, "GET", API + ROUTES[tool], query(arguments or {})
        )
        if status == 401:
            raise TokenRefusedError(
                f"the colony at {self.url} refused the token",
                hint="pass --token (see `coral colony token show --mcp` on the colony's host)",
            )
        if status >= 400:
            raise QueryError(f"{tool}: {doc.get('error')}", hint=doc.get("hint"))
        return doc
