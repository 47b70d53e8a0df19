"""A Starlette app with the SDK added in two lines, served by uvicorn.

    python asgi_app.py --port P

Its `pool` component is an async check that uses a resource bound to the app's event
loop (an asyncio.Queue made at startup); `/toggle` makes it unhealthy.
"""

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator

import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from coral_mcp.sdk.asgi import CoralMiddleware

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
args = parser.parse_args()

state: dict[str, asyncio.Queue[bool]] = {}


async def pool_ok() -> tuple[bool, str]:
    queue = state["pool"]  # made on the app's loop: only usable from there
    healthy = queue.get_nowait()
    queue.put_nowait(healthy)
    return healthy, "4 connections idle" if healthy else "no connection in 5 s"


async def toggle(request: object) -> PlainTextResponse:
    queue = state["pool"]
    queue.put_nowait(not queue.get_nowait())
    return PlainTextResponse("toggled")


async def hello(request: object) -> PlainTextResponse:
    return PlainTextResponse("hello")


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    state["pool"] = asyncio.Queue()
    state["pool"].put_nowait(True)
    yield


app = Starlette(routes=[Route("/", hello), Route("/toggle", toggle)], lifespan=lifespan)
app.add_middleware(CoralMiddleware, service="web", version="3.0.1", components={"pool": pool_ok})

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")
