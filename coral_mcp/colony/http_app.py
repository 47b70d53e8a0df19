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
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from coral_mcp import __version__
from coral_mcp.colony.auth import ASGIApp, BearerAuth
from coral_mcp.errors import CoralError
from coral_mcp.tools import colony, metrics, services, topology
from coral_mcp.tools.data import CoralData
from coral_mcp.tools.schemas import (
    AgentOut,
    ColonyStatusOut,
    EventList,
    MetricSeriesOut,
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


async def _json_http_error(request: Request, exc: Exception) -> Response:
    """404/405 as the JSON error document every other answer uses."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if status == 404:
        error = f"no route {request.url.path}"
        hint = f"the REST API is under {API} (see {API}/openapi.json); MCP is at {MCP_PATH}"
    else:
        error = f"{request.method} is not allowed on {request.url.path}"
        hint = "the REST API answers GET"
    return JSONResponse({"error": error, "hint": hint}, status_code=status)


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

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "version": __version__})

    async def openapi(request: Request) -> Response:
        return JSONResponse(document)

    mcp_app = mcp.http_app(path=MCP_PATH)
    # Unknown paths fall through to the MCP app's router: it must answer JSON too.
    for status in (404, 405):
        mcp_app.add_exception_handler(status, _json_http_error)
    app = Starlette(
        exception_handlers={404: _json_http_error, 405: _json_http_error},
        routes=[
            Route("/healthz", healthz),
            Route(f"{API}/openapi.json", openapi),
            *(Route(r.path, _endpoint(r)) for r in routes),
            Mount("/", app=mcp_app),
        ],
        lifespan=mcp_app.lifespan,  # without it every MCP request fails
    )
    return app if token is None else BearerAuth(app, token)
