"""The agent's side of the protocol: Register, then one long-lived Connect stream.

Data messages get a per-agent sequence number when submitted and stay pending until
the colony acknowledges them; after a reconnect every pending message is sent again
(the colony ignores sequences it already committed). With a `Backlog` the pending
messages are also kept on disk, so an agent restarted before its colony returned
sends them again, under the same sequence numbers: each arrives exactly once. When
the colony is away the client retries with jittered exponential backoff, logging each
failure once per attempt, and waits on the stop event rather than sleeping.

The client is grpclib (`grpclib_client`), not grpcio: the agent process never loads
gRPC's C core. The colony serves with grpcio; the wire is the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from coral_mcp.errors import ProtocolError
from coral_mcp.models import (
    DetailQuery,
    QueryReply,
    ServiceState,
)
from coral_mcp.models.messages import DataBody
from coral_mcp.proto import coral_pb2 as pb
from coral_mcp.rpc import codec
from coral_mcp.rpc.grpclib_client import (
    RETRYABLE,
    BoundedStream,
    Cardinality,
    RpcError,
    Status,
    as_rpc_error,
    open_channel,
    request,
    unary,
)

if TYPE_CHECKING:
    import ssl

logger = logging.getLogger(__name__)

REGISTER = "/coral.v1.Colony/Register"
CONNECT = "/coral.v1.Colony/Connect"
ConnectCall = BoundedStream[pb.AgentMessage, pb.ColonyMessage]

QueryHandler = Callable[[DetailQuery], Awaitable[QueryReply]]
#: Room kept for the envelope when checking a message against the size bound.
MESSAGE_OVERHEAD_BYTES = 64
#: On a normal stop, how long to wait for the colony to commit what is still pending
#: (pending messages live only in memory: a restart would otherwise lose them).
DRAIN_S = 3.0


class Backlog(Protocol):
    """Where unacknowledged messages survive a restart (the agent's ring store), and
    the record of the sequence numbers used: with a backlog, `on_seq` is told only
    when the colony moves the numbering on, not at every message."""

    def keep(self, messages: Iterable[tuple[int, bytes]]) -> None: ...

    def forget(self, upto_seq: int) -> None: ...

    def load(self) -> list[tuple[int, bytes]]: ...

    @property
    def last_seq(self) -> int:
        """The highest sequence number ever kept (0: none)."""
        ...


@dataclass(frozen=True, slots=True)
class Backoff:
    """Jittered exponential backoff: base * factor**attempt, capped, times 0.5-1.0."""

    base_s: float = 0.5
    factor: float = 2.0
    cap_s: float = 30.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        return min(self.cap_s, self.base_s * self.factor**attempt) * rng.uniform(0.5, 1.0)


@dataclass(frozen=True, slots=True)
class Registration:
    agent_id: str
    hostname: str
    agent_version: str
    protocol_version: int
    services: tuple[ServiceState, ...]


class AgentRefusedError(Exception):
    """The colony refused this agent (e.g. incompatible protocol)."""


class AgentStream:
    """Delivers an agent's messages to its colony, reconnecting as needed."""

    def __init__(
        self,
        target: str,
        registration: Callable[[], Registration],
        *,
        first_seq: int = 1,
        on_seq: Callable[[int], None] = lambda seq: None,
        max_pending: int = 1000,
        heartbeat_s: float = 10.0,
        call_timeout_s: float = 10.0,
        max_message_bytes: int = 4 * 1024 * 1024,
        backoff: Backoff = Backoff(),
        rng: random.Random | None = None,
        on_query: QueryHandler | None = None,
        ssl_context: ssl.SSLContext | None = None,
        server_name: str | None = None,
        backlog: Backlog | None = None,
        token: str | Callable[[], str | None] | None = None,
    ) -> None:
        self._target = target
        #: TLS (the mesh: the colony's certificate pinned, the agent's own shown) and
        #: the name the colony's certificate carries; None: plain gRPC.
        self._ssl_context = ssl_context
        self._server_name = server_name
        self._registration = registration
        self._next_seq = first_seq
        self._on_seq = on_seq
        self._max_pending = max_pending
        self._heartbeat_s = heartbeat_s
        self._call_timeout_s = call_timeout_s
        self._max_message_bytes = max_message_bytes
        self._backoff = backoff
        self._rng = rng or random.Random()
        self._on_query = on_query
        self._pending: OrderedDict[int, pb.AgentMessage] = OrderedDict()
        self._replies: list[pb.AgentMessage] = []
        self._answering: set[asyncio.Task[None]] = set()
        self._wakeup = asyncio.Event()
        self._acked = asyncio.Event()
        self.connected = asyncio.Event()
        self.committed_seq = 0
        #: Bytes of every data message queued so far (each encoded once, here).
        self.queued_bytes = 0
        self._refused_ack = 0
        self._backlog = backlog
        #: The colony's token, for its plain gRPC port (the mesh uses certificates); a
        #: callable is asked at each connection (the colony may write it only later).
        self._token = token
        if backlog is not None:
            self._next_seq = max(self._next_seq, backlog.last_seq + 1)
            for seq, blob in backlog.load():  # what a previous run could not deliver
                self._pending[seq] = pb.AgentMessage.FromString(blob)
                self._next_seq = max(self._next_seq, seq + 1)
            if self._pending:
                logger.info("%d unacknowledged messages kept from before", len(self._pending))

    def _auth(self) -> tuple[tuple[str, str], ...] | None:
        token = self._token() if callable(self._token) else self._token
        return (("authorization", f"Bearer {token}"),) if token else None

    @property
    def pending(self) -> int:
        return len(self._pending)

    def submit(self, body: DataBody) -> int:
        """Queue a data message (split to fit the size bound); return its last sequence."""
        seq = 0
        added: list[pb.AgentMessage] = []
        for message in self._fitting(body):
            seq = message.seq = self._next_seq
            self._next_seq += 1
            self._pending[seq] = message
            self.queued_bytes += message.ByteSize()
            added.append(message)
        if self._backlog is None:
            self._on_seq(self._next_seq)
        elif added:  # the backlog is the record of the numbers used
            self._backlog.keep([(m.seq, m.SerializeToString()) for m in added])
        lost = 0
        while len(self._pending) > self._max_pending:
            lost, _ = self._pending.popitem(last=False)
            logger.warning("colony unreachable for long: dropped unsent message seq %d", lost)
        if lost and self._backlog is not None:
            self._backlog.forget(lost)
        self._wakeup.set()
        return seq

    def _fitting(self, body: DataBody) -> list[pb.AgentMessage]:
        """`body` encoded once, or its halves (recursively) where it exceeds the message
        bound; sequence numbers are set by the caller."""
        limit = self._max_message_bytes - MESSAGE_OVERHEAD_BYTES
        message = codec.data_to_pb(0, body)
        if message.ByteSize() <= limit:
            return [message]
        halves = body.halves()
        if halves is None:
            logger.error("dropped one %s item larger than %d bytes", type(body).__name__, limit)
            return []
        return [part for half in halves for part in self._fitting(half)]

    async def run(self, stop: asyncio.Event) -> None:
        """Keep a stream to the colony open until `stop` is set."""
        attempt = 0
        while not stop.is_set():
            try:
                await self._session(stop)
                attempt = 0
            except AgentRefusedError as exc:
                self.connected.clear()
                logger.error("colony at %s refused this agent: %s", self._target, exc)
                attempt = max(attempt, 5)
            except Exception as exc:
                error = as_rpc_error(exc)
                if error is None:
                    raise
                if self.connected.is_set():  # a healthy session ended: start afresh
                    attempt = 0
                self.connected.clear()
                if error.status not in RETRYABLE:
                    logger.error("colony at %s rejected the agent: %s", self._target, error.details)
                else:
                    logger.warning(
                        "cannot reach colony at %s (%s: %s); retrying",
                        self._target,
                        error.status.name.lower(),
                        error.details,
                    )
            if stop.is_set():
                break
            delay = self._backoff.delay(attempt, self._rng)
            attempt += 1
            logger.info("reconnecting to colony at %s in %.1f s", self._target, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)

    async def _session(self, stop: asyncio.Event) -> None:
        try:
            channel = open_channel(
                self._target, ssl_context=self._ssl_context, server_name=self._server_name
            )
        except ValueError as exc:
            raise RpcError(Status.INVALID_ARGUMENT, str(exc)) from None
        try:
            reg = self._registration()
            response = await unary(
                channel,
                REGISTER,
                pb.RegisterRequest(
                    agent_id=reg.agent_id,
                    hostname=reg.hostname,
                    agent_version=reg.agent_version,
                    protocol_version=reg.protocol_version,
                    capabilities=["summaries", "services"],
                    services=[codec.service_to_pb(s) for s in reg.services],
                ),
                pb.RegisterResponse,
                timeout_s=self._call_timeout_s,
                max_message_bytes=self._max_message_bytes,
                metadata=self._auth(),
            )
            if not response.accepted:
                raise AgentRefusedError(response.reason)
            self._acknowledge(response.committed_seq)
            call: ConnectCall = request(
                channel,
                CONNECT,
                Cardinality.STREAM_STREAM,
                pb.AgentMessage,
                pb.ColonyMessage,
                max_message_bytes=self._max_message_bytes,
                metadata=self._auth(),
            )
            async with call:
                await call.send_message(pb.AgentMessage(hello=pb.Hello(agent_id=reg.agent_id)))
                reader = asyncio.create_task(self._read_acks(call))
                try:
                    await self._write_loop(call, stop, reader)
                finally:
                    reader.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await reader
                    with contextlib.suppress(Exception):  # the stream may be gone already
                        await call.cancel()
        finally:
            channel.close()

    async def _read_acks(self, call: ConnectCall) -> None:
        """Acks and queries until the colony ends the stream; its status raised then."""
        first = True
        while (message := await call.recv_message()) is not None:
            if message.WhichOneof("body") == "query":
                task = asyncio.create_task(self._answer(message.query))
                self._answering.add(task)
                task.add_done_callback(self._answering.discard)
                continue
            if message.WhichOneof("body") == "ack":
                self._acknowledge(message.ack.committed_seq)
                if first:
                    first = False
                    self.connected.set()
                    logger.info("connected to colony at %s", self._target)
        await call.recv_trailing_metadata()  # raises the colony's status when not OK

    async def _answer(self, msg: pb.DetailQuery) -> None:
        """Answer one detail query; the reply goes out with the next write."""
        try:
            query = codec.detail_query_from_pb(msg)
        except ProtocolError as exc:
            reply = QueryReply(msg.query_id, error=str(exc))
        else:
            if self._on_query is None:
                reply = QueryReply(query.query_id, error="this agent answers no detail queries")
            else:
                try:
                    reply = await self._on_query(query)
                except Exception as exc:  # a failed answer must still reach the colony
                    logger.exception("detail query %s failed", query.kind.value)
                    reply = QueryReply(query.query_id, error=f"agent failed: {exc}")
        self._replies.append(pb.AgentMessage(reply=codec.query_reply_to_pb(reply)))
        self._wakeup.set()

    async def _drain(self, call: ConnectCall, sent: int, reader: asyncio.Task[None]) -> None:
        """On stop: send what is still pending, then wait (up to DRAIN_S) for its ack."""
        for seq, message in list(self._pending.items()):
            if seq > sent:
                await call.send_message(message)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DRAIN_S
        while self._pending and not reader.done() and loop.time() < deadline:
            self._acked.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._acked.wait(), deadline - loop.time())
        if self._pending:
            logger.warning(
                "stopping with %d message(s) the colony has not committed", len(self._pending)
            )

    def _acknowledge(self, committed: int) -> None:
        if committed > codec.MAX_SEQ:  # never let the colony's word break our own state
            if committed != self._refused_ack:
                logger.error(
                    "colony at %s acknowledged seq %d, beyond any real sequence: ignored",
                    self._target,
                    committed,
                )
                self._refused_ack = committed
            return
        self.committed_seq = max(self.committed_seq, committed)
        if committed >= self._next_seq:  # the colony knows more than we do: move on
            self._next_seq = committed + 1
            self._on_seq(self._next_seq)
        acknowledged = False
        while self._pending and next(iter(self._pending)) <= committed:
            self._pending.popitem(last=False)
            acknowledged = True
        if acknowledged and self._backlog is not None:
            self._backlog.forget(committed)
        self._acked.set()

    async def _write_loop(
        self, call: ConnectCall, stop: asyncio.Event, reader: asyncio.Task[None]
    ) -> None:
        sent = 0  # highest seq written on this stream: pending ones above it go out
        stopper = asyncio.create_task(stop.wait())
        try:
            while not stop.is_set():
                self._wakeup.clear()
                while self._replies:
                    await call.send_message(self._replies.pop(0))
                for seq, message in list(self._pending.items()):
                    if seq > sent:
                        await call.send_message(message)
                        sent = seq
                waker = asyncio.create_task(self._wakeup.wait())
                done, _ = await asyncio.wait(
                    {waker, stopper, reader},
                    timeout=self._heartbeat_s,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                waker.cancel()
                if reader in done:
                    reader.result()  # raises the stream's error
                    raise RpcError(Status.UNAVAILABLE, "colony closed the stream")
                if not done:
                    await call.send_message(pb.AgentMessage(heartbeat=pb.Heartbeat()))
            await self._drain(call, sent, reader)
            await call.end()
        finally:
            stopper.cancel()
