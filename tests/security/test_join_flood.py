"""The join port under a flood of guesses: past a burst, a source address is slowed to a
few attempts a second (RESOURCE_EXHAUSTED, logged once), and an honest join from it
works again a moment later. Real TLS join service on loopback."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path

import grpc
import pytest

from coral_mcp.mesh.join import join, new_state
from coral_mcp.mesh.tls import CLIENT_OPTIONS, client_credentials
from coral_mcp.proto import coral_pb2 as pb
from coral_mcp.proto import coral_pb2_grpc as pb_grpc
from coral_mcp.rpc.mesh import JOIN_BURST
from tests.mesh.colony_side import mesh_colony


def test_a_join_flood_is_slowed_per_source_and_honest_joins_still_get_through(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        async with mesh_colony(tmp_path / "colony") as colony:
            token = colony.token()
            creds = client_credentials(colony.identity.tls_cert_pem)
            codes = []
            async with grpc.aio.secure_channel(
                colony.join_endpoint, creds, options=CLIENT_OPTIONS
            ) as channel:
                stub = pb_grpc.MeshStub(channel)
                for i in range(JOIN_BURST + 20):
                    guess = pb.JoinRequest(
                        token_id=token.token_id, secret=f"guess-{i}", agent_id=f"x{i}",
                        hostname="h", wg_public_key="k", tls_public_key=b"k",
                    )  # fmt: skip
                    try:
                        await stub.Join(guess, timeout=5)
                        codes.append("OK")
                    except grpc.aio.AioRpcError as exc:
                        codes.append(exc.code().name)
            assert "OK" not in codes
            assert codes.count("RESOURCE_EXHAUSTED") >= 15, codes
            await asyncio.sleep(0.5)  # a few tokens back in the bucket
            state = new_state("honest")
            honest = dataclasses.replace(token, endpoints=(colony.join_endpoint,))
            joined = await asyncio.to_thread(join, state, honest, "host", None)
            assert joined.mesh_address is not None

    started = time.monotonic()
    asyncio.run(scenario())
    assert time.monotonic() - started < 30
    assert caplog.text.count("too many join attempts from 127.0.0.1") == 1
