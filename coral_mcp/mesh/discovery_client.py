"""The discovery client: publish the colony's signed record, resolve and verify one.

An agent trusts a resolved record only if it is signed by the key its token pinned,
names the mesh it asked for and has not expired.
"""

from __future__ import annotations

import grpc

from coral_mcp.errors import ColonyUnreachableError
from coral_mcp.mesh.errors import PinMismatchError
from coral_mcp.mesh.keys import b64url, fingerprint, verify_signature
from coral_mcp.mesh.records import ColonyRecord
from coral_mcp.models.mesh import SignedRecord
from coral_mcp.rpc import mesh as mesh_rpc

CALL_TIMEOUT_S = 5.0


def verify_record(
    signed: SignedRecord, mesh_id: str, colony_key: bytes, now_ms: int
) -> ColonyRecord:
    """The record if the pinned key signed it for this mesh and it is live; else raise."""
    if not verify_signature(colony_key, signed.signature, signed.record):
        raise PinMismatchError(
            f"the discovery record for mesh {mesh_id} is not signed by the pinned colony key"
            f" {fingerprint(colony_key)}",
            hint="the discovery service, or whoever published there, is not your colony",
        )
    record = ColonyRecord.from_bytes(signed.record)
    if record.mesh_id != mesh_id or record.colony_key != b64url(colony_key):
        raise PinMismatchError(f"the discovery record names mesh {record.mesh_id}, not {mesh_id}")
    if record.expires_ms <= now_ms:
        raise PinMismatchError(f"the discovery record for mesh {mesh_id} has expired")
    return record


def resolve(target: str, mesh_id: str, colony_key: bytes, now_ms: int) -> ColonyRecord:
    """Ask the discovery service at `target` (HOST:PORT) where the colony is."""
    try:
        with grpc.insecure_channel(target) as channel:
            signed = mesh_rpc.call_resolve(channel, mesh_id, CALL_TIMEOUT_S)
    except grpc.RpcError as exc:
        raise ColonyUnreachableError(
            f"discovery at {target} has no usable record for mesh {mesh_id}: {exc.details()}",
            hint="is the colony running with --discovery pointing there?",
        ) from None
    return verify_record(signed, mesh_id, colony_key, now_ms)


async def publish(target: str, record: ColonyRecord, signature: bytes) -> str | None:
    """Publish a signed record; the refusal reason, or None when accepted."""
    async with grpc.aio.insecure_channel(target) as channel:
        return await mesh_rpc.call_publish(
            channel, SignedRecord(record.to_bytes(), signature), CALL_TIMEOUT_S
        )


def observe(target: str) -> tuple[str, int]:
    """The address and port the discovery service sees this host calling from."""
    with grpc.insecure_channel(target) as channel:
        return mesh_rpc.call_observe(channel, CALL_TIMEOUT_S)
