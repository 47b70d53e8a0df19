"""The colony's HTTP surface: a REST API beside MCP (streamable HTTP at /mcp).

REST answers with the same documents as the MCP tools (one logic, two doors): each
route is a tool from `tools/`, and its query parameters (names, types, descriptions,
which are required; absent ones take the tool's default), its result model and the
OpenAPI document at /api/v1/openapi.json are derived from the tool's signature. Errors are
JSON `{"error": ..., "hint": ...}` with a 4xx status; unknown parameters are refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import re
import types
import typing
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from coral_mcp import __version__
from coral_mcp.colony.ask_routes import ask_routes
from coral_mcp.colony.ask_routes import openapi_paths as ask_paths
from coral_mcp.colony.auth import ASGIApp, BearerAuth, Receive, Scope, Send
from coral_mcp.dashboard.app import Dashboard
from coral_mcp.errors import CoralError
from coral_mcp.tools.asks import AskRecord
from coral_mcp.tools.catalog import REST_TOOLS, signature
from coral_mcp.tools.data import CoralData
from coral_mcp.tools.registry import Tool

if TYPE_CHECKING:
    from fastmcp import FastMCP

logger = logging.getLogger(__name__)

MCP_PATH = "/mcp"
#: Largest request body (MCP calls and REST are small JSON documents).
MAX_BODY_BYTES = 1024 * 1024
#: Seconds a request body may take to arrive.
BODY_TIMEOUT_S = 30.0
#: MCP sessions open at once (each holds a task and buffers): past it, a client that
#: opens one more gets 503 "Too many open sessions" until one ends.
MAX_MCP_SESSIONS = 100
#: An MCP session with no request for this long is closed (its client opens a new one).
MCP_SESSION_IDLE_S = 1800.0
API = "/api/v1"


class ErrorOut(BaseModel):
    error: str
    hint: str | None


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    kind: str  # "string", "integer" or "boolean"
    description: str
    required: bool = False
    #: Comma-separated values for a list parameter.
    is_list: bool = False
    #: The tool's default when the parameter is absent (None: no default shown).
    default: Any = None


@dataclass(frozen=True, slots=True)
class ApiRoute:
    path: str
    summary: str
    params: tuple[Param, ...]
    result: type[BaseModel]
    tool: Tool


def _param(p: inspect.Parameter) -> Param:
    """A query parameter from a tool parameter: its name, type, description, default."""
    annotation, description = p.annotation, ""
    if typing.get_origin(annotation) is typing.Annotated:
        annotation, *metadata = typing.get_args(annotation)
        for meta in metadata:
            if isinstance(meta, FieldInfo) and meta.description:
                description = meta.description
    if typing.get_origin(annotation) in (types.UnionType, typing.Union):
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    is_list = typing.get_origin(annotation) is list
    kind = {int: "integer", bool: "boolean"}.get(annotation, "string")
    if is_list:
        description += " Comma-separated."
    required = p.default is inspect.Parameter.empty
    default = None if required else p.default
    return Param(p.name, kind, description, required, is_list, default)


def _summary(tool: Tool) -> str:
    """The first clause of the tool's docstring."""
    text = " ".join((tool.__doc__ or tool.__name__).split())
    return re.split(r"[.:](?:\s|$)", text, maxsplit=1)[0]


def api_routes() -> list[ApiRoute]:
    routes = []
    for name, tool in REST_TOOLS:
        sig = signature(tool)
        params = tuple(_param(p) for p in sig.parameters.values())
        routes.append(
            ApiRoute(f"{API}/{name}", _summary(tool), params, sig.return_annotation, tool)
        )
    return routes


def _value(param: Param, raw: str) -> Any:
    if param.is_list:
        return [item for item in raw.split(",") if item] or None
    if param.kind == "integer":
        try:
            return int(raw)
        except ValueError:
            raise CoralError(f"query parameter {param.name}={raw!r} is not an integer") from None
    if param.kind == "boolean":
        if raw.lower() not in ("true", "false", "1", "0"):
            raise CoralError(f"query parameter {param.name}={raw!r} is not true or false")
        return raw.lower() in ("true", "1")
    return raw


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
            continue  # the tool's own default applies
        values[param.name] = _value(param, raw)
    return values


def _endpoint(route: ApiRoute, data: CoralData) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            result = await route.tool(data, **_parse(route, request))
        except CoralError as exc:
            return JSONResponse({"error": exc.message, "hint": exc.hint}, status_code=400)
        except Exception:  # a bug, not the caller's mistake: JSON still, details logged
            logger.exception("%s failed", route.path)
            return JSONResponse(
                {"error": "internal error", "hint": "see the colony log"}, status_code=500
            )
        return Response(result.model_dump_json(), media_type="application/json")

    return endpoint


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
                        "schema": {"type": p.kind}
                        | ({} if p.default is None else {"default": p.default}),
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
    """404/405 as the JSON error document every other answer uses (a 405 keeps its
    Allow header: the methods the path does answer)."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    headers = exc.headers if isinstance(exc, HTTPException) else None
    if status == 404:
        error = f"no route {request.url.path}"
        hint = f"the REST API is under {API} (see {API}/openapi.json); MCP is at {MCP_PATH}"
    else:
        allowed = (headers or {}).get("Allow", "GET")
        error = f"{request.method} is not allowed on {request.url.path}"
        hint = f"{request.url.path} answers {allowed}"
    return JSONResponse({"error": error, "hint": hint}, status_code=status, headers=headers)


def _response(description: str, model: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model}"}}},
    }


def build_http_app(
    data: CoralData,
    mcp: Callable[[], FastMCP],
    token: str | None,
    health: Callable[[], str | None] = lambda: None,
    dashboard: Dashboard | None = None,
) -> ASGIApp:
    """/healthz, the REST API under /api/v1, MCP at /mcp and the dashboard at /; with
    `token`, REST and MCP need `Authorization: Bearer <token>` and the dashboard its
    session cookie (every path but /healthz and /login answers 401 without them).
    `health` says what is wrong (/healthz answers 503 with it), or None. `mcp` builds
    the MCP server when the first MCP request comes (see `LazyMcp`)."""
    dashboard = dashboard or Dashboard(data, None)
    routes = api_routes()
    document = openapi_document(routes)
    document["paths"].update(ask_paths())
    document["components"]["schemas"]["AskRecord"] = AskRecord.model_json_schema(
        ref_template="#/components/schemas/{model}"
    )

    async def healthz(request: Request) -> Response:
        problem = health()
        if problem is not None:
            return JSONResponse({"status": problem, "version": __version__}, status_code=503)
        return JSONResponse({"status": "ok", "version": __version__})

    async def openapi(request: Request) -> Response:
        return JSONResponse(document)

    mcp_app = LazyMcp(mcp)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await mcp_app.close()

    app = Starlette(
        exception_handlers={404: _json_http_error, 405: _json_http_error},
        routes=[
            Route("/healthz", healthz),
            Route(f"{API}/openapi.json", openapi),
            *(Route(r.path, _endpoint(r, data)) for r in routes),
            *ask_routes(data),
            *dashboard.routes(),
            # Only /mcp goes to the MCP app (its one route): a path that exists for other
            # methods answers 405 with Allow, an unknown one 404, both from this router.
            Route(MCP_PATH, mcp_app),
        ],
        lifespan=lifespan,
    )
    bounded = BodyLimit(app, MAX_BODY_BYTES, BODY_TIMEOUT_S)
    return bounded if token is None else BearerAuth(bounded, token, dashboard)


class LazyMcp:
    """The MCP app at /mcp, made when the first MCP request comes: importing fastmcp and
    the MCP SDK and building the server cost ~0.9 s of CPU and ~25 MiB, which a colony
    that no MCP client asks (one behind `coral up` showing its dashboard, a colony
    serving REST and agents) need not pay at every start. The build runs in a thread
    (the event loop keeps serving gRPC and REST meanwhile); the MCP app's lifespan runs
    in a task of its own until `close` (without it every MCP request fails)."""

    def __init__(self, build: Callable[[], FastMCP]) -> None:
        self._build = build
        self._app: ASGIApp | None = None
        self._lock = asyncio.Lock()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self._app or await self._start()
        await app(scope, receive, send)

    async def _start(self) -> ASGIApp:
        async with self._lock:
            if self._app is None:
                mcp_app = await asyncio.to_thread(self._made)
                ready = asyncio.get_running_loop().create_future()
                self._task = asyncio.create_task(self._serve(mcp_app, ready), name="mcp")
                await ready  # raises what the lifespan raised
                self._app = mcp_app
            return self._app

    def _made(self) -> Starlette:
        mcp_app: Starlette = self._build().http_app(
            path=MCP_PATH, session_idle_timeout=MCP_SESSION_IDLE_S
        )
        for status in (404, 405):
            mcp_app.add_exception_handler(status, _json_http_error)
        return mcp_app

    async def _serve(self, mcp_app: Starlette, ready: asyncio.Future[None]) -> None:
        try:
            async with mcp_app.router.lifespan_context(mcp_app):
                _bound_sessions(mcp_app, MAX_MCP_SESSIONS)
                ready.set_result(None)
                await self._stop.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            raise

    async def close(self) -> None:
        """End the MCP app's lifespan (its sessions), when it was made."""
        self._stop.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)


def _bound_sessions(mcp_app: Starlette, most: int) -> None:
    """Cap the MCP app's open sessions at `most` (FastMCP makes its session manager as
    the app starts, with the SDK's cap of 10,000; it has no parameter for it)."""
    from mcp.server.streamable_http_manager import (  # noqa: PLC0415 - see LazyMcp
        StreamableHTTPSessionManager,
    )

    endpoints = [getattr(route, "endpoint", None) for route in mcp_app.routes]
    managers = [
        manager
        for endpoint in endpoints
        if isinstance(
            manager := getattr(endpoint, "session_manager", None), StreamableHTTPSessionManager
        )
    ]
    if not managers:
        raise RuntimeError("the MCP app has no session manager to bound")
    for manager in managers:
        manager.max_sessions = most


class BodyLimit:
    """ASGI middleware: the request body is read here first, bounded: over `max_bytes`
    it gets 413, taking longer than `timeout_s` to arrive 408 (a slow client holds no
    task for long); the app then reads the body from memory."""

    def __init__(self, app: ASGIApp, max_bytes: int, timeout_s: float) -> None:
        self._app, self._max_bytes, self._timeout_s = app, max_bytes, timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self._app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length", b"0")
        if declared.isdigit() and int(declared) > self._max_bytes:
            await _plain(send, 413, f"request body over {self._max_bytes} bytes")
            return
        try:
            async with asyncio.timeout(self._timeout_s):
                body = await self._read(receive)
        except TimeoutError:
            await _plain(send, 408, "request body too slow")
            return
        if body is None:
            await _plain(send, 413, f"request body over {self._max_bytes} bytes")
            return
        replayed = False

        async def from_memory() -> MutableMapping[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: a disconnect, whenever it comes

        await self._app(scope, from_memory, send)

    async def _read(self, receive: Receive) -> bytes | None:
        """The whole body, or None once it exceeds the bound."""
        parts: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return b"".join(parts)  # the client left: the app will see it
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self._max_bytes:
                return None
            parts.append(chunk)
            if not message.get("more_body", False):
                return b"".join(parts)


async def _plain(send: Send, status: int, error: str) -> None:
    body = json.dumps({"error": error, "hint": None}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
