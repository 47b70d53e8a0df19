"""Coral as an MCP client: the colony's tools and external servers' tools, for the loop.

External servers come from the config in Claude Desktop's `mcpServers` shape. Their
tools join the loop namespaced by server (`sentry__search_issues`) and renamed where a
provider would refuse the name. Only tools that say they are read-only (the MCP
`readOnlyHint`), or that the operator lists in `read_only_tools`, are offered: nothing
the loop can reach changes anything. A server that fails to start, to answer or to
list its tools is reported and skipped; the question is still answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx2
import mcp
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult, TextContent, Tool

from coral_mcp.investigate.ask_settings import McpServerSpec
from coral_mcp.investigate.conversation import (
    ToolCall,
    ToolOutcome,
    ToolSpec,
    namespaced,
    provider_name,
)

logger = logging.getLogger(__name__)

CORAL = "coral"
#: Most tools taken from one external server.
MAX_TOOLS_PER_SERVER = 64


@dataclass(frozen=True, slots=True)
class Skipped:
    server: str
    reason: str


def is_read_only(tool: Tool, vouched: Sequence[str] = ()) -> bool:
    hinted = tool.annotations is not None and tool.annotations.read_only_hint is True
    return hinted or tool.name in vouched


def specs_for(
    server: str, tools: Sequence[Tool], taken: set[str], vouched: Sequence[str] = ()
) -> tuple[list[ToolSpec], int]:
    """The read-only `tools` as the model sees them, and how many were left out."""
    specs = []
    for tool in tools:
        if not is_read_only(tool, vouched):
            continue
        wanted = tool.name if server == CORAL else namespaced(server, tool.name)
        name = provider_name(wanted, taken)
        taken.add(name)
        description = tool.description or tool.name
        if server != CORAL:
            description = f"[{server}] {description}"
        specs.append(ToolSpec(name, description[:1024], tool.input_schema, server, tool.name))
    return specs[:MAX_TOOLS_PER_SERVER], len(tools) - len(specs[:MAX_TOOLS_PER_SERVER])


def result_text(result: CallToolResult) -> str:
    """A tool result as text for the model: structured content as JSON, else the text."""
    if result.structured_content is not None and not result.is_error:
        return json.dumps(result.structured_content, separators=(",", ":"), default=str)
    texts = [c.text for c in result.content if isinstance(c, TextContent)]
    return "\n".join(texts) or ("(error without a message)" if result.is_error else "(empty)")


def cap(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = len(text) - limit
    return (
        text[:limit] + f"\n[cut: {cut} more characters. Ask for less (a service, a shorter"
        " range, a smaller limit) to see them.]"
    )


@dataclass(slots=True)
class Toolbox:
    """Every tool the loop may call, and the MCP clients that run them."""

    clients: dict[str, mcp.Client]
    specs: list[ToolSpec]
    max_output_chars: int
    skipped: list[Skipped] = field(default_factory=list)

    async def run(self, call: ToolCall, timeout_s: float) -> ToolOutcome:
        spec = next((s for s in self.specs if s.name == call.name), None)
        if spec is None or call.arguments is None:
            return ToolOutcome(call.id, call.name, f"no tool {call.name!r}", is_error=True)
        try:
            async with asyncio.timeout(timeout_s):
                result = await self.clients[spec.server].call_tool(spec.remote_name, call.arguments)
        except TimeoutError:
            text, is_error = f"{call.name} did not answer within {timeout_s:.0f} s", True
        except Exception as exc:  # an MCP server is untrusted input: report, keep going
            text, is_error = f"{call.name} failed: {first_leaf(exc)}", True
        else:
            text, is_error = result_text(result), result.is_error
        return ToolOutcome(call.id, call.name, cap(text, self.max_output_chars), is_error)


def first_leaf(exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"[:300]


async def list_all_tools(client: mcp.Client) -> list[Tool]:
    tools: list[Tool] = []
    cursor: str | None = None
    for _ in range(20):  # pages, bounded
        page = await client.list_tools(cursor=cursor)
        tools += page.tools
        cursor = page.next_cursor
        if not cursor:
            break
    return tools


class ExternalServers:
    """`async with ExternalServers(specs) as ext:` starts and lists each server in turn;
    `ext.clients`, `ext.tools`, `ext.skipped` after entry. Closes them all on exit."""

    def __init__(self, specs: Sequence[McpServerSpec], stderr_path: str = os.devnull) -> None:
        self._specs = specs
        self._stderr_path = stderr_path
        self._stack = contextlib.AsyncExitStack()
        self.clients: dict[str, mcp.Client] = {}
        self.tools: dict[str, list[Tool]] = {}
        self.skipped: list[Skipped] = []

    async def __aenter__(self) -> ExternalServers:
        for spec in self._specs:
            await self._connect(spec)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with contextlib.suppress(Exception):
            await self._stack.aclose()

    async def _connect(self, spec: McpServerSpec) -> None:
        stack = contextlib.AsyncExitStack()
        try:
            async with asyncio.timeout(spec.timeout_s):
                client = await stack.enter_async_context(mcp.Client(self._transport(spec, stack)))
                tools = await list_all_tools(client)
        except TimeoutError:
            await _close_quietly(stack)
            self.skipped.append(Skipped(spec.name, f"no answer within {spec.timeout_s:g} s"))
            return
        except Exception as exc:
            await _close_quietly(stack)
            logger.debug("MCP server %s failed", spec.name, exc_info=True)
            self.skipped.append(Skipped(spec.name, first_leaf(exc)))
            return
        self._stack.push_async_callback(stack.aclose)
        self.clients[spec.name] = client
        self.tools[spec.name] = tools

    def _transport(self, spec: McpServerSpec, stack: contextlib.AsyncExitStack) -> Any:
        if spec.url is not None:
            http = httpx2.AsyncClient(headers=dict(spec.headers), timeout=spec.timeout_s)
            stack.push_async_callback(http.aclose)
            return streamable_http_client(spec.url, http_client=http)
        assert spec.command is not None
        errlog = open(self._stderr_path, "a")  # noqa: SIM115 - closed by the stack
        stack.callback(errlog.close)
        params = StdioServerParameters(
            command=spec.command, args=list(spec.args), env=dict(spec.env) or None, cwd=spec.cwd
        )
        return stdio_client(params, errlog=errlog)


async def _close_quietly(stack: contextlib.AsyncExitStack) -> None:
    with contextlib.suppress(Exception):
        await stack.aclose()


def wanted_servers(
    question: str, specs: Sequence[McpServerSpec], low_confidence: bool, auto_query: bool
) -> list[McpServerSpec]:
    """The servers a question asks for by name ("check Sentry too"); all of them when
    `auto_query` is on and Coral's own best hypothesis is weak."""
    if auto_query and low_confidence:
        return list(specs)
    text = question.lower()
    return [s for s in specs if re.search(rf"\b{re.escape(s.name.lower())}\b", text)]
