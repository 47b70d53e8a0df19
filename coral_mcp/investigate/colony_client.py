"""Calls a colony's MCP tools over streamable HTTP with the official MCP client.

Connection failures become ColonyUnreachableError naming the URL; tool errors become
QueryError with the tool's own message. A result is read from its structured content,
else from its text (Coral's tools send each result once, as compact JSON text).
"""

from __future__ import annotations

import contextlib
import json
from types import TracebackType
from typing import Any

import httpx2
import mcp
from mcp.client.streamable_http import streamable_http_client
from mcp_types import TextContent

from coral_mcp.errors import ColonyUnreachableError, QueryError, TokenRefusedError

MCP_SUFFIX = "/mcp"
#: The MCP SDK's own HTTP timeouts (its create_mcp_http_client): 30 s, and 300 s to read,
#: since a tool may take longer than httpx2's default 5 s on a busy colony (with 5 s,
#: calls forwarded by `coral-mcp serve` went unanswered on a loaded machine).
TIMEOUT = httpx2.Timeout(30.0, read=300.0)


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


def translate(exc: BaseException, named: str, refused: bool = False) -> ColonyUnreachableError:
    """The error a person can act on, naming the colony as `named` says ("the colony at
    URL (why)"); `refused`: an HTTP 401 was seen on the way."""
    leaves = _leaves(exc)
    if refused or any(
        isinstance(leaf, httpx2.HTTPStatusError) and leaf.response.status_code == 401
        for leaf in leaves
    ):
        return TokenRefusedError(
            f"{named} answered 401 Unauthorized",
            hint="pass its token with --token (`coral colony token show --mcp` on its host)",
        )
    for leaf in leaves:
        if isinstance(leaf, httpx2.TransportError):
            return ColonyUnreachableError(
                f"cannot reach {named}: {type(leaf).__name__}",
                hint="is `coral colony start` or `coral up` running? check --colony",
            )
    return ColonyUnreachableError(
        f"{named} did not answer MCP: {leaves[0]}",
        hint="check that --colony points at a Coral colony's HTTP port",
    )


class ColonyClient:
    """`async with ColonyClient(url) as colony: await colony.call("list_services")`."""

    def __init__(self, colony_url: str, token: str | None = None, named: str = "") -> None:
        self.url = mcp_url(colony_url)
        #: How errors name this colony, e.g. "the colony at URL (running on data dir D)".
        self.named = named or f"the colony at {self.url}"
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._stack = contextlib.AsyncExitStack()
        self._client: mcp.Client | None = None
        # The MCP client reports an HTTP 401 as a generic JSON-RPC error; note it here.
        self._refused = False

    async def _note_status(self, response: httpx2.Response) -> None:
        if response.status_code == 401:
            self._refused = True

    async def __aenter__(self) -> ColonyClient:
        try:
            http = await self._stack.enter_async_context(
                httpx2.AsyncClient(
                    headers=self._headers,
                    timeout=TIMEOUT,
                    event_hooks={"response": [self._note_status]},
                )
            )
            transport = streamable_http_client(self.url, http_client=http)
            self._client = await self._stack.enter_async_context(mcp.Client(transport))
        except Exception as exc:
            await self._stack.aclose()
            raise translate(exc, self.named, self._refused) from None
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
            raise translate(exc, self.named, self._refused) from None
        text = " ".join(c.text for c in result.content if isinstance(c, TextContent))
        if result.is_error:
            raise QueryError(text or f"{tool} failed")
        if result.structured_content is not None:
            return dict(result.structured_content)
        try:  # Coral's tools answer once, as compact JSON text (docs/mcp.md says why)
            document = json.loads(text)
        except ValueError:
            raise QueryError(f"{tool} returned no JSON document") from None
        if not isinstance(document, dict):
            raise QueryError(f"{tool} returned no JSON object")
        return document
