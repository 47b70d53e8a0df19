"""The agent daemon against a real in-process colony: events arrive at once, detail
queries about processes and events are answered from the agent's own store."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

from coral_mcp.agent.daemon import AgentDaemon
from coral_mcp.config import AgentSettings
from coral_mcp.models import DetailKind, DetailQuery, EventKind, parse_service_spec
from coral_mcp.storage.store import ColonyStore
from tests.agent.apps import start_app
from tests.conftest import Processes, free_port
from tests.harness import colony


async def _until(predicate: object, timeout_s: float, what: str) -> None:
    """Poll until `predicate` holds; the limits are generous (a loaded machine), as waiting
    ends as soon as it holds (push_s=3600 is what keeps summaries out of the test)."""
    async with asyncio.timeout(timeout_s):
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.05)


def test_a_crash_reaches_the_colony_before_the_next_push(tmp_path: Path, procs: Processes) -> None:
    pid, port = start_app(procs, "app", "--exit-code", "3")
    (tmp_path / "colony").mkdir()
    store = ColonyStore(tmp_path / "colony")
    colony_port = free_port()
    settings = AgentSettings(
        data_dir=tmp_path / "agent",
        colony=f"127.0.0.1:{colony_port}",
        services=(parse_service_spec(f"app=port:{port}"),),
        interval_s=0.1,
        push_s=3600,  # no summary push during the test: events must travel on their own
        socket_scan_s=0.1,
        host_metrics=False,
    )
    now = datetime.now(UTC)

    def crashes() -> list[object]:
        found = store.events(now - timedelta(minutes=1), now + timedelta(minutes=5))
        return [e for e in found if e.event.kind == EventKind.CRASH]

    async def scenario() -> tuple[str, str]:
        async with colony(store, colony_port) as ingest:
            agent = AgentDaemon(settings)
            stop = asyncio.Event()
            runner = asyncio.create_task(agent.run(stop))
            await _until(agent.stream.connected.is_set, 60, "the agent to connect")
            processes = await ingest.query_agent(
                agent.agent_id, DetailQuery(0, DetailKind.PROCESSES, "app"), timeout_s=30
            )
            os.kill(pid, signal.SIGUSR1)
            await _until(crashes, 60, "the crash at the colony")
            events = await ingest.query_agent(
                agent.agent_id, DetailQuery(0, DetailKind.EVENTS, "app"), timeout_s=30
            )
            stop.set()
            await runner
            return processes.json, events.json

    processes_json, events_json = asyncio.run(scenario())
    stored = crashes()[0].event  # type: ignore[attr-defined]
    assert stored.service == "app" and dict(stored.attributes)["exit_code"] == "3"
    tree = json.loads(processes_json)["processes"]
    assert tree[0]["pid"] == pid and "watched_app.py" in tree[0]["cmdline"]
    recent = json.loads(events_json)["events"]
    assert recent[0]["kind"] == "crash" and recent[0]["attributes"]["exit_code"] == "3"
