"""The running agent stays light: a lean process without OpenSSL or heavy libraries,
and auto-discovered names that survive restarts."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

import httpx2
import pytest

from coral_mcp.agent.sensing import Sensor
from coral_mcp.config import AgentSettings
from coral_mcp.models import EventKind
from tests.agent.apps import APP, events_of, observe_until, sensor_for
from tests.conftest import Processes, auth, coral_cmd, free_port, wait_for

#: Loaded at start by every Python process given its folder on PYTHONPATH: writes the
#: names of the modules the process holds when it exits.
MODULES_HOOK = """
import atexit, os, sys

def _write(path=os.environ["CORAL_TEST_MODULES_OUT"]):
    with open(path, "w") as out:
        out.write("\\n".join(sorted(sys.modules)))

atexit.register(_write)
"""


def test_the_started_agent_runs_lean_without_ssl_or_heavy_libraries(
    tmp_path: Path, procs: Processes
) -> None:
    agent = procs.start(
        "agent",
        coral_cmd("agent", "start", "--colony", f"127.0.0.1:{free_port()}",
                  "--data-dir", str(tmp_path), "--no-auto"),
    )  # fmt: skip
    maps = Path(f"/proc/{agent.pid}/maps")
    wait_for(lambda: b"watching" in procs.stderr("agent"), 30, "the agent to start watching")
    wait_for(lambda: b"cannot reach colony" in procs.stderr("agent"), 30, "a connection attempt")
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
        "cygrpc",  # grpcio's C core: the agent's gRPC is grpclib
    )
    for heavy in heavy_libraries:
        assert heavy not in loaded, heavy


def test_the_agent_streams_to_a_real_colony_and_probes_its_grpc_health_without_grpcio(
    tmp_path: Path, procs: Processes, monkeypatch: pytest.MonkeyPatch
) -> None:
    colony = procs.colony(tmp_path / "coral")
    hook, modules = tmp_path / "hook", tmp_path / "agent-modules.txt"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(MODULES_HOOK)
    monkeypatch.setenv("PYTHONPATH", str(hook))  # the agent only: the colony runs already
    monkeypatch.setenv("CORAL_TEST_MODULES_OUT", str(modules))
    config = tmp_path / "agent.toml"
    grpc_target = f"127.0.0.1:{colony.grpc_port}"
    config.write_text(
        f'[[service]]\nname = "colony"\nmatch = "port:{colony.grpc_port}"\n'
        f'[[service.health]]\nkind = "grpc"\ntarget = "{grpc_target}"\ninterval_s = 1\n'
    )
    agent = procs.agent(tmp_path / "coral", colony.grpc_port, {}, 0.5, 1.0, "agent",
                        "--no-auto", "--config", str(config))  # fmt: skip

    def health_up() -> list[dict[str, Any]] | None:
        answer = httpx2.get(
            f"{colony.url}/api/v1/metrics",
            params={"service": "colony", "metric": "health_up", "start": "10m"},
            headers=auth(colony.token),
            timeout=5,
        )
        points = answer.json().get("points", []) if answer.status_code == 200 else []
        return [p for p in points if p.get("max") == 1.0] or None

    # the stream carried the agent's registration (with the colony's token) and its
    # summaries, among them the verdict of the gRPC health check of the colony itself
    wait_for(health_up, 60, "the colony's gRPC health, reported by the agent, in the colony")
    assert "cygrpc" not in Path(f"/proc/{agent.pid}/maps").read_text()
    agent.terminate()
    assert agent.wait(30) == 0
    loaded = set(modules.read_text().split())
    assert {"coral_mcp.rpc.agent_stream", "coral_mcp.rpc.health_client", "grpclib"} <= loaded
    assert not [name for name in loaded if name == "grpc" or name.startswith("grpc.")]


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
