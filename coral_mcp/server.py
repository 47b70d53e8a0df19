"""Builds Coral's MCP server from tools/, resources/ and the prompts below.

Each tool is declared once, in `tools/` (see `tools/catalog.py`): its docstring and
parameter descriptions are what an assistant reads when it decides which tool to call.
Every tool is read-only; Coral never changes the application.

A tool answers once: its result as compact JSON text, without an output schema or a
structured copy. Claude Desktop and the other hosts put a result's text in front of the
model; a structured copy would be sent beside it for nobody to read, and output schemas
would double `tools/list` (docs/mcp.md says more).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastmcp import FastMCP
from fastmcp.exceptions import ResourceError, ToolError
from fastmcp.tools import Tool as McpTool
from fastmcp.tools import ToolResult
from fastmcp.utilities.json_schema import dereference_refs
from mcp_types import TextContent, ToolAnnotations

from coral_mcp import __version__
from coral_mcp.errors import CoralError
from coral_mcp.resources import documents
from coral_mcp.tools.catalog import TOOLS, as_json, bind
from coral_mcp.tools.data import CoralData
from coral_mcp.tools.instructions import INSTRUCTIONS
from coral_mcp.tools.registry import Tool

READ_ONLY = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)
#: Largest tool result or resource sent. Results are bounded where they are made
#: (limits, summaries); this is the backstop, well under what MCP clients accept on one
#: line of a response stream (1 MiB in the Python SDK, escaping included).
MAX_RESULT_BYTES = 512 * 1024


def _bounded(text: str, what: str) -> str:
    """`text`, or a CoralError when it is over MAX_RESULT_BYTES."""
    size = len(text.encode())
    if size > MAX_RESULT_BYTES:
        raise CoralError(
            f"{what}: the result is {size // 1024} KiB, over the {MAX_RESULT_BYTES // 1024}"
            " KiB a result may have",
            hint="narrow it: a smaller limit, one service, a shorter range, detail=false",
        )
    return text


def _tool_error(exc: CoralError) -> ToolError:
    text = exc.message if exc.hint is None else f"{exc.message}. Next: {exc.hint}"
    return ToolError(text, log_level=logging.DEBUG)


async def _document(result: Awaitable[str], uri: str) -> str:
    try:
        return _bounded(await result, uri)
    except CoralError as exc:
        text = exc.message if exc.hint is None else f"{exc.message}. Next: {exc.hint}"
        raise ResourceError(text) from None


def build_server(data: CoralData) -> FastMCP:
    """The MCP server with every Coral tool, resource and prompt bound to `data`."""
    mcp = FastMCP("coral", instructions=INSTRUCTIONS, version=__version__)
    _register_tools(mcp, data)
    _register_resources(mcp, data)
    _register_prompts(mcp)
    return mcp


def _answering_once(bound: Tool) -> Callable[..., Awaitable[ToolResult]]:
    """`bound` with its result sent once, as compact JSON text (same name, doc, arguments)."""

    async def call(**arguments: Any) -> ToolResult:
        result = await bound(**arguments)
        try:
            text = _bounded(as_json(result), bound.__name__)
        except CoralError as exc:
            raise _tool_error(exc) from None
        return ToolResult(content=[TextContent(type="text", text=text)])

    call.__name__ = call.__qualname__ = bound.__name__
    call.__doc__ = bound.__doc__
    call.__module__ = bound.__module__
    call.__signature__ = inspect.signature(bound).replace(  # type: ignore[attr-defined]
        return_annotation=ToolResult
    )
    call.__annotations__ = {**bound.__annotations__, "return": ToolResult}
    return call


def _register_tools(mcp: FastMCP, data: CoralData) -> None:
    schemas: dict[str, dict[str, Any]] = {}
    for tool in TOOLS:
        fn = _answering_once(bind(tool, data, _tool_error))
        mcp.tool(fn, annotations=READ_ONLY, output_schema=None)
        schemas[fn.__name__] = dereference_refs(McpTool.from_function(fn).parameters)
    # Every tools/call of the 2026-07-28 protocol checks its Mcp-Param-* headers against
    # the tool's input schema. Without this lookup the SDK finds that schema by running
    # a whole tools/list through FastMCP per call: about 60 % of the server's work on a
    # call (py-spy, benchmarks/RESULTS.md). The schemas are those tools/list advertises
    # (FastMCP dereferences them there too).
    mcp._mcp_server.get_tool_input_schema = schemas.get


def _register_resources(mcp: FastMCP, data: CoralData) -> None:
    json_type = "application/json"

    @mcp.resource("coral://topology", name="topology", mime_type=json_type)
    async def topology_resource() -> str:
        """The service dependency graph with edge evidence and freshness (as get_topology)."""
        return await _document(documents.topology_document(data), "coral://topology")

    @mcp.resource("coral://services", name="services", mime_type=json_type)
    async def services_resource() -> str:
        """Every watched service with status and latest metrics (as list_services)."""
        return await _document(documents.services_document(data), "coral://services")

    @mcp.resource("coral://events", name="events", mime_type=json_type)
    async def events_resource() -> str:
        """The 100 newest events of the last 24 h, newest first (as get_events)."""
        return await _document(documents.events_document(data), "coral://events")

    @mcp.resource("coral://baselines", name="baselines", mime_type=json_type)
    async def baselines_resource() -> str:
        """Learned normal per service and metric, all hours (as get_baselines)."""
        return await _document(documents.baselines_document(data), "coral://baselines")

    @mcp.resource("coral://correlations", name="correlations", mime_type=json_type)
    async def correlations_resource() -> str:
        """Current correlated groups of anomalies and their top hypotheses."""
        return await _document(documents.correlations_document(data), "coral://correlations")

    @mcp.resource("coral://investigations/{id}", name="investigation", mime_type=json_type)
    async def investigation_resource(id: str) -> str:
        """A recorded investigation, by the id the investigate tool returned."""
        return await _document(
            documents.investigation_document(data, id), f"coral://investigations/{id}"
        )

    @mcp.resource("coral://services/{name}", name="service", mime_type=json_type)
    async def service_resource(name: str) -> str:
        """One service in depth (as get_service)."""
        return await _document(documents.service_document(data, name), f"coral://services/{name}")

    @mcp.resource("coral://events/{service}", name="service_events", mime_type=json_type)
    async def service_events_resource(service: str) -> str:
        """The 100 newest events of one service in the last 24 h, newest first."""
        return await _document(
            documents.events_document(data, service), f"coral://events/{service}"
        )


def _prompt(fn: Callable[..., str]) -> Callable[..., str]:
    """`fn` with its annotations resolved: FastMCP describes an argument it does not see
    as `str` with a JSON schema instead of the words of the docstring's Args section."""
    fn.__signature__ = inspect.signature(fn, eval_str=True)  # type: ignore[attr-defined]
    return fn


def _register_prompts(mcp: FastMCP) -> None:
    @mcp.prompt
    @_prompt
    def investigate_incident(service: str = "", since: str = "1h") -> str:
        """Investigate what went wrong, optionally around one service and since a time.

        Args:
            service: The suspected service, as list_services names it; empty for none.
            since: How far back to look: 30m, 2h, 1d or an RFC 3339 time. Default 1h.
        """
        focus = f" The user suspects {service}." if service else ""
        window = since or "1h"
        return (
            f"Something is wrong in the application Coral watches.{focus} Find out what"
            f" happened since {window} ago, where it started, and why.\n"
            "1. colony_status: is the data fresh and are all agents online?\n"
            f"2. investigate with start='{window}'"
            + (f" and service='{service}'" if service else "")
            + ": Coral's own ranked hypotheses with evidence. Treat them as leads to check.\n"
            f"3. get_events with start='{window}' and find_anomalies: what changed, and"
            " which metrics left their baselines first.\n"
            "4. get_service for the suspects; get_topology around them: a failing service"
            " whose own dependencies are healthy is a likelier root cause than one whose"
            " dependency failed first.\n"
            "5. query_metrics (and query_agent for raw detail) to confirm with numbers.\n"
            "Answer with ranked hypotheses: the service, what kind of fault, how confident"
            " you are, the evidence (each item with a time and a value) and what to check or"
            " do next. Recommend only; never claim to have changed anything."
        )

    @mcp.prompt
    def health_report() -> str:
        """A short health report of the whole application."""
        return (
            "Write a short health report of the application Coral watches.\n"
            "1. colony_status: agents online/stale/offline, data freshness.\n"
            "2. list_services: anything down or stale; get_service for those.\n"
            "3. get_events with start='24h': crashes, restarts, OOM kills, deploys, health"
            " flips, lost dependencies; find_anomalies with start='24h' and get_correlations.\n"
            "4. get_topology: services with no dependencies seen, external dependencies.\n"
            "Report: overall state in one line, then problems (most severe first, each with"
            " evidence and time), then recent changes. Say plainly when all is well."
        )
