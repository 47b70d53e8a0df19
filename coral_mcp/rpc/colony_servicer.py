"""The colony's gRPC service (`coral.v1.Colony`): Register and the per-agent stream.

The servicer only speaks protobuf: it decodes each message with the codec, hands the
models to an `IngestSink`, and acknowledges a sequence number only after the sink
says it is committed. Malformed messages are refused with a reason and logged; the
stream, and every other agent's stream, carries on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio

from coral_mcp import PROTOCOL_VERSION
from coral_mcp.errors import ProtocolError
from coral_mcp.models import (
    DetailQuery,
    QueryReply,
    ServiceBatch,
    ServiceState,
    SummaryWindow,
)
from coral_mcp.models.messages import DataBody
from coral_mcp.proto import coral_pb2 as pb
from coral_mcp.proto import coral_pb2_grpc as pb_grpc
from coral_mcp.rpc import codec

logger = logging.getLogger(__name__)

#: Longest hostname (DNS allows 253) and agent version accepted at registration.
MAX_HOSTNAME_CHARS = 255
MAX_VERSION_CHARS = 64
#: How far ahead of the colony's clock an agent's timestamps may be (clock skew).
MAX_AHEAD_MS = 24 * 3600 * 1000
#: Data messages of one stream in flight (taken in, not yet acknowledged): the next
#: message is read while earlier ones commit, so what an agent sends together (a push's
#: summaries and services) shares one transaction of the writer. Past this many the
#: stream is not read, and gRPC's flow control holds the agent back.
IN_FLIGHT = 4


class IngestSink(Protocol):
    """Where the servicer delivers what agents send (the colony's ingest service)."""

    async def register(
        self,
        agent_id: str,
        hostname: str,
        agent_version: str,
        protocol_version: int,
        peer: str,
        services: tuple[ServiceState, ...],
    ) -> int:
        """Record the agent; return the highest sequence committed for it."""

    def connected(
        self, agent_id: str, peer: str, send_query: Callable[[DetailQuery], None]
    ) -> int | None:
        """A stream opened; the committed sequence, or None for an unknown agent.

        `send_query` puts a detail query on this agent's stream.
        """

    def disconnected(self, agent_id: str) -> None: ...

    def committed(self, agent_id: str) -> int:
        """The highest sequence committed for the agent so far (0: none)."""

    def heartbeat(self, agent_id: str) -> None: ...

    def reply(self, agent_id: str, reply: QueryReply) -> None:
        """An agent answered a detail query."""

    def ingest(self, agent_id: str, seq: int, body: DataBody) -> Awaitable[None]:
        """Queue one data message for commit, after the agent's messages queued before
        it; the awaitable completes once it is stored. Should an earlier one fail, this
        one fails too, unstored."""

    def reject(self, agent_id: str, seq: int, reason: str) -> Awaitable[None]:
        """Count a refused message as handled, so the agent stops resending it (queued
        as `ingest` does)."""


class Authorizer(Protocol):
    """Who may speak as which agent (the mesh): identity comes from the caller's tunnel
    address or client certificate, never from a field the caller sends."""

    def check(self, context: grpc.aio.ServicerContext[object, object], agent_id: str) -> str | None:
        """Why this caller may not speak as `agent_id`, or None when it may."""

    def revoked(self, agent_id: str) -> bool: ...


#: A data message taken in: the sequence to acknowledge once its write (if any) is stored.
_Ack = tuple[int, "asyncio.Future[None] | None"]


class _RevokedError(Exception):
    """The agent was revoked while its stream was open."""


class ColonyServicer(pb_grpc.ColonyServicer):
    def __init__(
        self,
        sink: IngestSink,
        authorizer: Authorizer | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._sink = sink
        self._authorizer = authorizer
        self._clock = clock
        #: Per agent, its last write: the stream that queued it, its sequence, its future.
        self._writing: dict[str, tuple[object, int, asyncio.Future[None]]] = {}
        #: Per agent, its last service batch (codec.ServicesSeen).
        self._services_seen: dict[str, codec.ServicesSeen] = {}

    def _refusal(
        self, context: grpc.aio.ServicerContext[object, object], agent_id: str
    ) -> str | None:
        if self._authorizer is None:
            return None
        reason = self._authorizer.check(context, agent_id)
        if reason is not None:
            logger.warning("refused %s from %s: %s", agent_id or "a caller", context.peer(), reason)
        return reason

    async def Register(
        self, request: pb.RegisterRequest, context: grpc.aio.ServicerContext[object, object]
    ) -> pb.RegisterResponse:
        if request.protocol_version != PROTOCOL_VERSION:
            reason = (
                f"agent speaks protocol v{request.protocol_version}, this colony speaks"
                f" v{PROTOCOL_VERSION}: run the same Coral version on both"
            )
            logger.warning("refused agent %r: %s", request.agent_id, reason)
            return pb.RegisterResponse(
                accepted=False, reason=reason, protocol_version=PROTOCOL_VERSION
            )
        if (refusal := self._refusal(context, request.agent_id)) is not None:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, refusal)
        try:
            codec.name(request.agent_id, "agent_id")
            codec.name(request.hostname, "hostname", MAX_HOSTNAME_CHARS)
            codec.name(request.agent_version or "?", "agent version", MAX_VERSION_CHARS)
            services = tuple(codec.service_from_pb(s) for s in request.services)
        except ProtocolError as exc:
            logger.warning("refused registration from %s: %s", context.peer(), exc)
            return pb.RegisterResponse(
                accepted=False, reason=str(exc), protocol_version=PROTOCOL_VERSION
            )
        committed = await self._sink.register(
            request.agent_id,
            request.hostname,
            request.agent_version,
            request.protocol_version,
            context.peer(),
            services,
        )
        logger.info(
            "agent %s (%s) registered from %s with %d services",
            request.agent_id,
            request.hostname,
            context.peer(),
            len(services),
        )
        return pb.RegisterResponse(
            accepted=True, protocol_version=PROTOCOL_VERSION, committed_seq=committed
        )

    async def Connect(
        self,
        request_iterator: AsyncIterator[pb.AgentMessage],
        context: grpc.aio.ServicerContext[object, object],
    ) -> AsyncIterator[pb.ColonyMessage]:
        first = await anext(request_iterator, None)
        if first is None:
            return
        if first.WhichOneof("body") != "hello" or not first.hello.agent_id:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "the first message must be hello{agent_id}"
            )
        agent_id = first.hello.agent_id
        if (reason := self._refusal(context, agent_id)) is not None:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, reason)
        outbox: asyncio.Queue[pb.ColonyMessage] = asyncio.Queue()

        def send_query(query: DetailQuery) -> None:
            outbox.put_nowait(pb.ColonyMessage(query=codec.detail_query_to_pb(query)))

        committed = self._sink.connected(agent_id, context.peer(), send_query)
        if committed is None:
            logger.warning("stream from unknown agent %r (%s) refused", agent_id, context.peer())
            await context.abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"unknown agent {agent_id!r}: call Register first",
            )
            return
        outbox.put_nowait(_ack(committed))
        reader = asyncio.create_task(self._read(agent_id, committed, request_iterator, outbox))
        try:
            while True:
                getter = asyncio.create_task(outbox.get())
                await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
                if getter.done():
                    yield getter.result()
                    continue
                getter.cancel()
                while not outbox.empty():
                    yield outbox.get_nowait()
                try:
                    reader.result()  # the agent closed the stream, or it failed: re-raise
                except _RevokedError:
                    logger.warning("agent %s is revoked: its stream is cut", agent_id)
                    await context.abort(grpc.StatusCode.PERMISSION_DENIED, "agent revoked")
                return
        finally:
            reader.cancel()
            self._sink.disconnected(agent_id)

    async def _read(
        self,
        agent_id: str,
        committed: int,
        request_iterator: AsyncIterator[pb.AgentMessage],
        outbox: asyncio.Queue[pb.ColonyMessage],
    ) -> None:
        """Take the agent's messages in, and acknowledge each data message once it is
        stored, in order; raise when one cannot be stored (the agent resends it)."""
        acks: asyncio.Queue[_Ack | None] = asyncio.Queue(IN_FLIGHT)
        feeder = asyncio.create_task(self._feed(agent_id, committed, request_iterator, acks))
        acker = asyncio.create_task(_acknowledge(acks, outbox))
        try:
            await asyncio.wait({feeder, acker}, return_when=asyncio.FIRST_EXCEPTION)
            for task in (feeder, acker):
                if task.done():
                    task.result()  # re-raise
            await acker
        finally:
            feeder.cancel()
            acker.cancel()

    async def _feed(
        self,
        agent_id: str,
        accepted: int,
        request_iterator: AsyncIterator[pb.AgentMessage],
        acks: asyncio.Queue[_Ack | None],
    ) -> None:
        async for message in request_iterator:
            if self._authorizer is not None and self._authorizer.revoked(agent_id):
                raise _RevokedError(agent_id)
            if message.WhichOneof("body") == "reply":
                self._sink.heartbeat(agent_id)
                self._sink.reply(agent_id, codec.query_reply_from_pb(message.reply))
                continue
            accepted = await self._after_other_streams(agent_id, acks, accepted)
            stored = self._handle(agent_id, accepted, message)
            if stored is not None:
                accepted = message.seq
                self._writing[agent_id] = (acks, accepted, stored)
            if message.seq:
                await acks.put((accepted, stored))  # waits while IN_FLIGHT are unacknowledged
        await acks.put(None)

    async def _after_other_streams(self, agent_id: str, stream: object, accepted: int) -> int:
        """The sequence accepted from this agent, once what another of its streams
        queued is stored (or failed): a sequence number sent on two streams at once is
        stored once."""
        while (writing := self._writing.get(agent_id)) is not None:
            other, seq, stored = writing
            if other is stream:
                break
            if not stored.done():
                await asyncio.wait({stored})
                continue
            if not stored.cancelled() and stored.exception() is None:  # and all before it
                accepted = max(accepted, seq)
            break
        return max(accepted, self._sink.committed(agent_id))

    def _handle(
        self, agent_id: str, accepted: int, message: pb.AgentMessage
    ) -> asyncio.Future[None] | None:
        """Check one message against the sequence accepted so far and queue its data for
        commit; the future of that write, or None when nothing is written."""
        kind = message.WhichOneof("body")
        self._sink.heartbeat(agent_id)
        if kind in ("heartbeat", "hello") or (kind is None and not message.seq):
            return None
        seq = message.seq
        if seq == 0:
            logger.warning("agent %s sent %s without a sequence number: ignored", agent_id, kind)
            return None
        if seq > codec.MAX_SEQ or (accepted and seq > accepted + codec.MAX_SEQ_JUMP):
            logger.warning(
                "agent %s: refused seq %d after %d: no real agent jumps so far",
                agent_id,
                seq,
                accepted,
            )
            return None
        if seq <= accepted:
            logger.debug(
                "agent %s replayed seq %d (committed %d): ignored", agent_id, seq, accepted
            )
            return None
        if seq > accepted + 1:
            logger.warning(
                "agent %s skipped from seq %d to %d: messages were lost", agent_id, accepted, seq
            )
        try:
            seen = self._services_seen.get(agent_id)
            if seen is None:
                seen = self._services_seen[agent_id] = codec.ServicesSeen()
            body = codec.data_from_pb(message, seen)
            _not_future(body, int(self._clock() * 1000) + MAX_AHEAD_MS)
        except ProtocolError as exc:
            logger.warning("agent %s: refused message seq %d: %s", agent_id, seq, exc)
            return asyncio.ensure_future(self._sink.reject(agent_id, seq, str(exc)))
        return asyncio.ensure_future(self._sink.ingest(agent_id, seq, body))


async def _acknowledge(
    acks: asyncio.Queue[_Ack | None], outbox: asyncio.Queue[pb.ColonyMessage]
) -> None:
    """Acknowledge what `acks` holds, in order, each once its write is stored; raise the
    StorageError of a write that failed. Ends at None. Acknowledgements are cumulative:
    of messages stored together (a push's summaries and services), only the last is."""
    ack = await acks.get()
    while ack is not None:
        accepted, stored = ack
        if stored is not None:
            # Shielded: the write goes on when the stream is cut (another stream of the
            # agent waits for it).
            await asyncio.shield(stored)
        if acks.empty():
            outbox.put_nowait(_ack(accepted))
            ack = await acks.get()
            continue
        ack = acks.get_nowait()
        if ack is None or not _stored(ack[1]):
            outbox.put_nowait(_ack(accepted))


def _stored(write: asyncio.Future[None] | None) -> bool:
    """Whether a message's write (None: none) is already stored."""
    return write is None or (write.done() and not write.cancelled() and not write.exception())


def _not_future(body: DataBody, latest_ms: int) -> None:
    """Refuse times past `latest_ms`: stored, they would never expire."""
    if isinstance(body, SummaryWindow):
        times = [body.end_ms]
    elif isinstance(body, ServiceBatch):
        times = [body.observed_ms]
    else:
        times = [e.ts_ms for e in body.events]
    if times and max(times) > latest_ms:
        raise ProtocolError("a time more than a day ahead of the colony's clock")


def _ack(committed: int) -> pb.ColonyMessage:
    return pb.ColonyMessage(ack=pb.Ack(committed_seq=committed))


def add_colony_service(server: grpc.aio.Server, servicer: ColonyServicer) -> None:
    pb_grpc.add_ColonyServicer_to_server(servicer, server)


class ColonyHealth:
    """gRPC's standard health service on the colony's server, serving once started."""

    def __init__(self, server: grpc.aio.Server) -> None:
        self._health = health_aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)

    async def serving(self) -> None:
        for service in ("", "coral.v1.Colony"):
            await self._health.set(service, health_pb2.HealthCheckResponse.SERVING)
