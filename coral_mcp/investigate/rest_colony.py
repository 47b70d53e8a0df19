"""The builtin provider's door to the colony: its REST API, the same documents as the
MCP tools. Lighter than an MCP session (no MCP SDK to import: that alone costs more
than the whole answer), so `coral ask` answers offline in well under a second.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

import httpx2

from coral_mcp.errors import ColonyUnreachableError, QueryError

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


def query(arguments: dict[str, Any]) -> dict[str, str]:
    out = {}
    for key, value in arguments.items():
        if value is None:
            continue
        out[key] = ",".join(value) if isinstance(value, list) else str(value)
    return out


class RestColony:
    """`async with RestColony(url, token) as colony: await colony.call("investigate", {...})`."""

    def __init__(self, url: str, token: str | None = None, timeout_s: float = 30.0) -> None:
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        # Plain http needs no certificates: loading the CA bundle costs ~0.2 s of startup.
        verify = self.url.startswith("https://")
        self._http = httpx2.AsyncClient(headers=headers, timeout=timeout_s, verify=verify)

    async def __aenter__(self) -> RestColony:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._http.aclose()

    async def call(self, tool: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        url = self.url + API + ROUTES[tool]
        try:
            response = await self._http.get(url, params=query(arguments or {}))
        except httpx2.TransportError as exc:
            raise unreachable(self.url, exc) from None
        return reply(response, self.url, f"{tool}: ")


def unreachable(colony_url: str, exc: Exception) -> ColonyUnreachableError:
    return ColonyUnreachableError(
        f"cannot reach the colony at {colony_url} ({type(exc).__name__})",
        hint="is `coral colony start` or `coral up` running? check --colony",
    )


def reply(response: httpx2.Response, colony_url: str, prefix: str = "") -> dict[str, Any]:
    """A colony REST answer as a dict; refusals and errors as CoralErrors, one line each."""
    if response.status_code == 401:
        raise ColonyUnreachableError(
            f"the colony at {colony_url} refused the token",
            hint="pass --token (see `coral colony token show --mcp` on the colony's host)",
        )
    try:
        body = response.json()
    except ValueError:
        raise ColonyUnreachableError(
            f"{response.request.url} did not answer with JSON (HTTP {response.status_code})",
            hint="check that --colony points at a Coral colony's HTTP port",
        ) from None
    if response.status_code >= 400:
        raise QueryError(f"{prefix}{body.get('error')}", hint=body.get("hint"))
    return dict(body)
