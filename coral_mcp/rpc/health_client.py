"""The standard gRPC health check (grpc.health.v1 `Check`) for the agent's probes.

The agent's health checks are synchronous and run in its worker threads; its gRPC
client (grpclib) is asyncio. So the gRPC checks share one event loop on a thread of
their own, started at the first gRPC check; each caller waits for its answer within
the check's timeout. A target's channel is kept open between checks while they
succeed (a new one per check would cost a connection and an HTTP/2 handshake each
time); after a failed check it is closed, so the next one connects afresh. `close()`
ends it all; a client dropped without it is closed when collected.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import weakref
from collections.abc import Callable

from grpc_health.v1 import health_pb2  # protobuf only: grpcio is not imported

from coral_mcp.rpc.grpclib_client import Channel, RpcError, open_channel, unary

logger = logging.getLogger(__name__)

CHECK = "/grpc.health.v1.Health/Check"
#: A health answer is a status and nothing else: anything larger is refused.
MAX_REPLY_BYTES = 4096
#: Time allowed beyond a check's own timeout for the loop thread to answer.
SLACK_S = 1.0
_SERVING = health_pb2.HealthCheckResponse.SERVING


class GrpcHealthClient:
    """Asks gRPC servers whether they are serving, from any thread."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._channels: dict[str, Channel] = {}
        self._lock = threading.Lock()
        self._finalizer: Callable[[], object] | None = None

    def check(self, target: str, service: str, timeout_s: float) -> tuple[bool, str]:
        """(serving, detail) of `service` at `target` (HOST:PORT); ValueError for a
        target that is not one."""
        future = asyncio.run_coroutine_threadsafe(
            self._check(target, service, timeout_s), self._running_loop()
        )
        try:
            return future.result(timeout_s + SLACK_S)
        except concurrent.futures.TimeoutError:
            future.cancel()
            return False, "gRPC deadline_exceeded"

    async def _check(self, target: str, service: str, timeout_s: float) -> tuple[bool, str]:
        channel = self._channels.get(target)
        if channel is None:
            channel = self._channels[target] = open_channel(target)
        try:
            reply = await unary(
                channel,
                CHECK,
                health_pb2.HealthCheckRequest(service=service),
                health_pb2.HealthCheckResponse,
                timeout_s=timeout_s,
                max_message_bytes=MAX_REPLY_BYTES,
            )
        except RpcError as exc:
            self._drop(target)
            return False, f"gRPC {exc.status.name.lower()}"
        statuses = health_pb2.HealthCheckResponse.ServingStatus
        name = statuses.Name(reply.status) if reply.status in statuses.values() else reply.status
        return reply.status == _SERVING, f"gRPC {name}"

    def _drop(self, target: str) -> None:
        channel = self._channels.pop(target, None)
        if channel is not None:
            channel.close()

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="grpc-health", daemon=True)
                thread.start()
                self._loop = loop
                self._finalizer = weakref.finalize(self, _shut, loop, thread, self._channels)
            return self._loop

    def close(self) -> None:
        """Close the kept channels and stop the loop's thread."""
        with self._lock:
            finalizer, self._finalizer, self._loop = self._finalizer, None, None
        if finalizer is not None:
            finalizer()


def _shut(
    loop: asyncio.AbstractEventLoop, thread: threading.Thread, channels: dict[str, Channel]
) -> None:
    """Close `channels` on `loop`, stop it and wait (briefly) for its thread to end."""

    def stop() -> None:
        while channels:
            channels.popitem()[1].close()
        loop.call_soon(loop.stop)  # after the transports' own closing callbacks

    loop.call_soon_threadsafe(stop)
    if thread is not threading.current_thread():
        thread.join(SLACK_S)
    if not thread.is_alive():
        loop.close()
