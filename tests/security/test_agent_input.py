"""Everything an agent sends is bounded and untrusted at the colony's edge: control
characters, huge or malformed strings, impossible times and bad addresses are refused
(the stream carries on), text with escapes is stored escaped, and one sequence number
sent on two streams at once is stored once. Real gRPC on loopback, real DuckDB."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import grpc

from coral_mcp import PROTOCOL_VERSION
from coral_mcp.proto import coral_pb2 as pb
from coral_mcp.proto import coral_pb2_grpc as pb_grpc
from coral_mcp.storage.store import ColonyStore
from tests.conftest import free_port
from tests.harness import colony

NOW_MS = int(time.time() * 1000)
CLEAR_SCREEN = "\x1b[2J"


async def register(stub: pb_grpc.ColonyStub, agent_id: str, hostname: str) -> pb.RegisterResponse:
    return await stub.Register(
        pb.RegisterRequest(agent_id=agent_id, hostname=hostname, protocol_version=PROTOCOL_VERSION)
    )


def event(seq: int, ts_ms: int = NOW_MS, **fields: str) -> pb.AgentMessage:
    values = {"service": "api", "kind": "crash", "severity": "critical", "message": "m"}
    values.update(fields)
    return pb.AgentMessage(seq=seq, events=pb.EventBatch(events=[pb.Event(ts_ms=ts_ms, **values)]))


def services(seq: int, ip: str) -> pb.AgentMessage:
    state = pb.ServiceState(
        service=pb.Service(name="api", listen=[pb.Endpoint(ip=ip, port=80)]),
    )
    return pb.AgentMessage(seq=seq, services=pb.ServiceBatch(observed_ms=NOW_MS, services=[state]))


def summary(seq: int, service: str, metric: str = "cpu_percent") -> pb.AgentMessage:
    batch = pb.SummaryBatch(
        window_start_ms=NOW_MS - 15_000,
        window_end_ms=NOW_MS,
        summaries=[pb.MetricSummary(service=service, metric=metric, avg=1, last=1, count=1)],
    )
    return pb.AgentMessage(seq=seq, summaries=batch)


async def stream(stub: pb_grpc.ColonyStub, agent_id: str, *messages: pb.AgentMessage) -> int:
    """Send messages on one stream; the last acknowledgement."""
    hello = pb.AgentMessage(hello=pb.Hello(agent_id=agent_id))
    call = stub.Connect(iter([hello, *messages]))
    acks = [m.ack.committed_seq async for m in call if m.WhichOneof("body") == "ack"]
    return acks[-1]


def rows(store: ColonyStore, sql: str) -> list[tuple[object, ...]]:
    cur = store.reader()
    try:
        return list(cur.execute(sql).fetchall())
    finally:
        cur.close()


def test_hostile_strings_times_and_addresses_are_refused_and_the_stream_carries_on(
    tmp_path: Path,
) -> None:
    port = free_port()
    store = ColonyStore(tmp_path)

    async def scenario() -> None:
        async with colony(store, port), grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
            stub = pb_grpc.ColonyStub(ch)
            for agent_id, hostname in (
                (f"evil{CLEAR_SCREEN}", "h"),
                ("a-1", f"host{CLEAR_SCREEN}"),
                ("a-1", "h" * 3_000_000),
            ):
                answer = await register(stub, agent_id, hostname)
                assert not answer.accepted, (agent_id[:20], hostname[:20])
            assert (await register(stub, "a-1", "host-1")).accepted
            committed = await stream(
                stub,
                "a-1",
                event(1, ts_ms=2**63 - 1),
                event(2, ts_ms=253_402_300_799_000),  # 9999-12-31
                event(3, ts_ms=2**62),
                event(4, ts_ms=NOW_MS + 2 * 86_400_000),  # two days ahead
                event(5, service=f"api{CLEAR_SCREEN}"),
                event(6, message="x" * 5000),
                services(7, "not-an-ip"),
                services(8, "10.0.0.999"),
                event(9, message=f"ok {CLEAR_SCREEN}done"),
                services(10, "10.0.0.7"),
                summary(11, f"api{CLEAR_SCREEN}"),
                summary(12, "api", "cpu\u202egnp"),
                summary(13, "api"),
            )
            assert committed == 13  # refused messages are acknowledged: not resent forever

    asyncio.run(scenario())
    assert rows(store, "SELECT agent_id, hostname FROM agents") == [("a-1", "host-1")]
    stored = rows(store, "SELECT service, message FROM events")
    assert stored == [("api", "ok \\x1b[2Jdone")]
    assert rows(store, "SELECT DISTINCT ip FROM service_endpoints") == [("10.0.0.7",)]
    assert rows(store, "SELECT service, metric FROM metric_summaries") == [("api", "cpu_percent")]
    store.close()


def test_one_sequence_number_sent_on_two_streams_at_once_is_stored_once(tmp_path: Path) -> None:
    port = free_port()
    store = ColonyStore(tmp_path)

    async def scenario() -> None:
        async with colony(store, port), grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
            stub = pb_grpc.ColonyStub(ch)
            assert (await register(stub, "a-1", "h")).accepted
            acks = await asyncio.gather(
                *(
                    stream(stub, "a-1", *(event(seq, message=f"{name} {seq}") for seq in (1, 2, 3)))
                    for name in ("first", "second")
                )
            )
            assert acks == [3, 3]

    asyncio.run(scenario())
    stored = rows(store, "SELECT message FROM events ORDER BY message")
    assert len(stored) == 3, stored
    store.close()
