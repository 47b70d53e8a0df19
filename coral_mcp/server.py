"""Builds Coral's MCP server from tools/, resources/ and the prompts below.

The docstrings and field descriptions here are what an assistant reads when it decides
which tool to call: they say what a tool answers, what its arguments accept, and what
to do next. Every tool is read-only; Coral never changes the application.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Annotated, Literal, TypeVar

from fastmcp import FastMCP
from fastmcp.exceptions import ResourceError, ToolError
from mcp_types import ToolAnnotations
from pydantic import Field

from coral_mcp import __version__
from coral_mcp.errors import CoralError
from coral_mcp.resources import documents
from coral_mcp.tools import (
    agent_detail,
    colony,
    intelligence,
    metrics,
    service_detail,
    services,
    topology,
)
from coral_mcp.tools.data import CoralData
from coral_mcp.tools.intelligence_schemas import (
    AnomalyList,
    BaselineList,
    CorrelationList,
    InvestigationOut,
)
from coral_mcp.tools.schemas import (
    AgentDetail,
    ColonyStatusOut,
    EventList,
    MetricList,
    MetricSeriesOut,
    ServiceDetail,
    ServiceList,
    TopologyOut,
)

INSTRUCTIONS = """\
Coral watches the components of one distributed application through local agents and
keeps what they report in a colony. When something is wrong, call investigate first:
it ranks root-cause hypotheses with evidence. Otherwise start with list_services,
then get_service for one service, get_topology for who talks to whom, get_events for
what changed (crashes, restarts, deploys, OOM kills, health flips) and query_metrics for
a metric's history; find_anomalies and get_baselines show what is abnormal and what
normal is; query_agent fetches raw detail from the host itself. Times are UTC;
ranges accept RFC 3339, epoch seconds and relative forms ('15m', 'now-1h'). Coral only
observes: it never changes the application; recommend, never act."""

RANGE_FORMS = "RFC 3339, epoch seconds or relative ('1h', 'now-30m')."
READ_ONLY = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)
T = TypeVar("T")

Service = Annotated[str, Field(description="Service name, as list_services gives it.")]
Start = Annotated[str | None, Field(description=f"Range start: {RANGE_FORMS}")]
End = Annotated[str | None, Field(description=f"Range end: {RANGE_FORMS} Default now.")]
Limit = Annotated[int, Field(description="Items per page.")]
Cursor = Annotated[str | None, Field(description="next_cursor of the previous page.")]


def _tool_error(exc: CoralError) -> ToolError:
    text = exc.message if exc.hint is None else f"{exc.message}. Next: {exc.hint}"
    return ToolError(text, log_level=logging.DEBUG)


async def _answer(result: Awaitable[T]) -> T:
    """Await a tool's result; a CoralError becomes an isError result with a next step."""
    try:
        return await result
    except CoralError as exc:
        raise _tool_error(exc) from None


async def _document(result: Awaitable[str]) -> str:
    try:
        return await result
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


def _register_tools(mcp: FastMCP, data: CoralData) -> None:
    @mcp.tool(annotations=READ_ONLY)
    async def list_services(limit: Limit = 50, cursor: Cursor = None) -> ServiceList:
        """List every service Coral watches: status (up/down/stale), agents, pids,
        listening addresses and the latest value of each metric. Call it first to learn
        the service names the other tools take. limit: 1-200."""
        return await _answer(services.list_services(data, limit, cursor))

    @mcp.tool(annotations=READ_ONLY)
    async def get_service(name: Service) -> ServiceDetail:
        """Everything about one service at a glance: status, last health-check verdict,
        version and last deploy, agents and their state, what it calls and what calls
        it, each metric over the last hour (latest, average, min, max) and its newest
        events."""
        return await _answer(service_detail.get_service(data, name))

    @mcp.tool(annotations=READ_ONLY)
    async def list_metrics(
        service: Service,
        since: Annotated[
            str | None, Field(description=f"Span start: {RANGE_FORMS} Default 24h.")
        ] = None,
    ) -> MetricList:
        """The metrics a service has reported recently, each with its latest value,
        average, min and max: use the names with query_metrics."""
        return await _answer(service_detail.list_metrics(data, service, since))

    @mcp.tool(annotations=READ_ONLY)
    async def query_metrics(
        service: Service,
        metric: Annotated[str, Field(description="Metric name from list_metrics, e.g. rss_bytes.")],
        start: Start = None,
        end: End = None,
        step_s: Annotated[
            int | None, Field(description="Bucket width in seconds (>= 10). Default 60.")
        ] = None,
    ) -> MetricSeriesOut:
        """A service's metric over a time range (default the last hour), bucketed: avg,
        min, max, p95 and last per bucket. The result echoes the resolved range in UTC.
        Ranges longer than a day use buckets of at least an hour."""
        return await _answer(metrics.query_metrics(data, service, metric, start, end, step_s))

    @mcp.tool(annotations=READ_ONLY)
    async def get_events(
        start: Start = None,
        end: End = None,
        service: Annotated[str | None, Field(description="Only this service.")] = None,
        kinds: Annotated[
            list[str] | None,
            Field(description="Only these kinds, e.g. ['crash', 'restart', 'deploy', 'oom_kill']."),
        ] = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> EventList:
        """What happened, newest first (default the last 24 h): crashes, restarts,
        deploys and version changes, OOM kills, health flips, new or lost dependencies,
        each with time, service, severity and details. Changes just before a problem
        are the usual suspects. limit: 1-500."""
        return await _answer(colony.get_events(data, start, end, service, kinds, limit, cursor))

    @mcp.tool(annotations=READ_ONLY)
    async def get_topology(
        service: Annotated[
            str | None, Field(description="Draw the graph around this service.")
        ] = None,
        depth: Annotated[
            int | None, Field(description="Hops from the service, 0-10. Default 1.")
        ] = None,
    ) -> TopologyOut:
        """The service dependency graph seen on the wire: an edge caller -> callee means
        the caller holds TCP connections to the callee's listening port. `external`
        lists connections to addresses that are no watched service (databases, third
        parties). Give a service (and depth) to see only its neighbourhood."""
        return await _answer(topology.get_topology(data, service, depth))

    @mcp.tool(annotations=READ_ONLY)
    async def query_agent(
        service: Service,
        kind: Annotated[
            Literal["samples", "connections", "processes", "events"],
            Field(
                description="samples: raw samples (last hour at most); connections: current"
                " sockets; processes: the process tree; events: the agent's recent events."
            ),
        ],
        metric: Annotated[str | None, Field(description="For samples: only this metric.")] = None,
        start: Start = None,
        end: End = None,
        limit: Annotated[int, Field(description="Most items returned, 1-2000.")] = 200,
    ) -> AgentDetail:
        """Raw, recent detail from the agent on the service's host, fetched live: every
        sample (not summaries) of the last hour, current connections, the process tree.
        Use it when summaries hide what you need. Fails fast if the agent is offline."""
        return await _answer(
            agent_detail.query_agent(data, service, kind, metric, start, end, limit)
        )

    @mcp.tool(annotations=READ_ONLY)
    async def investigate(
        question: Annotated[
            str | None, Field(description="What the user asked, kept with the result.")
        ] = None,
        start: Annotated[
            str | None, Field(description=f"Range start: {RANGE_FORMS} Default 1h ago.")
        ] = None,
        end: End = None,
        service: Annotated[
            str | None,
            Field(
                description="The symptom: the service the user asks about (e.g. checkout"
                " in 'why is checkout slow?'). Omit to let Coral infer it."
            ),
        ] = None,
        metric: Annotated[
            str | None,
            Field(
                description="The symptom's metric: a metric name, or latency, errors, cpu"
                " or memory ('slow' is latency). Needs service."
            ),
        ] = None,
    ) -> InvestigationOut:
        """What went wrong, where it started, and why: ranks root-cause hypotheses over a
        range (default the last hour) from robust anomalies (with their own onset
        estimates, so a rough range is fine), the dependency graph and recent changes
        (deploys, restarts, OOM kills). Each hypothesis has a service, a fault kind, a
        confidence, evidence and counter-evidence (time + value) and a recommendation
        for a person. Explains the symptom given (service, metric) by walking its
        dependencies from the symptom's onset. Says "no_significant_anomaly" or
        "no_clear_root_cause" when that is the truth."""
        return await _answer(intelligence.investigate(data, question, start, end, service, metric))

    @mcp.tool(annotations=READ_ONLY)
    async def find_anomalies(
        start: Annotated[
            str | None, Field(description=f"Range start: {RANGE_FORMS} Default 1h ago.")
        ] = None,
        end: End = None,
        service: Annotated[str | None, Field(description="Only this service.")] = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> AnomalyList:
        """Anomalies the colony detected (continuously, against learned baselines) with
        an onset in the range: metric, kind (level_shift, spike, trend, saturation,
        stopped), onset, robust z-score, value and normal level. Earliest first.
        limit: 1-500."""
        return await _answer(intelligence.find_anomalies(data, start, end, service, limit, cursor))

    @mcp.tool(annotations=READ_ONLY)
    async def get_baselines(
        service: Annotated[str | None, Field(description="Only this service.")] = None,
        metric: Annotated[str | None, Field(description="Only this metric.")] = None,
        all_hours: Annotated[
            bool, Field(description="Include the per-hour-of-day baselines too.")
        ] = False,
        limit: Limit = 100,
        cursor: Cursor = None,
    ) -> BaselineList:
        """What normal looks like: the learned robust centre (median) and spread of each
        service metric, overall and (with all_hours) per UTC hour of day once there are
        3 days of history. limit: 1-500."""
        return await _answer(
            intelligence.get_baselines(data, service, metric, all_hours, limit, cursor)
        )

    @mcp.tool(annotations=READ_ONLY)
    async def get_correlations(
        limit: Annotated[int, Field(description="Groups to return, 1-100.")] = 20,
    ) -> CorrelationList:
        """Recent groups of anomalies that happened together, newest first, each with
        the services involved and its top root-cause hypothesis."""
        return await _answer(intelligence.get_correlations(data, limit))

    @mcp.tool(annotations=READ_ONLY)
    async def colony_status() -> ColonyStatusOut:
        """The colony's own health: agents and whether each is online, stale or offline,
        how fresh the data is, ingestion rate, disk use and retention. Check it when
        data looks missing or old."""
        return await _answer(colony.colony_status(data))


def _register_resources(mcp: FastMCP, data: CoralData) -> None:
    json_type = "application/json"

    @mcp.resource("coral://topology", name="topology", mime_type=json_type)
    async def topology_resource() -> str:
        """The service dependency graph with edge evidence and freshness (as get_topology)."""
        return await _document(documents.topology_document(data))

    @mcp.resource("coral://services", name="services", mime_type=json_type)
    async def services_resource() -> str:
        """Every watched service with status and latest metrics (as list_services)."""
        return await _document(documents.services_document(data))

    @mcp.resource("coral://events", name="events", mime_type=json_type)
    async def events_resource() -> str:
        """The 100 newest events of the last 24 h, newest first (as get_events)."""
        return await _document(documents.events_document(data))

    @mcp.resource("coral://baselines", name="baselines", mime_type=json_type)
    async def baselines_resource() -> str:
        """Learned normal per service and metric, all hours (as get_baselines)."""
        return await _document(documents.baselines_document(data))

    @mcp.resource("coral://correlations", name="correlations", mime_type=json_type)
    async def correlations_resource() -> str:
        """Current correlated groups of anomalies and their top hypotheses."""
        return await _document(documents.correlations_document(data))

    @mcp.resource("coral://investigations/{id}", name="investigation", mime_type=json_type)
    async def investigation_resource(id: str) -> str:
        """A recorded investigation, by the id the investigate tool returned."""
        return await _document(documents.investigation_document(data, id))

    @mcp.resource("coral://services/{name}", name="service", mime_type=json_type)
    async def service_resource(name: str) -> str:
        """One service in depth (as get_service)."""
        return await _document(documents.service_document(data, name))

    @mcp.resource("coral://events/{service}", name="service_events", mime_type=json_type)
    async def service_events_resource(service: str) -> str:
        """The 100 newest events of one service in the last 24 h, newest first."""
        return await _document(documents.events_document(data, service))


def _register_prompts(mcp: FastMCP) -> None:
    @mcp.prompt
    def investigate_incident(service: str | None = None, since: str | None = None) -> str:
        """Investigate what went wrong, optionally around one service and since a time."""
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
