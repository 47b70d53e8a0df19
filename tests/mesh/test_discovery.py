"""The discovery service relays signed records; it cannot forge or hijack one."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest

from coral_mcp.discovery.service import DiscoveryRecords
from coral_mcp.mesh import discovery_client
from coral_mcp.mesh.errors import PinMismatchError
from coral_mcp.mesh.keys import b64url
from coral_mcp.mesh.records import ColonyRecord
from coral_mcp.models.mesh import SignedRecord
from coral_mcp.rpc.mesh import add_discovery_service
from tests.mesh.colony_side import make_identity


def _record(mesh_id: str, key: bytes, ttl_s: float = 60) -> ColonyRecord:
    now_ms = int(time.time() * 1000)
    return ColonyRecord(
        mesh_id, b64url(key), ("10.0.0.1:9001",), now_ms, now_ms + int(ttl_s * 1000)
    )


async def _with_service(scenario) -> None:  # type: ignore[no-untyped-def]
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    add_discovery_service(server, DiscoveryRecords())
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        await scenario(f"127.0.0.1:{port}")
    finally:
        await server.stop(grace=0.2)


def test_a_signed_record_resolves_and_verifies_against_the_pinned_key() -> None:
    colony = make_identity("m1")

    async def scenario(target: str) -> None:
        record = _record("m1", colony.colony_key)
        assert (
            await discovery_client.publish(target, record, colony.sign(record.to_bytes())) is None
        )
        found = await asyncio.to_thread(
            discovery_client.resolve, target, "m1", colony.colony_key, int(time.time() * 1000)
        )
        assert found == record
        address, port = await asyncio.to_thread(discovery_client.observe, target)
        assert address == "127.0.0.1" and port > 0

    asyncio.run(_with_service(scenario))


def test_a_record_signed_by_another_key_is_refused_by_the_agent_and_the_service() -> None:
    colony, other = make_identity("m1"), make_identity("m1")

    async def scenario(target: str) -> None:
        # Another colony (or the service's operator) publishes for mesh m1 under its key.
        record = _record("m1", other.colony_key)
        assert await discovery_client.publish(target, record, other.sign(record.to_bytes())) is None
        with pytest.raises(PinMismatchError, match="not signed by the pinned colony key"):
            await asyncio.to_thread(
                discovery_client.resolve, target, "m1", colony.colony_key, int(time.time() * 1000)
            )
        # A record naming our key but signed by another is refused at publication.
        forged = _record("m2", colony.colony_key)
        reason = await discovery_client.publish(target, forged, other.sign(forged.to_bytes()))
        assert reason is not None and "does not verify" in reason
        # The live record of m1 cannot be replaced by another key.
        ours = _record("m1", colony.colony_key)
        reason = await discovery_client.publish(target, ours, colony.sign(ours.to_bytes()))
        assert reason is not None and "held by another colony key" in reason

    asyncio.run(_with_service(scenario))


def test_an_expired_record_is_not_trusted() -> None:
    colony = make_identity("m1")
    record = _record("m1", colony.colony_key, ttl_s=1)
    signed = SignedRecord(record.to_bytes(), colony.sign(record.to_bytes()))
    with pytest.raises(PinMismatchError, match="expired"):
        discovery_client.verify_record(signed, "m1", colony.colony_key, record.expires_ms + 1)
    assert discovery_client.verify_record(signed, "m1", colony.colony_key, record.last_seen_ms)
