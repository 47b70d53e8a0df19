"""The agent's gRPC client: grpclib (pure-Python HTTP/2 on asyncio), not grpcio.

The colony serves with grpcio; the agent calls it over the same wire (gRPC on HTTP/2,
the same protobuf messages, the same metadata). grpcio's C core alone keeps ~17 MiB
resident and four threads of its own in every process that imports it, more than the
rest of the agent; grpclib runs on the agent's event loop and its few modules.

Everything received is bounded: grpclib reads whatever length a message announces, so
`BoundedStream` checks the announced length before reading the body. Failures of every
kind (a status from the colony, a refused connection, a cut stream, a deadline, broken
HTTP/2) become one `RpcError` with a grpclib `Status`.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, TypeVar

import h2.exceptions
from google.protobuf.message import DecodeError, Message
from grpclib import exceptions as grpclib_errors
from grpclib.client import Channel, Stream
from grpclib.config import Configuration
from grpclib.const import Cardinality, Status
from grpclib.encoding.proto import ProtoCodec
from grpclib.metadata import Deadline
from multidict import MultiDict

from coral_mcp.models.topology import host_port

if TYPE_CHECKING:
    import ssl

__all__ = [
    "RETRYABLE",
    "BoundedStream",
    "Cardinality",
    "Channel",
    "RpcError",
    "Status",
    "as_rpc_error",
    "open_channel",
    "request",
    "unary",
]

SendT = TypeVar("SendT", bound=Message)
RecvT = TypeVar("RecvT", bound=Message)

#: Failures that a later attempt may not see: the colony restarting, a network cut.
RETRYABLE = frozenset(
    {
        Status.UNAVAILABLE,
        Status.DEADLINE_EXCEEDED,
        Status.RESOURCE_EXHAUSTED,
        Status.ABORTED,
        Status.INTERNAL,
        Status.UNKNOWN,
        Status.CANCELLED,
    }
)
_CODEC = ProtoCodec()
_PREFIX = struct.Struct(">?I")  # gRPC message prefix: compressed flag, length


class RpcError(Exception):
    """A call failed: `status` says how, `details` what was said about it."""

    def __init__(self, status: Status, details: str) -> None:
        super().__init__(f"{status.name.lower()}: {details}")
        self.status = status
        self.details = details


def as_rpc_error(exc: BaseException) -> RpcError | None:
    """`exc` as an RpcError when it is a failure of the call; None for anything else."""
    if isinstance(exc, RpcError):
        return exc
    if isinstance(exc, grpclib_errors.GRPCError):
        return RpcError(exc.status, exc.message or exc.status.name.lower())
    if isinstance(exc, TimeoutError):  # grpclib's deadline (before OSError: a subclass)
        return RpcError(Status.DEADLINE_EXCEEDED, "deadline exceeded")
    if isinstance(exc, grpclib_errors.StreamTerminatedError | OSError):
        return RpcError(Status.UNAVAILABLE, str(exc) or type(exc).__name__)
    if isinstance(exc, h2.exceptions.StreamClosedError):
        return RpcError(Status.UNAVAILABLE, "stream closed")
    if isinstance(exc, h2.exceptions.H2Error | grpclib_errors.ProtocolError | DecodeError):
        return RpcError(Status.INTERNAL, f"malformed answer: {exc}")
    return None


def open_channel(
    target: str, *, ssl_context: ssl.SSLContext | None = None, server_name: str | None = None
) -> Channel:
    """A channel to HOST:PORT, [IPv6]:PORT or unix:PATH (connects at the first call).

    With `ssl_context`, TLS; `server_name` is the name the certificate must carry
    (the colony's fixed name, not its address)."""
    config = Configuration(ssl_target_name_override=server_name)
    if target.startswith("unix:"):
        return Channel(path=target.removeprefix("unix:"), ssl=ssl_context, config=config)
    host, port = host_port(target, "colony address ")
    return Channel(host or "127.0.0.1", port, ssl=ssl_context, config=config)


class BoundedStream(Stream[SendT, RecvT]):
    """A grpclib call whose received messages are refused past `max_message_bytes`
    before they are read (grpclib itself would buffer any announced length)."""

    def __init__(self, *args: object, max_message_bytes: int, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._max_message_bytes = max_message_bytes

    async def recv_message(self) -> RecvT | None:
        if not self._recv_initial_metadata_done:
            await self.recv_initial_metadata()
        with self._wrapper:
            prefix = await self._stream.recv_data(_PREFIX.size)
            if not prefix:
                return None
            compressed, length = _PREFIX.unpack(prefix)
            if compressed:
                raise RpcError(Status.INTERNAL, "compressed message (none was negotiated)")
            if length > self._max_message_bytes:
                raise RpcError(
                    Status.RESOURCE_EXHAUSTED,
                    f"message of {length} bytes over the bound of {self._max_message_bytes}",
                )
            body = await self._stream.recv_data(length)
        message: RecvT = self._recv_type.FromString(body)
        return message


def request(
    channel: Channel,
    method: str,
    cardinality: Cardinality,
    send_type: type[SendT],
    recv_type: type[RecvT],
    *,
    max_message_bytes: int,
    timeout_s: float | None = None,
    metadata: tuple[tuple[str, str], ...] | None = None,
) -> BoundedStream[SendT, RecvT]:
    """A call of `method` (`/package.Service/Method`), to be entered with `async with`."""
    return BoundedStream(
        channel,
        method,
        MultiDict(metadata or ()),
        cardinality,
        send_type,
        recv_type,
        codec=_CODEC,
        status_details_codec=None,
        dispatch=channel.__dispatch__,
        deadline=None if timeout_s is None else Deadline.from_timeout(timeout_s),
        max_message_bytes=max_message_bytes,
    )


async def unary(
    channel: Channel,
    method: str,
    message: SendT,
    reply_type: type[RecvT],
    *,
    timeout_s: float,
    max_message_bytes: int,
    metadata: tuple[tuple[str, str], ...] | None = None,
) -> RecvT:
    """One request, one reply, within `timeout_s`; RpcError on any failure."""
    try:
        async with request(
            channel,
            method,
            Cardinality.UNARY_UNARY,
            type(message),
            reply_type,
            max_message_bytes=max_message_bytes,
            timeout_s=timeout_s,
            metadata=metadata,
        ) as call:
            await call.send_message(message, end=True)
            reply = await call.recv_message()
    except Exception as exc:
        error = as_rpc_error(exc)
        if error is None:
            raise
        raise error from None
    if reply is None:
        raise RpcError(Status.INTERNAL, f"{method} answered no message")
    return reply
