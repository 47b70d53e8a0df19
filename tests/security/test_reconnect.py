"""After a healthy session the agent's reconnect backoff starts afresh: colony restarts
one after another do not make it wait longer and longer. Real gRPC, real DuckDB."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from coral_mcp.rpc.agent_stream import AgentStream, Backoff
from coral_mcp.storage.store import ColonyStore
from tests.conftest import free_port
from tests.harness import colony
from tests.rpc.test_stream import registration, until


def test_reconnect_backoff_resets_after_each_healthy_session(tmp_path: Path) -> None:
    port = free_port()
    store = ColonyStore(tmp_path)
    backoff = Backoff(base_s=0.2, factor=2.0, cap_s=30.0)
    reconnects_s: list[float] = []

    async def scenario() -> None:
        stream = AgentStream(f"127.0.0.1:{port}", registration, backoff=backoff)
        stop = asyncio.Event()
        task = asyncio.create_task(stream.run(stop))
        for _ in range(4):
            async with colony(store, port):
                started = time.monotonic()
                await until(stream.connected.is_set, 40)
                reconnects_s.append(time.monotonic() - started)
            await until(lambda: not stream.connected.is_set())
            await asyncio.sleep(1.5)  # the colony is down: the agent fails a few times
        stop.set()
        await task

    asyncio.run(scenario())
    store.close()
    # Without the reset the fourth wait is ~0.2 * 2**12 s, capped at 15-30 s.
    assert max(reconnects_s[1:]) < 3.0, reconnects_s
