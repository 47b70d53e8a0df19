"""On the stream an agent speaks only as itself: identity comes from its certificate
(or tunnel address), never from the agent_id field it sends."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest

from coral_mcp import PROTOCOL_VERSION
from coral_mcp.mesh.agent_state import AgentMeshState
from coral_mcp.mesh.join import join, new_state
from coral_mcp.mesh.tls import CLIENT_OPTIONS, client_credentials
from coral_mcp.models import DetailQuery, QueryReply, ServiceState
from coral_mcp.proto import coral_pb2 as pb
from coral_mcp.proto import coral_pb2_grpc as pb_grpc
from coral_mcp.rpc.colony_servicer import DataBody
from tests.mesh.colony_side import mesh_colony


class RecordingSink:
    """Keeps what the servicer would store."""

    def __init__(self) -> None:
        self.registered: list[str] = []
        self.ingested: list[tuple[str, int]] = []

    async def register(
        self,
        agent_id: str,
        hostname: str,
        agent_version: str,
        protocol_version: int,
        peer: str,
        services: tuple[ServiceState, ...],
    ) -> int:
        self.registered.append(agent_id)
        return 0

    def connected(
        self, agent_id: str, peer: str, send_query: Callable[[DetailQuery], None]
    ) -> int | None:
        return 0

    def disconnected(self, agent_id: str) -> None: ...

    def committed(self, agent_id: str) -> int:
        return 0

    def heartbeat(self, agent_id: str) -> None: ...

    def reply(self, agent_id: str, reply: QueryReply) -> None: ...

    async def ingest(self, agent_id: str, seq: int, body: DataBody) -> None:
        self.ingested.append((agent_id, seq))

    async def reject(self, agent_id: str, seq: int, reason: str) -> None: ...


def _channel(state: AgentMeshState, target: str) -> grpc.aio.Channel:
    assert state.colony is not None and state.agent_cert_pem is not None
    creds = client_credentials(
        state.colony.colony_cert_pem.encode(),
        state.tls_key_pem.encode(),
        state.agent_cert_pem.encode(),
    )
    return grpc.aio.secure_channel(target, creds, options=CLIENT_OPTIONS)


def _register(agent_id: str) -> pb.RegisterRequest:
    return pb.RegisterRequest(agent_id=agent_id, hostname="h", protocol_version=PROTOCOL_VERSION)


def test_agent_a_cannot_register_or_stream_as_agent_b(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sink = RecordingSink()

    async def scenario() -> None:
        async with mesh_colony(tmp_path / "colony", sink) as colony:
            a = await asyncio.to_thread(join, new_state("agent-a"), colony.token(), "h", None)
            await asyncio.to_thread(join, new_state("agent-b"), colony.token(), "h", None)
            async with _channel(a, colony.tls_endpoint) as channel:
                stub = pb_grpc.ColonyStub(channel)
                with caplog.at_level(logging.WARNING), pytest.raises(grpc.aio.AioRpcError) as err:
                    await stub.Register(_register("agent-b"), timeout=5)
                assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
                call = stub.Connect()
                await call.write(pb.AgentMessage(hello=pb.Hello(agent_id="agent-b")))
                # The colony may have refused the stream at its hello already: then this
                # write fails on a finished call, and the call's status tells why.
                with contextlib.suppress(grpc.aio.AioRpcError, asyncio.InvalidStateError):
                    await call.write(pb.AgentMessage(seq=1, heartbeat=pb.Heartbeat(sent_ms=1)))
                assert await call.code() == grpc.StatusCode.PERMISSION_DENIED
                assert sink.registered == [] and sink.ingested == []
                # As itself, the same agent is accepted.
                answer = await stub.Register(_register("agent-a"), timeout=5)
                assert answer.accepted and sink.registered == ["agent-a"]
        assert "agent agent-a tried to speak as 'agent-b'" in caplog.text

    asyncio.run(scenario())


def test_a_revoked_agent_is_refused_and_its_open_stream_cut(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sink = RecordingSink()

    async def scenario() -> None:
        async with mesh_colony(tmp_path / "colony", sink) as colony:
            a = await asyncio.to_thread(join, new_state("agent-a"), colony.token(), "h", None)
            async with _channel(a, colony.tls_endpoint) as channel:
                stub = pb_grpc.ColonyStub(channel)
                call = stub.Connect()
                await call.write(pb.AgentMessage(hello=pb.Hello(agent_id="agent-a")))
                first = await call.read()
                assert first.WhichOneof("body") == "ack"
                colony.registry.revoke_agent("agent-a", int(time.time() * 1000))
                colony.mesh.sync()
                with caplog.at_level(logging.WARNING):
                    await call.write(pb.AgentMessage(heartbeat=pb.Heartbeat(sent_ms=2)))
                    with pytest.raises(grpc.aio.AioRpcError) as err:
                        await call.read()
                assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
                with pytest.raises(grpc.aio.AioRpcError) as err:
                    await stub.Register(_register("agent-a"), timeout=5)
                assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "agent agent-a is revoked" in caplog.text

    asyncio.run(scenario())


def test_a_client_without_a_colony_issued_certificate_gets_no_stream(tmp_path: Path) -> None:
    sink = RecordingSink()

    async def scenario() -> None:
        async with mesh_colony(tmp_path / "colony", sink) as colony:
            creds = client_credentials(colony.identity.tls_cert_pem)  # no client cert
            async with grpc.aio.secure_channel(
                colony.tls_endpoint, creds, options=CLIENT_OPTIONS
            ) as channel:
                with pytest.raises(grpc.aio.AioRpcError) as err:
                    await pb_grpc.ColonyStub(channel).Register(_register("agent-a"), timeout=5)
                assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        assert sink.registered == []

    asyncio.run(scenario())
