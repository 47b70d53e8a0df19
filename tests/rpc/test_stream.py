"""The agent stream against a real gRPC colony servicer on loopback, store included."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from coral_mcp.models import MetricSummary, SummaryWindow
from coral_mcp.proto import coral_pb2 as pb
from coral_mcp.proto import coral_pb2_grpc as pb_grpc
from coral_mcp.rpc.agent_stream import AgentStream, Backoff, Registration
from coral_mcp.storage.store import ColonyStore
from tests.conftest import free_port
from tests.harness import colony

FAST = Backoff(base_s=0.05, cap_s=0.2)


def window(i: int) -> SummaryWindow:
    return SummaryWindow(
        start_ms=i * 1000,
        end_ms=i * 1000 + 1000,
        summaries=(MetricSummary("api", "requests", i, i, i, i, i, 1),),
    )


def registration(agent_id: str = "agent-1", protocol: int = 1) -> Registration:
    return Registration(agent_id, "host", "test", protocol, ())


async def until(predicate: object, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail("condition not reached in time")
        await asyncio.sleep(0.02)


def stored_values(store: ColonyStore) -> list[float]:
    cur = store.reader()
    try:
        rows = cur.execute("SELECT avg FROM metric_summaries ORDER BY avg").fetchall()
    finally:
        cur.close()
    return [row[0] for row in rows]


def test_messages_sent_while_the_colony_is_down_arrive_once_after_it_returns(
    tmp_path: Path,
) -> None:
    port = free_port()
    store = ColonyStore(tmp_path)

    async def scenario() -> None:
        stop = asyncio.Event()
        stream = AgentStream(f"127.0.0.1:{port}", registration, backoff=FAST, heartbeat_s=0.2)
        runner = asyncio.create_task(stream.run(stop))
        async with colony(store, port):
            for i in range(1, 4):
                stream.submit(window(i))
            await until(lambda: stream.committed_seq == 3)
        # Colony gone: these wait in the agent, unacknowledged.
        for i in range(4, 7):
            stream.submit(window(i))
        await asyncio.sleep(0.3)
        assert stream.pending == 3
        async with colony(store, port):
            await until(lambda: stream.committed_seq == 6 and stream.pending == 0)
        stop.set()
        await runner

    asyncio.run(scenario())
    assert stored_values(store) == [1, 2, 3, 4, 5, 6]  # complete, no duplicates


def test_agent_restarted_with_a_stale_sequence_counter_does_not_lose_data(
    tmp_path: Path,
) -> None:
    port = free_port()
    store = ColonyStore(tmp_path)

    async def scenario() -> None:
        async with colony(store, port):
            for first_seq, values in ((1, (1, 2)), (1, (3, 4))):  # second run restarts at 1
                stop = asyncio.Event()
                stream = AgentStream(
                    f"127.0.0.1:{port}", registration, first_seq=first_seq, backoff=FAST
                )
                runner = asyncio.create_task(stream.run(stop))
                await until(lambda s=stream: s.connected.is_set())  # type: ignore[misc]
                for v in values:
                    stream.submit(window(v))
                await until(lambda s=stream: s.pending == 0)  # type: ignore[misc]
                stop.set()
                await runner

    asyncio.run(scenario())
    assert stored_values(store) == [1, 2, 3, 4]


def test_incompatible_protocol_version_is_refused_with_a_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    store = ColonyStore(tmp_path)

    async def scenario() -> None:
        async with colony(store, port):
            stop = asyncio.Event()
            stream = AgentStream(
                f"127.0.0.1:{port}", lambda: registration(protocol=99), backoff=FAST
            )
            runner = asyncio.create_task(stream.run(stop))
            await until(lambda: "refused this agent" in caplog.text)
            stop.set()
            await runner

    with caplog.at_level(logging.INFO):
        asyncio.run(scenario())
    assert "agent speaks protocol v99, this colony speaks v1" in caplog.text
    assert store.agents() == []


def test_malformed_message_is_refused_and_the_stream_carries_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    store = ColonyStore(tmp_path)

    async def scenario() -> None:
        async with colony(store, port), grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.ColonyStub(channel)
            reply = await stub.Register(
                pb.RegisterRequest(agent_id="raw", hostname="h", protocol_version=1)
            )
            assert reply.accepted
            call = stub.Connect()
            await call.write(pb.AgentMessage(hello=pb.Hello(agent_id="raw")))
            acks = [await call.read()]
            bad = pb.SummaryBatch(
                window_end_ms=1,
                summaries=[pb.MetricSummary(service="api", metric="m", avg=math.inf)],
            )
            await call.write(pb.AgentMessage(seq=1, summaries=bad))
            acks.append(await call.read())
            await call.write(pb.AgentMessage(seq=1, summaries=bad))  # replayed: ignored
            acks.append(await call.read())
            good = pb.SummaryBatch(
                window_end_ms=1,
                summaries=[pb.MetricSummary(service="api", metric="m", avg=7.0)],
            )
            await call.write(pb.AgentMessage(seq=2, summaries=good))
            acks.append(await call.read())
            await call.done_writing()
            assert [a.ack.committed_seq for a in acks] == [0, 1, 1, 2]

    with caplog.at_level(logging.WARNING):
        asyncio.run(scenario())
    assert "refused message seq 1: avg is not a finite number" in caplog.text
    assert stored_values(store) == [7.0]


def test_stream_from_an_unregistered_agent_is_refused(tmp_path: Path) -> None:
    port = free_port()
    store = ColonyStore(tmp_path)

    async def scenario() -> None:
        async with colony(store, port), grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = pb_grpc.ColonyStub(channel).Connect()
            await call.write(pb.AgentMessage(hello=pb.Hello(agent_id="stranger")))
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await call.read()
            assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
            assert "unknown agent 'stranger'" in (info.value.details() or "")

    asyncio.run(scenario())


def test_a_batch_over_the_size_bound_is_split_and_arrives_whole(tmp_path: Path) -> None:
    port = free_port()
    store = ColonyStore(tmp_path)
    big = SummaryWindow(
        0,
        1000,
        tuple(MetricSummary(f"svc{i}", "metric", i, i, i, i, i, 1) for i in range(300)),
    )

    async def scenario() -> int:
        async with colony(store, port):
            stop = asyncio.Event()
            stream = AgentStream(
                f"127.0.0.1:{port}", registration, backoff=FAST, max_message_bytes=4096
            )
            runner = asyncio.create_task(stream.run(stop))
            last_seq = stream.submit(big)
            await until(lambda: stream.committed_seq == last_seq and stream.pending == 0)
            stop.set()
            await runner
            return last_seq

    last_seq = asyncio.run(scenario())
    assert last_seq > 4  # ~30 KB in messages of at most 4 KB
    assert stored_values(store) == [float(i) for i in range(300)]


def test_an_oversized_message_fails_only_its_own_stream(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    store = ColonyStore(tmp_path)

    async def scenario() -> None:
        async with colony(store, port):
            stop = asyncio.Event()
            good = AgentStream(f"127.0.0.1:{port}", registration, backoff=FAST)
            runner = asyncio.create_task(good.run(stop))
            await until(good.connected.is_set)
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = pb_grpc.ColonyStub(channel)
                await stub.Register(
                    pb.RegisterRequest(agent_id="flood", hostname="h", protocol_version=1)
                )
                call = stub.Connect()
                await call.write(pb.AgentMessage(hello=pb.Hello(agent_id="flood")))
                await call.read()
                huge = pb.SummaryBatch(
                    window_end_ms=1,
                    summaries=[pb.MetricSummary(service="x" * 100, metric="m" * 100)] * 25_000,
                )
                assert huge.ByteSize() > 4 * 1024 * 1024
                with pytest.raises(grpc.aio.AioRpcError) as info:
                    await call.write(pb.AgentMessage(seq=1, summaries=huge))
                    await call.read()
                assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            good.submit(window(1))
            await until(lambda: good.committed_seq == 1)
            stop.set()
            await runner

    asyncio.run(scenario())
    assert stored_values(store) == [1.0]


class FloodingColony(pb_grpc.ColonyServicer):
    """Accepts the agent, then answers its stream with one query far over any bound
    (and counts the streams it was offered)."""

    def __init__(self) -> None:
        self.streams = 0

    async def Register(
        self, request: pb.RegisterRequest, context: grpc.aio.ServicerContext[object, object]
    ) -> pb.RegisterResponse:
        return pb.RegisterResponse(accepted=True, protocol_version=1)

    async def Connect(
        self,
        request_iterator: AsyncIterator[pb.AgentMessage],
        context: grpc.aio.ServicerContext[object, object],
    ) -> AsyncIterator[pb.ColonyMessage]:
        self.streams += 1
        yield pb.ColonyMessage(ack=pb.Ack(committed_seq=0))
        yield pb.ColonyMessage(query=pb.DetailQuery(query_id=1, kind="x" * 1_000_000))
        async for _ in request_iterator:
            pass


def test_a_colony_message_over_the_size_bound_is_refused_unread_and_the_agent_reconnects(
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = free_port()
    asked: list[object] = []
    hostile = FloodingColony()

    async def on_query(query: object) -> object:
        asked.append(query)
        raise AssertionError("an oversized query was decoded")

    async def scenario() -> None:
        server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
        pb_grpc.add_ColonyServicer_to_server(hostile, server)
        server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        stream = AgentStream(
            f"127.0.0.1:{port}",
            registration,
            backoff=FAST,
            max_message_bytes=64 * 1024,
            on_query=on_query,  # type: ignore[arg-type]
        )
        stop = asyncio.Event()
        task = asyncio.create_task(stream.run(stop))
        await until(lambda: hostile.streams >= 2)  # refused, then tried again
        stop.set()
        await task
        await server.stop(grace=0.2)

    with caplog.at_level(logging.WARNING):
        asyncio.run(scenario())
    assert asked == []
    assert (
        "cannot reach colony at" in caplog.text and "(resource_exhausted: message of" in caplog.text
    )
