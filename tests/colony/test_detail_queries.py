"""Detail queries routed from the colony to one agent over its stream, real gRPC both ends."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from coral_mcp.agent.detail import DetailAnswerer
from coral_mcp.agent.ring_store import RingStore
from coral_mcp.errors import QueryError
from coral_mcp.models import DetailKind, DetailQuery, QueryReply, Sample, ServiceBatch
from coral_mcp.rpc.agent_stream import AgentStream, Backoff, Registration
from coral_mcp.storage.store import ColonyStore
from tests.conftest import free_port
from tests.harness import colony

FAST = Backoff(base_s=0.05, cap_s=0.2)


def reg() -> Registration:
    return Registration("agent-1", "host", "test", 1, ())


async def wait_connected(stream: AgentStream) -> None:
    async with asyncio.timeout(10):
        await stream.connected.wait()


def test_colony_gets_raw_samples_from_the_agent(tmp_path: Path) -> None:
    ring = RingStore(tmp_path / "ring.sqlite", 3600, 10_000_000)
    ring.append([Sample(100.0 + i, "api", "rss_bytes", float(i)) for i in range(30)])
    ring.append([Sample(100.0, "db", "rss_bytes", 9.0)])
    answerer = DetailAnswerer(ring, lambda: ServiceBatch(0, ()))
    store = ColonyStore(tmp_path)
    port = free_port()

    async def on_query(query: DetailQuery) -> QueryReply:
        return answerer.answer(query)

    async def scenario() -> QueryReply:
        async with colony(store, port) as ingest:
            stop = asyncio.Event()
            stream = AgentStream(f"127.0.0.1:{port}", reg, backoff=FAST, on_query=on_query)
            runner = asyncio.create_task(stream.run(stop))
            await wait_connected(stream)
            query = DetailQuery(
                0, DetailKind.SAMPLES, "api", "rss_bytes", 105_000, 200_000, limit=10
            )
            reply = await ingest.query_agent("agent-1", query, timeout_s=5)
            stop.set()
            await runner
            return reply

    reply = asyncio.run(scenario())
    assert reply.error == "" and reply.truncated
    doc = json.loads(reply.json)
    assert doc["service"] == "api"
    # 25 samples in range, cut to the newest 10
    assert [s[2] for s in doc["samples"]] == [float(i) for i in range(20, 30)]


def test_query_to_an_offline_agent_fails_at_once_saying_since_when(tmp_path: Path) -> None:
    store = ColonyStore(tmp_path)
    port = free_port()

    async def scenario() -> None:
        async with colony(store, port) as ingest:
            stop = asyncio.Event()
            stream = AgentStream(f"127.0.0.1:{port}", reg, backoff=FAST)
            runner = asyncio.create_task(stream.run(stop))
            await wait_connected(stream)
            stop.set()
            await runner
            await asyncio.sleep(0.2)
            started = time.monotonic()
            with pytest.raises(QueryError, match=r"agent agent-1 is offline since 20\d\d-"):
                await ingest.query_agent(
                    "agent-1", DetailQuery(0, DetailKind.SAMPLES, "api"), timeout_s=5
                )
            assert time.monotonic() - started < 1
            with pytest.raises(QueryError, match="agent nobody is offline"):
                await ingest.query_agent(
                    "nobody", DetailQuery(0, DetailKind.SAMPLES, "api"), timeout_s=5
                )

    asyncio.run(scenario())


def test_query_that_the_agent_does_not_answer_in_time_times_out(tmp_path: Path) -> None:
    store = ColonyStore(tmp_path)
    port = free_port()

    async def never(query: DetailQuery) -> QueryReply:
        await asyncio.sleep(60)
        raise AssertionError("unreachable")

    async def scenario() -> None:
        async with colony(store, port) as ingest:
            stop = asyncio.Event()
            stream = AgentStream(f"127.0.0.1:{port}", reg, backoff=FAST, on_query=never)
            runner = asyncio.create_task(stream.run(stop))
            await wait_connected(stream)
            with pytest.raises(QueryError, match=r"did not answer the samples query within 0\.3 s"):
                await ingest.query_agent(
                    "agent-1", DetailQuery(0, DetailKind.SAMPLES, "api"), timeout_s=0.3
                )
            stop.set()
            await runner

    asyncio.run(scenario())
