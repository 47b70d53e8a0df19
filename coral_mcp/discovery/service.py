"""`coral discovery start`: signed colony records by mesh id, and callers' addresses.

The service keeps records in memory only, until they expire. It verifies each
published record's signature against the key inside it and refuses a record for a
mesh id whose live record names another key. It holds no key of its own and stores
no secret: it can refuse or withhold records, never forge one an agent would accept.

Against floods and replays: records live at most a day however far their expiry
says, at most MAX_RECORDS are held (new mesh ids are refused when full), and a record
older than the one held for its mesh (a replay of what the colony said before) is
refused.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import replace

import grpc

from coral_mcp.errors import AddressInUseError, ProtocolError
from coral_mcp.mesh.keys import unb64url, verify_signature
from coral_mcp.mesh.records import ColonyRecord
from coral_mcp.proto import coral_pb2 as pb
from coral_mcp.proto import coral_pb2_grpc as pb_grpc

logger = logging.getLogger(__name__)

#: Records larger than this are refused.
MAX_RECORD_BYTES = 4096
#: Mesh ids held at once; a flood of self-signed records cannot grow memory past it.
MAX_RECORDS = 10_000
#: Longest a record is kept, whatever expiry it names.
MAX_TTL_MS = 24 * 3600 * 1000


def split_peer(peer: str) -> tuple[str, int]:
    """('1.2.3.4', 5678) from gRPC's 'ipv4:1.2.3.4:5678' (or 'ipv6:[::1]:5678')."""
    _, _, rest = peer.partition(":")
    host, _, port = rest.rpartition(":")
    return host.strip("[]"), int(port) if port.isdigit() else 0


class DiscoveryServicer(pb_grpc.DiscoveryServicer):
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._records: dict[str, tuple[ColonyRecord, pb.SignedRecord]] = {}

    def _live(self, mesh_id: str) -> tuple[ColonyRecord, pb.SignedRecord] | None:
        found = self._records.get(mesh_id)
        if found is not None and found[0].expires_ms <= self._clock() * 1000:
            del self._records[mesh_id]
            return None
        return found

    async def Publish(
        self, request: pb.SignedRecord, context: grpc.aio.ServicerContext[object, object]
    ) -> pb.PublishResponse:
        try:
            reason = self._check(request)
        except ProtocolError as exc:
            reason = str(exc)
        if reason:
            logger.warning("refused a record from %s: %s", context.peer(), reason)
            return pb.PublishResponse(accepted=False, reason=reason)
        record = ColonyRecord.from_bytes(request.record)
        now_ms = int(self._clock() * 1000)
        kept = replace(record, expires_ms=min(record.expires_ms, now_ms + MAX_TTL_MS))
        self._records[record.mesh_id] = (kept, request)
        logger.info(
            "record for mesh %s from %s, endpoints %s",
            record.mesh_id,
            context.peer(),
            ", ".join(record.endpoints) or "none",
        )
        return pb.PublishResponse(accepted=True)

    def _check(self, request: pb.SignedRecord) -> str | None:
        if len(request.record) > MAX_RECORD_BYTES:
            return f"record larger than {MAX_RECORD_BYTES} bytes"
        record = ColonyRecord.from_bytes(request.record)
        if not verify_signature(unb64url(record.colony_key), request.signature, request.record):
            return f"the signature of the record for mesh {record.mesh_id} does not verify"
        if record.expires_ms <= self._clock() * 1000:
            return "the record has already expired"
        live = self._live(record.mesh_id)
        if live is not None and live[0].colony_key != record.colony_key:
            return f"mesh {record.mesh_id} is held by another colony key until its record expires"
        if live is not None and record.last_seen_ms < live[0].last_seen_ms:
            return f"the record for mesh {record.mesh_id} is older than the one held (a replay)"
        if live is None and len(self._records) >= MAX_RECORDS:
            self._purge()
            if len(self._records) >= MAX_RECORDS:
                return f"this discovery service holds {MAX_RECORDS} meshes already"
        return None

    def _purge(self) -> None:
        now_ms = self._clock() * 1000
        for mesh_id in [m for m, (r, _) in self._records.items() if r.expires_ms <= now_ms]:
            del self._records[mesh_id]

    async def Resolve(
        self, request: pb.ResolveRequest, context: grpc.aio.ServicerContext[object, object]
    ) -> pb.SignedRecord:
        live = self._live(request.mesh_id)
        if live is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no record for mesh {request.mesh_id}")
            raise AssertionError("unreachable")
        return live[1]

    async def Observe(
        self, request: pb.ObserveRequest, context: grpc.aio.ServicerContext[object, object]
    ) -> pb.ObserveResponse:
        host, port = split_peer(context.peer())
        return pb.ObserveResponse(address=host, port=port)


async def serve(host: str, port: int, stop: asyncio.Event, on_ready: Callable[[int], None]) -> None:
    """Run the service until `stop` is set; `on_ready(port)` once it listens."""
    server = grpc.aio.server(
        options=[("grpc.so_reuseport", 0), ("grpc.max_receive_message_length", 16 * 1024)]
    )
    pb_grpc.add_DiscoveryServicer_to_server(DiscoveryServicer(), server)
    try:
        bound = server.add_insecure_port(f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
    except RuntimeError:
        bound = 0
    if bound == 0:
        raise AddressInUseError(
            f"discovery port {host}:{port} cannot be bound",
            hint="stop the process holding it or choose another with --port",
        )
    await server.start()
    on_ready(bound)
    try:
        await stop.wait()
    finally:
        await server.stop(grace=1)
