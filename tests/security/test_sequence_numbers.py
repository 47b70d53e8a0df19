"""Sequence numbers are bounded: one message can neither stop an agent for good nor
make the colony skip an agent's data, and the colony's acknowledgement never corrupts
the agent's saved state. Real gRPC on loopback, real DuckDB, real state files."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from coral_mcp import PROTOCOL_VERSION
from coral_mcp.agent.identity import AgentIdentity
from coral_mcp.agent.ring_store import RingStore
from coral_mcp.proto import coral_pb2 as pb
from coral_mcp.proto import coral_pb2_grpc as pb_grpc
from coral_mcp.rpc.agent_stream import AgentStream, Backoff
from coral_mcp.storage.store import ColonyStore
from tests.conftest import free_port
from tests.harness import colony
from tests.rpc.test_stream import registration, until, window

FAST = Backoff(base_s=0.05, cap_s=0.2)
HUGE = 2**64 - 1


async def _push(port: int, agent_id: str, *seqs: int) -> list[int]:
    """A raw client: register, send summaries with these sequence numbers; the acks."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.ColonyStub(channel)
        await stub.Register(
            pb.RegisterRequest(agent_id=agent_id, hostname="h", protocol_version=PROTOCOL_VERSION)
        )
        summary = pb.MetricSummary(service="s", metric="m", min=1, max=1, avg=1, last=1, p95=1)
        messages = [pb.AgentMessage(hello=pb.Hello(agent_id=agent_id))] + [
            pb.AgentMessage(
                seq=seq,
                summaries=pb.SummaryBatch(
                    window_start_ms=i * 1000, window_end_ms=i * 1000 + 1000, summaries=[summary]
                ),
            )
            for i, seq in enumerate(seqs, start=1)
        ]
        call = stub.Connect(iter(messages))
        return [m.ack.committed_seq async for m in call if m.WhichOneof("body") == "ack"]


def test_the_colony_refuses_impossible_sequence_numbers_and_the_agent_carries_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    (tmp_path / "colony").mkdir()
    store = ColonyStore(tmp_path / "colony")

    async def scenario() -> None:
        async with colony(store, port):
            acks = await _push(port, "victim", HUGE, 3, 3 + 2_000_000, 4)
            assert max(acks) == 4  # 2**64-1 and the jump by two million are refused
            stream = AgentStream(f"127.0.0.1:{port}", lambda: registration("victim"), backoff=FAST)
            stop = asyncio.Event()
            task = asyncio.create_task(stream.run(stop))
            await until(lambda: stream.committed_seq >= 4)
            stream.submit(window(9))
            await until(lambda: stream.committed_seq >= 5)
            stop.set()
            await task

    asyncio.run(scenario())
    assert store.committed_seq("victim") == 5
    store.close()
    assert "no real agent jumps so far" in caplog.text


class HostileColony(pb_grpc.ColonyServicer):
    """Acknowledges a sequence number no agent can ever reach."""

    async def Register(
        self, request: pb.RegisterRequest, context: grpc.aio.ServicerContext[object, object]
    ) -> pb.RegisterResponse:
        return pb.RegisterResponse(
            accepted=True, protocol_version=PROTOCOL_VERSION, committed_seq=HUGE
        )

    async def Connect(
        self,
        request_iterator: AsyncIterator[pb.AgentMessage],
        context: grpc.aio.ServicerContext[object, object],
    ) -> AsyncIterator[pb.ColonyMessage]:
        async for _ in request_iterator:
            yield pb.ColonyMessage(ack=pb.Ack(committed_seq=HUGE))


def test_an_agent_never_saves_a_sequence_its_colony_made_impossible(tmp_path: Path) -> None:
    identity = AgentIdentity.load_or_create(tmp_path, "host")
    port = free_port()

    async def scenario() -> None:
        server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
        pb_grpc.add_ColonyServicer_to_server(HostileColony(), server)
        server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        stream = AgentStream(
            f"127.0.0.1:{port}",
            lambda: registration(identity.agent_id),
            first_seq=identity.next_seq,
            on_seq=identity.advance,
            backoff=FAST,
            heartbeat_s=0.1,
        )
        stop = asyncio.Event()
        task = asyncio.create_task(stream.run(stop))
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:  # keeps pushing: no "Value out of range"
            stream.submit(window(int(time.monotonic())))
            await asyncio.sleep(0.1)
        stop.set()
        await task
        await server.stop(grace=0.2)

    asyncio.run(scenario())
    saved = json.loads((tmp_path / "agent.json").read_text())["next_seq"]
    assert 10 < saved < 100


def test_an_agent_whose_saved_sequence_was_already_corrupted_recovers(tmp_path: Path) -> None:
    (tmp_path / "agent.json").write_text(json.dumps({"agent_id": "a-1", "next_seq": 2**64}))
    assert AgentIdentity.load_or_create(tmp_path, "host").next_seq == 1
    assert json.loads((tmp_path / "agent.json").read_text())["next_seq"] == 1


def test_queued_messages_leave_the_agent_state_alone_and_a_restart_numbers_above_them(
    tmp_path: Path,
) -> None:
    state = tmp_path / "agent.json"
    identity = AgentIdentity.load_or_create(tmp_path, "host")
    written = (state.read_text(), state.stat().st_mtime_ns)

    def agent_stream() -> AgentStream:
        ring = RingStore(tmp_path / "ring.sqlite", 3600, 10**8)
        me = AgentIdentity.load_or_create(tmp_path, "host")
        return AgentStream(
            "127.0.0.1:1",
            lambda: registration(me.agent_id),
            first_seq=me.next_seq,
            on_seq=me.advance,
            backlog=ring,
        )

    first = agent_stream()
    seqs = [first.submit(window(i)) for i in range(1, 6)]
    assert seqs == [1, 2, 3, 4, 5]
    first._acknowledge(3)  # the colony committed three of them: the ring forgets those
    assert (state.read_text(), state.stat().st_mtime_ns) == written
    again = agent_stream()  # restarted while the colony is away
    assert again.pending == 2
    assert again.submit(window(9)) == 6
    again._acknowledge(6)  # all acknowledged: the backlog is empty ...
    assert agent_stream().submit(window(10)) == 7  # ... and still no number is given twice
    assert identity.agent_id == json.loads(state.read_text())["agent_id"]
