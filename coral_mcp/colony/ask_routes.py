"""REST routes where `coral ask` keeps its conversations: POST one, GET the newest.

The only writing route of the colony's API, and no MCP tool reaches it: the ask loop
(and any assistant) can read a conversation as `coral://investigations/{id}` but never
write one. The body is untrusted: bounded in size, validated field by field.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import duckdb
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from coral_mcp.tools.asks import AskRecord, RangeIn
from coral_mcp.tools.data import CoralData

MAX_BODY_BYTES = 1024 * 1024
ASKS = "/api/v1/asks"


def _error(status: int, message: str, hint: str | None = None) -> Response:
    return JSONResponse({"error": message, "hint": hint}, status_code=status)


def _time(text: str | None, default: datetime) -> datetime:
    if not text:
        return default
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return default
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def ask_routes(data: CoralData) -> list[Route]:
    async def record(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return _error(413, f"a conversation is at most {MAX_BODY_BYTES} bytes")
        try:
            doc = AskRecord.model_validate(json.loads(body))
        except ValueError as exc:
            reason = exc.errors()[0] if isinstance(exc, ValidationError) else None
            where = ".".join(str(p) for p in reason["loc"]) if reason else "body"
            message = reason["msg"] if reason else "not JSON"
            return _error(400, f"{where}: {message}", "send the record `coral ask --json` prints")
        started = _time(doc.started_at, data.now())
        span = doc.range or RangeIn(start=None, end=None)
        start, end = _time(span.start, started), _time(span.end, started)
        try:
            await data.record_ask(doc.model_dump(mode="json"), start, end)
        except duckdb.ConstraintException:
            return _error(409, f"conversation {doc.id} is already stored")
        uri = f"coral://investigations/{doc.id}"
        return JSONResponse({"id": doc.id, "uri": uri}, status_code=201)

    async def latest(request: Request) -> Response:
        found = await data.latest_ask()
        if found is None:
            return _error(404, "no conversation yet", 'ask one first: coral ask "what happened?"')
        return JSONResponse(found)

    return [
        Route(ASKS, record, methods=["POST"]),
        Route(f"{ASKS}/latest", latest, methods=["GET"]),
    ]


def openapi_paths() -> dict[str, Any]:
    """The ask routes for the OpenAPI document."""
    error = {"$ref": "#/components/schemas/ErrorOut"}
    record = {"$ref": "#/components/schemas/AskRecord"}

    def body(schema: dict[str, Any]) -> dict[str, Any]:
        return {"content": {"application/json": {"schema": schema}}}

    return {
        ASKS: {
            "post": {
                "summary": "Store a `coral ask` conversation (read it as coral://investigations/{id})",
                "operationId": "record_ask",
                "requestBody": {"required": True, **body(record)},
                "responses": {
                    "201": {"description": "Stored", **body({"type": "object"})},
                    "400": {"description": "Bad request", **body(error)},
                    "409": {"description": "Already stored", **body(error)},
                    "413": {"description": "Too large", **body(error)},
                },
            }
        },
        f"{ASKS}/latest": {
            "get": {
                "summary": "The newest `coral ask` conversation (for --continue)",
                "operationId": "latest_ask",
                "parameters": [],
                "responses": {
                    "200": {"description": "OK", **body(record)},
                    "404": {"description": "None yet", **body(error)},
                },
            }
        },
    }
