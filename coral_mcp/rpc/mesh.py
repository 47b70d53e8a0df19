"""The mesh's gRPC edge: the Join and Discovery services, domain values in and out.

`mesh/` and `discovery/` implement the handlers below with `models.mesh` values; this
module alone turns them into `coral.v1` protobuf and back, registers the servicers and
makes the client calls. gRPC errors (`grpc.RpcError`) pass through to the caller, who
knows what each status code means for it.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Protocol

import grpc

from coral_mcp.models.mesh import JoinGrant, JoinRequestInfo, SignedRecord
from coral_mcp.proto import coral_pb2 as pb
from coral_mcp.proto import coral_pb2_grpc as pb_grpc

logger = logging.getLogger(__name__)

Context = grpc.aio.ServicerContext[object, object]


def split_peer(peer: str) -> tuple[str, int]:
    """('1.2.3.4', 5678) from gRPC's 'ipv4:1.2.3.4:5678' (or 'ipv6:[::1]:5678')."""
    _, _, rest = peer.partition(":")
    host, _, port = rest.rpartition(":")
    return host.strip("[]"), int(port) if port.isdigit() else 0


# --- Join -------------------------------------------------------------------------------

#: Join attempts per second a source address may make, and the burst it may save up:
#: a fleet behind one NAT joins in a few seconds; a flood, or guessing, goes nowhere.
JOIN_RATE_PER_S = 5.0
JOIN_BURST = 30


class JoinLimiter:
    """A token bucket per source address (bounded: the least recently seen are dropped)."""

    def __init__(
        self,
        rate_per_s: float = JOIN_RATE_PER_S,
        burst: int = JOIN_BURST,
        clock: Callable[[], float] = time.monotonic,
        max_sources: int = 10_000,
    ) -> None:
        self._rate, self._burst, self._clock = rate_per_s, float(burst), clock
        self._max_sources = max_sources
        self._buckets: dict[str, tuple[float, float]] = {}  # source -> (tokens, when)
        self._warned: dict[str, float] = {}

    def allow(self, source: str) -> bool:
        now = self._clock()
        tokens, when = self._buckets.pop(source, (self._burst, now))
        tokens = min(self._burst, tokens + (now - when) * self._rate)
        allowed = tokens >= 1.0
        self._buckets[source] = (tokens - 1.0 if allowed else tokens, now)
        if len(self._buckets) > self._max_sources:
            del self._buckets[next(iter(self._buckets))]
        return allowed

    def should_warn(self, source: str) -> bool:
        """True at most once a minute per source (refusals are not logged one by one)."""
        now = self._clock()
        if now - self._warned.get(source, -math.inf) < 60.0:
            return False
        self._warned[source] = now
        if len(self._warned) > self._max_sources:
            del self._warned[next(iter(self._warned))]
        return True


class JoinHandler(Protocol):
    async def join(self, request: JoinRequestInfo, peer: str) -> JoinGrant | str:
        """The grant for an admitted agent, or the reason it is refused."""
        ...


def _request_to_pb(request: JoinRequestInfo) -> pb.JoinRequest:
    return pb.JoinRequest(
        token_id=request.token_id,
        secret=request.secret,
        agent_id=request.agent_id,
        hostname=request.hostname,
        wg_public_key=request.wg_public_key,
        tls_public_key=request.tls_public_key,
    )


def _request_from_pb(msg: pb.JoinRequest) -> JoinRequestInfo:
    return JoinRequestInfo(
        msg.token_id, msg.secret, msg.agent_id, msg.hostname, msg.wg_public_key, msg.tls_public_key
    )


def _grant_to_pb(grant: JoinGrant) -> pb.JoinResponse:
    return pb.JoinResponse(
        mesh_address=grant.mesh_address,
        mesh_subnet=grant.mesh_subnet,
        colony_mesh_address=grant.colony_mesh_address,
        colony_wg_public_key=grant.colony_wg_public_key,
        colony_wg_endpoints=list(grant.colony_wg_endpoints),
        colony_grpc_port=grant.colony_grpc_port,
        agent_certificate=grant.agent_certificate,
        colony_tls_endpoints=list(grant.colony_tls_endpoints),
        mesh_id=grant.mesh_id,
    )


def _grant_from_pb(msg: pb.JoinResponse) -> JoinGrant:
    return JoinGrant(
        mesh_id=msg.mesh_id,
        mesh_address=msg.mesh_address,
        mesh_subnet=msg.mesh_subnet,
        colony_mesh_address=msg.colony_mesh_address,
        colony_wg_public_key=msg.colony_wg_public_key,
        colony_wg_endpoints=tuple(msg.colony_wg_endpoints),
        colony_grpc_port=msg.colony_grpc_port,
        agent_certificate=msg.agent_certificate,
        colony_tls_endpoints=tuple(msg.colony_tls_endpoints),
    )


class _MeshServicer(pb_grpc.MeshServicer):
    def __init__(self, handler: JoinHandler) -> None:
        self._handler = handler
        self._limiter = JoinLimiter()

    async def Join(self, request: pb.JoinRequest, context: Context) -> pb.JoinResponse:
        source = split_peer(context.peer())[0]
        if not self._limiter.allow(source):
            if self._limiter.should_warn(source):
                logger.warning("too many join attempts from %s: refusing for now", source)
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED, "too many join attempts: wait and retry"
            )
            raise AssertionError("unreachable")
        answer = await self._handler.join(_request_from_pb(request), context.peer())
        if isinstance(answer, str):
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, f"join refused: {answer}")
            raise AssertionError("unreachable")
        return _grant_to_pb(answer)


def add_join_service(server: grpc.aio.Server, handler: JoinHandler) -> None:
    pb_grpc.add_MeshServicer_to_server(_MeshServicer(handler), server)


def call_join(channel: grpc.Channel, request: JoinRequestInfo, timeout_s: float) -> JoinGrant:
    answer: pb.JoinResponse = pb_grpc.MeshStub(channel).Join(
        _request_to_pb(request), timeout=timeout_s
    )
    return _grant_from_pb(answer)


# --- Discovery --------------------------------------------------------------------------


class DiscoveryHandler(Protocol):
    def publish(self, signed: SignedRecord, peer: str) -> str | None:
        """None when the record is accepted, else the reason it is refused."""
        ...

    def resolve(self, mesh_id: str) -> SignedRecord | None:
        """The live record for `mesh_id`, if any."""
        ...


class _DiscoveryServicer(pb_grpc.DiscoveryServicer):
    def __init__(self, handler: DiscoveryHandler) -> None:
        self._handler = handler

    async def Publish(self, request: pb.SignedRecord, context: Context) -> pb.PublishResponse:
        reason = self._handler.publish(
            SignedRecord(request.record, request.signature), context.peer()
        )
        return pb.PublishResponse(accepted=reason is None, reason=reason or "")

    async def Resolve(self, request: pb.ResolveRequest, context: Context) -> pb.SignedRecord:
        found = self._handler.resolve(request.mesh_id)
        if found is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no record for mesh {request.mesh_id}")
            raise AssertionError("unreachable")
        return pb.SignedRecord(record=found.record, signature=found.signature)

    async def Observe(self, request: pb.ObserveRequest, context: Context) -> pb.ObserveResponse:
        host, port = split_peer(context.peer())
        return pb.ObserveResponse(address=host, port=port)


def add_discovery_service(server: grpc.aio.Server, handler: DiscoveryHandler) -> None:
    pb_grpc.add_DiscoveryServicer_to_server(_DiscoveryServicer(handler), server)


def call_resolve(channel: grpc.Channel, mesh_id: str, timeout_s: float) -> SignedRecord:
    answer: pb.SignedRecord = pb_grpc.DiscoveryStub(channel).Resolve(
        pb.ResolveRequest(mesh_id=mesh_id), timeout=timeout_s
    )
    return SignedRecord(answer.record, answer.signature)


async def call_publish(
    channel: grpc.aio.Channel, signed: SignedRecord, timeout_s: float
) -> str | None:
    """None when the service accepted the record, else its reason."""
    answer = await pb_grpc.DiscoveryStub(channel).Publish(
        pb.SignedRecord(record=signed.record, signature=signed.signature), timeout=timeout_s
    )
    return None if answer.accepted else answer.reason


def call_observe(channel: grpc.Channel, timeout_s: float) -> tuple[str, int]:
    """The address and port the discovery service sees the caller at."""
    answer = pb_grpc.DiscoveryStub(channel).Observe(pb.ObserveRequest(), timeout=timeout_s)
    return answer.address, answer.port
