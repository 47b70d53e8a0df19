"""ASGI helper (FastAPI, Starlette, any ASGI app) — two lines:

    from coral_mcp.sdk.asgi import CoralMiddleware
    app.add_middleware(CoralMiddleware, service="api", version="2.1.0", components={...})

The SDK starts when the server sends the lifespan startup (in the worker process, on
the application's event loop, so `async` checks can use the app's clients) and stops at
lifespan shutdown. Requests pass straight through: the only work per request is one
look at `scope["type"]`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from coral_mcp import sdk

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class CoralMiddleware:
    def __init__(self, app: ASGIApp, **init_kwargs: Any) -> None:
        self.app = app
        self._init_kwargs = init_kwargs
        if not isinstance(init_kwargs.get("service"), str):
            raise ValueError("CoralMiddleware: service='name' is required")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def lifespan_receive() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup":
                sdk.init(loop=asyncio.get_running_loop(), **self._init_kwargs)
            elif message["type"] == "lifespan.shutdown":
                sdk.shutdown()
            return message

        await self.app(scope, lifespan_receive, send)
