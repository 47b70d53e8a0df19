"""Builds Coral's MCP server from tools/ and resources/ over one CoralData source.

The docstrings below are what an assistant reads when it decides which tool to call:
they say what the tool answers, what its arguments accept, and what to do next.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastmcp import FastMCP
from fastmcp.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import Field

from coral_mcp import __version__
from coral_mcp.errors import CoralError
from coral_mcp.resources import topology as topology_resource
from coral_mcp.tools import colony, metrics, services
from coral_mcp.tools.data import CoralData
from coral_mcp.tools.schemas import (
    ColonyStatusOut,
    EventList,
    MetricSeriesOut,
    ServiceList,
    TopologyOut,
)

INSTRUCTIONS = """\
Coral watches the components of one distributed application through local agents and
keeps what they report in a colony. Start with list_services to see what runs and its
state, get_topology for who talks to whom, and query_metrics for a service's history.
Times are UTC; ranges accept RFC 3339, epoch seconds and relative forms ('15m', 'now-1h').
Coral only observes: it never changes the application."""

RANGE_FORMS = "Range start: RFC 3339, epoch seconds or relative ('1h', 'now-30m')."
READ_ONLY = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)


def _tool_error(exc: CoralError) -> ToolError:
    text = exc.message if exc.hint is None else f"{exc.message}. Next: {exc.hint}"
    return ToolError(text, log_level=logging.DEBUG)


def build_server(data: CoralData) -> FastMCP:
    """The MCP server with every Coral tool and resource bound to `data`."""
    mcp = FastMCP("coral", instructions=INSTRUCTIONS, version=__version__)

    @mcp.tool(annotations=READ_ONLY)
    async def list_services(
        limit: Annotated[int, Field(description="Services per page, 1-200.")] = 50,
        cursor: Annotated[
            str | None, Field(description="next_cursor of the previous page, to continue.")
        ] = None,
    ) -> ServiceList:
        """List every service Coral watches: status (up/down/stale), agents, pids,
        listening addresses and the latest value of each metric. Use it first, to learn
        the service names the other tools take."""
        try:
            return await services.list_services(data, limit, cursor)
        except CoralError as exc:
            raise _tool_error(exc) from None

    @mcp.tool(annotations=READ_ONLY)
    async def get_topology() -> TopologyOut:
        """The service dependency graph seen on the wire: an edge caller -> callee means
        the caller holds TCP connections to the callee's listening port. `external` lists
        connections to addresses that are no watched service (databases, third parties)."""
        try:
            return await services.get_topology(data)
        except CoralError as exc:
            raise _tool_error(exc) from None

    @mcp.tool(annotations=READ_ONLY)
    async def query_metrics(
        service: Annotated[str, Field(description="Service name from list_services.")],
        metric: Annotated[
            str,
            Field(description="Metric name, e.g. cpu_percent, rss_bytes, threads, fds."),
        ],
        start: Annotated[
            str | None,
            Field(description=f"{RANGE_FORMS} Default 1h ago."),
        ] = None,
        end: Annotated[str | None, Field(description="Range end, same forms. Default now.")] = None,
        step_s: Annotated[
            int | None, Field(description="Bucket width in seconds (>= 10). Default 60.")
        ] = None,
    ) -> MetricSeriesOut:
        """A service's metric over a time range, bucketed: avg, min, max, p95 and last
        per bucket. The result echoes the resolved range in UTC. Ranges longer than a
        day use buckets of at least an hour (from hourly roll-ups)."""
        try:
            return await metrics.query_metrics(data, service, metric, start, end, step_s)
        except CoralError as exc:
            raise _tool_error(exc) from None

    @mcp.tool(annotations=READ_ONLY)
    async def get_events(
        start: Annotated[
            str | None,
            Field(description=f"{RANGE_FORMS} Default 24h ago."),
        ] = None,
        end: Annotated[str | None, Field(description="Range end, same forms. Default now.")] = None,
        service: Annotated[str | None, Field(description="Only this service.")] = None,
        kinds: Annotated[
            list[str] | None,
            Field(description="Only these kinds, e.g. ['crash', 'restart', 'deploy', 'oom_kill']."),
        ] = None,
        limit: Annotated[int, Field(description="Events per page, 1-500.")] = 50,
        cursor: Annotated[
            str | None, Field(description="next_cursor of the previous page, to continue.")
        ] = None,
    ) -> EventList:
        """What happened, newest first: crashes, restarts, deploys, OOM kills, health
        flips, new or lost dependencies, each with time, service, severity and details.
        Use it to find changes just before a problem started."""
        try:
            return await colony.get_events(data, start, end, service, kinds, limit, cursor)
        except CoralError as exc:
            raise _tool_error(exc) from None

    @mcp.tool(annotations=READ_ONLY)
    async def colony_status() -> ColonyStatusOut:
        """The colony's own health: agents and whether each is online, stale or offline,
        how fresh the data is, ingestion rate, disk use and retention. Check it when data
        looks missing or old."""
        try:
            return await colony.colony_status(data)
        except CoralError as exc:
            raise _tool_error(exc) from None

    @mcp.resource(
        topology_resource.URI,
        name="topology",
        mime_type="application/json",
        description="The service dependency graph (same document as get_topology).",
    )
    async def topology() -> str:
        return await topology_resource.read_topology(data)

    return mcp
