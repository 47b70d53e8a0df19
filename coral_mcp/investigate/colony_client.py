"""Calls a colony's MCP tools over streamable HTTP with the official MCP client.

Connection failures become ColonyUnreachableError naming the URL; tool errors become
QueryError with the tool's own message.
"""

from __future__ import annotations

import contextlib
from types import TracebackType
from typing import Any

import httpx2
import mcp
from mcp.client.streamable_http import streamable_http_client
from mcp_types import TextContent

from coral_mcp.errors import ColonyUnreachableError, QueryError

MCP_SUFFIX = "/mcp"


def mcp_url(colony_url: str) -> str:
    """`http://host:port` (or one already ending in /mcp) -> the MCP endpoint."""
    url = colony_url.rstrip("/")
    if not url.startswith(("http://", "https://")):
        url = "http://" + url
    return url if url.endswith(MCP_SUFFIX) else url + MCP_SUFFIX


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for sub in exc.exceptions for leaf in _leaves(sub)]
    return [exc]


def translate(exc: BaseException, url: str) -> ColonyUnreachableError:
    leaves = _leaves(exc)
    for leaf in leaves:
        if isinstance(leaf, httpx2.HTTPStatusError) and leaf.response.status_code == 401:
            return ColonyUnreachableError(
                f"the colony at {url} refused the request (401 unauthorized)",
                hint="pass --token (see `coral colony token show --mcp` on the colony's host)",
            )
        if isinstance(leaf, httpx2.TransportError):
            return ColonyUnreachableError(
                f"cannot reach the colony at {url} ({type(leaf).__name__})",
                hint="is `coral colony start` or `coral up` running? check --colony",
            )
    return ColonyUnreachableError(
        f"the colony at {url} did not answer MCP: {leaves[0]}",
        hint="check that --colony points at a Coral colony's HTTP port",
    )


class ColonyClient:
    """`async with ColonyClient(url) as colony: await colony.call("list_services")`."""

    def __init__(self, colony_url: str, token: str | None = None) -> None:
        self.url = mcp_url(colony_url)
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._stack = contextlib.AsyncExitStack()
        self._client: mcp.Client | None = None

    async def __aenter__(self) -> ColonyClient:
        try:
            http = await self._stack.enter_async_context(httpx2.AsyncClient(headers=self._headers))
            transport = streamable_http_client(self.url, http_client=http)
            self._client = await self._stack.enter_async_context(mcp.Client(transport))
        except Exception as exc:
            await self._stack.aclose()
            raise translate(exc, self.url) from None
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with contextlib.suppress(Exception):
            await self._stack.aclose()

    @property
    def session(self) -> mcp.Client:
        """The MCP client itself, for the ask loop's tool bridge."""
        assert self._client is not None, "use ColonyClient in `async with`"
        return self._client

    async def call(self, tool: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        """Call a tool; return its structured result."""
        assert self._client is not None, "use ColonyClient in `async with`"
        try:
            result = await self._client.call_tool(tool, arguments or {})
        except Exception as exc:
            raise translate(exc, self.url) from None
        if result.is_error:
            text = " ".join(c.text for c in result.content if isinstance(c, TextContent))
            raise QueryError(text or f"{tool} failed")
        if result.structured_content is None:
            raise QueryError(f"{tool} returned no structured result")
        return dict(result.structured_content)
