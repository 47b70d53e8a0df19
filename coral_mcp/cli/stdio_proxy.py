"""`coral-mcp serve` for a running colony: its MCP tools, resources and prompts over stdio.

A thin forwarder on the MCP SDK's low-level server and client: each request goes to
the colony's streamable-HTTP endpoint as it came (the tool name and arguments, the
resource URI, the prompt, the page cursor) and its result or error comes back as the
colony gave it. Both protocol generations are served; the colony's session is the
official client's, carrying the token.

Written here rather than with fastmcp's `create_proxy`: that imports fastmcp's client
and server (with their auth, settings, caching and storage layers) on top of the MCP
SDK, and nearly doubled the time from start to an answered `tools/list` (see
`benchmarks/ask_builtin.py` and `benchmarks/RESULTS.md`). An assistant starts this
process on its own start; a second spent importing is a second it waits.
"""

from __future__ import annotations

from typing import Any

import mcp
import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

from coral_mcp import __version__
from coral_mcp.investigate.colony_client import ColonyClient
from coral_mcp.tools.instructions import INSTRUCTIONS

Context = ServerRequestContext[Any]


def _cursor(params: types.PaginatedRequestParams | None) -> str | None:
    return params.cursor if params is not None else None


def forwarding_server(colony: mcp.Client) -> Server[Any]:
    """A server that answers every request by asking `colony` the same."""

    async def list_tools(ctx: Context, params: types.PaginatedRequestParams | None) -> Any:
        return await colony.list_tools(cursor=_cursor(params))

    async def call_tool(ctx: Context, params: types.CallToolRequestParams) -> Any:
        return await colony.call_tool(params.name, params.arguments)

    async def list_resources(ctx: Context, params: types.PaginatedRequestParams | None) -> Any:
        return await colony.list_resources(cursor=_cursor(params))

    async def list_templates(ctx: Context, params: types.PaginatedRequestParams | None) -> Any:
        return await colony.list_resource_templates(cursor=_cursor(params))

    async def read_resource(ctx: Context, params: types.ReadResourceRequestParams) -> Any:
        return await colony.read_resource(params.uri)

    async def list_prompts(ctx: Context, params: types.PaginatedRequestParams | None) -> Any:
        return await colony.list_prompts(cursor=_cursor(params))

    async def get_prompt(ctx: Context, params: types.GetPromptRequestParams) -> Any:
        return await colony.get_prompt(params.name, params.arguments)

    return Server(
        "coral",
        version=__version__,
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_list_resource_templates=list_templates,
        on_read_resource=read_resource,
        on_list_prompts=list_prompts,
        on_get_prompt=get_prompt,
    )


async def serve_colony(colony_url: str, token: str | None, named: str) -> None:
    """Serve the colony at `colony_url` over this process's stdin and stdout until the
    client closes stdin. ColonyUnreachableError when the colony cannot be reached."""
    async with ColonyClient(colony_url, token, named) as colony:
        server = forwarding_server(colony.session)
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())
