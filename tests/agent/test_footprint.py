"""The running agent stays light: a lean process without OpenSSL or heavy libraries,
and auto-discovered names that survive restarts."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from coral_mcp.agent.sensing import Sensor
from coral_mcp.config import AgentSettings
from coral_mcp.models import EventKind
from tests.agent.apps import APP, events_of, observe_until, sensor_for
from tests.conftest import Processes, coral_cmd, free_port, wait_for


def test_the_started_agent_runs_lean_without_ssl_or_heavy_libraries(
    tmp_path: Path, procs: Processes
) -> None:
    agent = procs.start(
        "agent",
        coral_cmd("agent", "start", "--colony", f"127.0.0.1:{free_port()}",
                  "--data-dir", str(tmp_path), "--no-auto"),
    )  # fmt: skip
    maps = Path(f"/proc/{agent.pid}/maps")
    wait_for(lambda: "cygrpc" in maps.read_text(), 30, "the agent to load gRPC")
    wait_for(lambda: b"watching" in procs.stderr("agent"), 30, "the agent to start watching")
    cmdline = Path(f"/proc/{agent.pid}/cmdline").read_bytes().split(b"\0")
    assert cmdline[1:3] == [b"-m", b"coral_mcp.agent"]  # re-executed in place, same pid
    loaded = maps.read_text()
    heavy_libraries = (
        "_ssl.cpython",
        "libssl",
        "libcrypto",
        "_hashlib",
        "duckdb",
        "pydantic_core",
        "numpy",
    )
    for heavy in heavy_libraries:
        assert heavy not in loaded, heavy


def test_auto_discovered_services_take_otel_service_name_and_keep_it_across_restarts(
    tmp_path: Path, procs: Processes
) -> None:
    name = f"checkout-{free_port()}"

    def start() -> int:
        port = str(free_port())
        cmd = ["env", f"OTEL_SERVICE_NAME={name}", sys.executable, str(APP), "--port", port]
        return procs.start(f"app-{port}", cmd, wait_ready=True).pid

    first = start()
    sensor = sensor_for(tmp_path, auto_discover=True)
    assert [p.pid for p in sensor.observe().processes[name]] == [first]
    os.kill(first, signal.SIGKILL)
    second = start()
    # it came back on another port: a new command line, so a deploy (not a restart)
    seen = observe_until(
        sensor,
        lambda o: any(e.kind == EventKind.DEPLOY and e.service == name for e in o.events),
        "a deploy under the same name",
    )
    deploy = next(e for e in events_of(seen, EventKind.DEPLOY) if e.service == name)
    assert dict(deploy.attributes)["pid"] == str(second)
    assert dict(deploy.attributes)["previous_pid"] == str(first)


def test_a_vanished_service_is_forgotten_after_an_hour(tmp_path: Path, procs: Processes) -> None:
    name = f"batch-{free_port()}"
    now = [1000.0]

    def start() -> int:
        port = str(free_port())
        cmd = ["env", f"OTEL_SERVICE_NAME={name}", sys.executable, str(APP), "--port", port]
        return procs.start(f"app-{port}", cmd, wait_ready=True).pid

    sensor = Sensor(
        AgentSettings(data_dir=tmp_path, auto_discover=True, host_metrics=False, socket_scan_s=1),
        clock=lambda: now[0],
    )
    pid = start()
    sensor.observe()
    os.kill(pid, signal.SIGKILL)
    procs.reap(pid)
    now[0] += 10
    gone = sensor.observe()
    assert [e.kind for e in gone.events if e.service == name] == [EventKind.EXIT]
    assert name not in gone.processes and not any(s.service == name for s in gone.samples)
    # still reported, with no process: the colony shows it down, not up with a dead pid
    assert [(s.name, s.pids) for s in gone.batch.services if s.name == name] == [(name, ())]
    now[0] += 3700
    sensor.observe()  # an hour later: forgotten
    start()
    now[0] += 10
    back = sensor.observe()
    assert [e.kind for e in back.events if e.service == name] == []  # a new baseline
