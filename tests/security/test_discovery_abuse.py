"""The discovery service under abuse: an old record of a colony replayed over its newer
one is refused, and a flood of self-signed records for made-up meshes cannot grow its
memory without bound, whatever expiry they claim. Real gRPC on loopback."""

from __future__ import annotations

import asyncio
import time

import pytest

from coral_mcp.discovery import service
from coral_mcp.mesh import discovery_client
from coral_mcp.mesh.keys import b64url
from coral_mcp.mesh.records import ColonyRecord
from tests.mesh.colony_side import make_identity
from tests.mesh.test_discovery import _with_service


def test_an_older_record_replayed_over_a_newer_one_is_refused() -> None:
    colony = make_identity("m1")
    now_ms = int(time.time() * 1000)
    old = ColonyRecord("m1", b64url(colony.colony_key), ("10.0.0.1:9001",), now_ms, now_ms + 60_000)
    new = ColonyRecord(
        "m1", b64url(colony.colony_key), ("10.0.0.2:9001",), now_ms + 5, now_ms + 60_005
    )

    async def scenario(target: str) -> None:
        assert await discovery_client.publish(target, old, colony.sign(old.to_bytes())) is None
        assert await discovery_client.publish(target, new, colony.sign(new.to_bytes())) is None
        replayed = await discovery_client.publish(target, old, colony.sign(old.to_bytes()))
        assert replayed is not None and "replay" in replayed
        found = await asyncio.to_thread(
            discovery_client.resolve, target, "m1", colony.colony_key, int(time.time() * 1000)
        )
        assert found.endpoints == ("10.0.0.2:9001",)

    asyncio.run(_with_service(scenario))


def test_a_flood_of_made_up_meshes_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "MAX_RECORDS", 20)
    now_ms = int(time.time() * 1000)
    forever = now_ms + 10 * 365 * 86_400_000

    async def scenario(target: str) -> None:
        refusals = []
        for i in range(25):
            attacker = make_identity(f"flood-{i}")
            record = ColonyRecord(
                f"flood-{i}", b64url(attacker.colony_key), ("10.9.9.9:1",), now_ms, forever
            )
            refusals.append(
                await discovery_client.publish(target, record, attacker.sign(record.to_bytes()))
            )
        assert refusals[:20] == [None] * 20
        assert all(r is not None and "holds 20 meshes" in r for r in refusals[20:])

    asyncio.run(_with_service(scenario))
