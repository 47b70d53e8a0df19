"""The colony's HTTP surface: a small REST API beside MCP (streamable HTTP at /mcp).

REST answers with the same documents as the MCP tools, so both stay one logic.
Errors are JSON `{"error": ..., "hint": ...}` with a 4xx status.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastmcp import FastMCP
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from coral_mcp import __version__
from coral_mcp.errors import CoralError
from coral_mcp.tools import metrics, services
from coral_mcp.tools.data import CoralData

MCP_PATH = "/mcp"


def _json(model: BaseModel) -> Response:
    return Response(model.model_dump_json(), media_type="application/json")


def _error(exc: CoralError, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": exc.message, "hint": exc.hint}, status_code=status)


def _int_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise CoralError(f"query parameter {name}={raw!r} is not an integer") from None


Handler = Callable[[Request], Awaitable[Response]]


def _guarded(handler: Callable[[Request], Awaitable[BaseModel]]) -> Handler:
    async def endpoint(request: Request) -> Response:
        try:
            return _json(await handler(request))
        except CoralError as exc:
            return _error(exc)

    return endpoint


def build_http_app(data: CoralData, mcp: FastMCP) -> Starlette:
    """Starlette app: /healthz, /api/v1/{services,topology,metrics}, and MCP at /mcp."""

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "version": __version__})

    async def list_services(request: Request) -> BaseModel:
        limit = _int_param(request, "limit") or 50
        return await services.list_services(data, limit, request.query_params.get("cursor"))

    async def topology(request: Request) -> BaseModel:
        return await services.get_topology(data)

    async def query_metrics(request: Request) -> BaseModel:
        params = request.query_params
        service, metric = params.get("service"), params.get("metric")
        if not service or not metric:
            raise CoralError(
                "metrics needs ?service=NAME&metric=NAME", hint="see /api/v1/services for names"
            )
        return await metrics.query_metrics(
            data,
            service,
            metric,
            params.get("start"),
            params.get("end"),
            _int_param(request, "step_s"),
        )

    mcp_app = mcp.http_app(path=MCP_PATH)
    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/api/v1/services", _guarded(list_services)),
            Route("/api/v1/topology", _guarded(topology)),
            Route("/api/v1/metrics", _guarded(query_metrics)),
            Mount("/", app=mcp_app),
        ],
        lifespan=mcp_app.lifespan,  # without it every MCP request fails
    )
