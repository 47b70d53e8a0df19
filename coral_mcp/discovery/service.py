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
from coral_mcp.models.mesh import SignedRecord
from coral_mcp.rpc.mesh import add_discovery_service

logger = logging.getLogger(__name__)

#: Records larger than this are refused.
MAX_RECORD_BYTES = 4096
#: Mesh ids held at once; a flood of self-signed records cannot grow memory past it.
MAX_RECORDS = 10_000
#: Longest a record is kept, whatever expiry it names.
MAX_TTL_MS = 24 * 3600 * 1000


class DiscoveryRecords:
    """The live signed records by mesh id: what Publish stores and Resolve answers."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._records: dict[str, tuple[ColonyRecord, SignedRecord]] = {}

    def _live(self, mesh_id: str) -> tuple[ColonyRecord, SignedRecord] | None:
        found = self._records.get(mesh_id)
        if found is not None and found[0].expires_ms <= self._clock() * 1000:
            del self._records[mesh_id]
            return None
        return found

    def publish(self, signed: SignedRecord, peer: str) -> str | None:
        try:
            reason = self._check(signed)
        except ProtocolError as exc:
            reason = str(exc)
        if reason:
            logger.warning("refused a record from %s: %s", peer, reason)
            return reason
        record = ColonyRecord.from_bytes(signed.record)
        now_ms = int(self._clock() * 1000)
        kept = replace(record, expires_ms=min(record.expires_ms, now_ms + MAX_TTL_MS))
        self._records[record.mesh_id] = (kept, signed)
        logger.info(
            "record for mesh %s from %s, endpoints %s",
            record.mesh_id,
            peer,
            ", ".join(record.endpoints) or "none",
        )
        return None

    def _check(self, signed: SignedRecord) -> str | None:
        if len(signed.record) > MAX_RECORD_BYTES:
            return f"record larger than {MAX_RECORD_BYTES} bytes"
        record = ColonyRecord.from_bytes(signed.record)
        if not verify_signature(unb64url(record.colony_key), signed.signature, signed.record):
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

    def resolve(self, mesh_id: str) -> SignedRecord | None:
        live = self._live(mesh_id)
        return None if live is None else live[1]


async def serve(host: str, port: int, stop: asyncio.Event, on_ready: Callable[[int], None]) -> None:
    """Run the service until `stop` is set; `on_ready(port)` once it listens."""
    server = grpc.aio.server(
        options=[("grpc.so_reuseport", 0), ("grpc.max_receive_message_length", 16 * 1024)]
    )
    add_discovery_service(server, DiscoveryRecords())
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
