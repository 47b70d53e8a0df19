"""The colony's HTTP surface: a REST API beside MCP (streamable HTTP at /mcp).

REST answers with the same documents as the MCP tools (one logic, two doors). Each
route is declared once, with its parameters and result model, and the OpenAPI
document at /api/v1/openapi.json is generated from those declarations. Errors are
JSON `{"error": ..., "hint": ...}` with a 4xx status; unknown parameters are refused.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastmcp import FastMCP
from pydantic import BaseModel, ConfigDict
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from coral_mcp import __version__
from coral_mcp.colony.ask_routes import AskRecordIn, ask_routes
from coral_mcp.colony.ask_routes import openapi_paths as ask_paths
from coral_mcp.colony.auth import ASGIApp, BearerAuth
from coral_mcp.errors import CoralError
from coral_mcp.tools import colony, intelligence, metrics, service_detail, services, topology
from coral_mcp.tools.data import CoralData
from coral_mcp.tools.intelligence_schemas import AnomalyList, InvestigationOut
from coral_mcp.tools.schemas import (
    AgentOut,
    ColonyStatusOut,
    EventList,
    MetricSeriesOut,
    ServiceDetail,
    ServiceList,
    TopologyOut,
)

MCP_PATH = "/mcp"
API = "/api/v1"


class AgentList(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agents: list[AgentOut]
    count: int


class ErrorOut(BaseModel):
    error: str
    hint: str | None


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    kind: str  # "string" or "integer"
    description: str
    required: bool = False


@dataclass(frozen=True, slots=True)
class ApiRoute:
    path: str
    summary: str
    params: tuple[Param, ...]
    result: type[BaseModel]
    handler: Callable[[dict[str, Any]], Awaitable[BaseModel]]


def _parse(route: ApiRoute, request: Request) -> dict[str, Any]:
    known = {p.name: p for p in route.params}
    unknown = sorted(set(request.query_params) - set(known))
    if unknown:
        raise CoralError(
            f"unknown query parameter {unknown[0]!r}",
            hint=f"{route.path} takes {', '.join(known) or 'no parameters'}",
        )
    values: dict[str, Any] = {}
    for param in route.params:
        raw = request.query_params.get(param.name)
        if raw is None:
            if param.required:
                raise CoralError(
                    f"query parameter {param.name!r} is required ({param.description})"
                )
            continue
        if param.kind == "integer":
            try:
                values[param.name] = int(raw)
            except ValueError:
                raise CoralError(
                    f"query parameter {param.name}={raw!r} is not an integer"
                ) from None
        else:
            values[param.name] = raw
    return values


def _endpoint(route: ApiRoute) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            result = await route.handler(_parse(route, request))
        except CoralError as exc:
            return JSONResponse({"error": exc.message, "hint": exc.hint}, status_code=400)
        return Response(result.model_dump_json(), media_type="application/json")

    return endpoint


RANGE = (
    Param("start", "string", "RFC 3339, epoch seconds or relative ('1h', 'now-30m')"),
    Param("end", "string", "same forms; default now"),
)
PAGE = (
    Param("limit", "integer", "items per page"),
    Param("cursor", "string", "next_cursor of the previous page"),
)


def api_routes(data: CoralData) -> list[ApiRoute]:
    async def get_status(_: dict[str, Any]) -> BaseModel:
        return await colony.colony_status(data)

    async def get_agents(_: dict[str, Any]) -> BaseModel:
        agents = await colony.list_agents(data)
        return AgentList(agents=agents, count=len(agents))

    async def get_services(p: dict[str, Any]) -> BaseModel:
        return await services.list_services(data, p.get("limit", 50), p.get("cursor"))

    async def get_topology(p: dict[str, Any]) -> BaseModel:
        return await topology.get_topology(data, p.get("service"), p.get("depth"))

    async def get_metrics(p: dict[str, Any]) -> BaseModel:
        return await metrics.query_metrics(
            data, p["service"], p["metric"], p.get("start"), p.get("end"), p.get("step_s")
        )

    async def get_events(p: dict[str, Any]) -> BaseModel:
        kinds = [k for k in p.get("kinds", "").split(",") if k] or None
        return await colony.get_events(
            data,
            p.get("start"),
            p.get("end"),
            p.get("service"),
            kinds,
            p.get("limit", 50),
            p.get("cursor"),
        )

    async def get_service(p: dict[str, Any]) -> BaseModel:
        return await service_detail.get_service(data, p["name"])

    async def get_investigation(p: dict[str, Any]) -> BaseModel:
        return await intelligence.investigate(
            data, question=p.get("question"), start=p.get("start"), end=p.get("end"),
            service=p.get("service"),
        )  # fmt: skip

    async def get_anomalies(p: dict[str, Any]) -> BaseModel:
        return await intelligence.find_anomalies(
            data, start=p.get("start"), end=p.get("end"), service=p.get("service"),
            limit=p.get("limit", 50), cursor=p.get("cursor"),
        )  # fmt: skip

    return [
        ApiRoute(f"{API}/status", "Colony status", (), ColonyStatusOut, get_status),
        ApiRoute(f"{API}/agents", "Agents and their state", (), AgentList, get_agents),
        ApiRoute(f"{API}/services", "Watched services", PAGE, ServiceList, get_services),
        ApiRoute(
            f"{API}/topology",
            "Service dependency graph, whole or around one service",
            (
                Param("service", "string", "draw the graph around this service"),
                Param("depth", "integer", "hops from the service (default 1)"),
            ),
            TopologyOut,
            get_topology,
        ),
        ApiRoute(
            f"{API}/metrics",
            "One metric of one service over a range",
            (
                Param("service", "string", "service name", required=True),
                Param("metric", "string", "metric name", required=True),
                *RANGE,
                Param("step_s", "integer", "bucket width in seconds"),
            ),
            MetricSeriesOut,
            get_metrics,
        ),
        ApiRoute(
            f"{API}/events",
            "Events, newest first",
            (
                *RANGE,
                Param("service", "string", "only this service"),
                Param("kinds", "string", "comma-separated kinds, e.g. crash,restart"),
                *PAGE,
            ),
            EventList,
            get_events,
        ),
        ApiRoute(
            f"{API}/service",
            "One service in depth (as the get_service tool)",
            (Param("name", "string", "service name", required=True),),
            ServiceDetail,
            get_service,
        ),
        ApiRoute(
            f"{API}/investigate",
            "Ranked root-cause hypotheses over a range (as the investigate tool; recorded)",
            (
                Param("question", "string", "what was asked, kept with the result"),
                *RANGE,
                Param("service", "string", "focus on this service and what it depends on"),
            ),
            InvestigationOut,
            get_investigation,
        ),
        ApiRoute(
            f"{API}/anomalies",
            "Detected anomalies with an onset in a range, earliest first",
            (*RANGE, Param("service", "string", "only this service"), *PAGE),
            AnomalyList,
            get_anomalies,
        ),
    ]


def openapi_document(routes: list[ApiRoute]) -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    paths: dict[str, Any] = {}
    template = "#/components/schemas/{model}"
    models: list[type[BaseModel]] = [*(r.result for r in routes), ErrorOut]
    for model in models:
        schema = model.model_json_schema(ref_template=template)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    for route in routes:
        paths[route.path] = {
            "get": {
                "summary": route.summary,
                "operationId": route.path.rsplit("/", 1)[-1],
                "parameters": [
                    {
                        "name": p.name,
                        "in": "query",
                        "required": p.required,
                        "description": p.description,
                        "schema": {"type": p.kind},
                    }
                    for p in route.params
                ],
                "responses": {
                    "200": _response("OK", route.result.__name__),
                    "400": _response("Bad request", ErrorOut.__name__),
                },
            }
        }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Coral colony API", "version": __version__},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def _response(description: str, model: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model}"}}},
    }


def build_http_app(data: CoralData, mcp: FastMCP, token: str | None) -> ASGIApp:
    """/healthz, the REST API under /api/v1 and MCP at /mcp; with `token`, every path
    but /healthz needs `Authorization: Bearer <token>`."""
    routes = api_routes(data)
    document = openapi_document(routes)
    document["paths"].update(ask_paths())
    document["components"]["schemas"]["AskRecordIn"] = AskRecordIn.model_json_schema(
        ref_template="#/components/schemas/{model}"
    )

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "version": __version__})

    async def openapi(request: Request) -> Response:
        return JSONResponse(document)

    mcp_app = mcp.http_app(path=MCP_PATH)
    app = Starlette(
        routes=[
            Route("/healthz", healthz),
            Route(f"{API}/openapi.json", openapi),
            *(Route(r.path, _endpoint(r)) for r in routes),
            *ask_routes(data),
            Mount("/", app=mcp_app),
        ],
        lifespan=mcp_app.lifespan,  # without it every MCP request fails
    )
    return app if token is None else BearerAuth(app, token)
