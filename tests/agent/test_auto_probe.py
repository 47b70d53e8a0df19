"""Health, metrics and version found on watched services' ports with no configuration,
against real services: an HTTP app, a silent TCP service, hostile endpoints."""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
import time
from pathlib import Path

from click.testing import CliRunner
from grpc_health.v1 import health_pb2

from coral_mcp.agent.auto_probe import PROBE_MAX_BYTES, PROBE_TIMEOUT_S, AutoProber, discover
from coral_mcp.agent.sensing import Observation, Sensor
from coral_mcp.cli.main import coral
from coral_mcp.models import Endpoint, EventKind
from tests.agent.apps import (
    events_of,
    grpc_health_server,
    has_event,
    observe_until,
    sensor_for,
    start_app,
)
from tests.conftest import DATA, Processes, free_port

HOSTILE = DATA / "hostile_server.py"


def _series(observation: Observation, service: str) -> dict[str, float]:
    return {s.metric: s.value for s in observation.samples if s.service == service}


def _hostile(procs: Processes, mode: str, count_file: Path | None = None) -> int:
    port = free_port()
    cmd = [sys.executable, str(HOSTILE), "--listen", str(port), "--mode", mode]
    if count_file is not None:  # connections from this process (the prober's) only
        cmd += ["--count-file", str(count_file), "--count-from", str(os.getpid())]
    procs.start(f"{mode}-{port}", cmd, wait_ready=True)
    return port


def _probed(sensor: Sensor, service: str) -> None:
    assert sensor.prober is not None
    sensor.prober.wait(15)


def test_a_real_http_service_with_health_and_metrics_is_found_and_polled_with_no_config(
    tmp_path: Path, procs: Processes
) -> None:
    _, port = start_app(procs, "web")
    sensor = sensor_for(tmp_path, f"web=port:{port}")  # no health check, no scrape given
    sensor.observe()
    _probed(sensor, "web")
    seen = observe_until(
        sensor,
        lambda o: "health_up" in _series(o, "web") and "prom:app_in_flight" in _series(o, "web"),
        "health and metrics series found by probing",
    )
    series = _series(seen[-1], "web")
    assert series["health_up"] == 1.0 and series["health_latency_ms"] < 1000
    assert series["component_health:db"] == 1.0  # read from the JSON body
    assert series["scrape_up"] == 1.0
    assert sensor.prober is not None
    (finding,) = sensor.prober.findings("web")
    base = f"http://127.0.0.1:{port}"
    assert (finding.kind, finding.health, finding.metrics, finding.version) == (
        "http",
        f"{base}/health",
        f"{base}/metrics",
        f"{base}/version",
    )


def test_a_changed_version_answer_is_a_deploy_with_old_and_new_version(
    tmp_path: Path, procs: Processes
) -> None:
    control = tmp_path / "control.json"
    control.write_text(json.dumps({"healthy": True, "version": "3.1.0"}))
    _, port = start_app(procs, "api", "--control", str(control))
    now = [1000.0]
    sensor = sensor_for(tmp_path, f"api=port:{port}", clock=lambda: now[0])
    sensor.observe()
    _probed(sensor, "api")
    sensor.observe()  # takes in the finding, reads the version: 3.1.0
    control.write_text(json.dumps({"healthy": True, "version": "3.2.0"}))
    now[0] += 61  # the version endpoint is read every minute
    deploys = [e for e in sensor.observe().events if e.kind == EventKind.DEPLOY]
    assert len(deploys) == 1
    attrs = dict(deploys[0].attributes)
    assert (attrs["old_version"], attrs["new_version"]) == ("3.1.0", "3.2.0")


def test_a_service_that_speaks_no_http_is_left_alone_after_one_probe(
    tmp_path: Path, procs: Processes
) -> None:
    count = tmp_path / "accepted"
    port = _hostile(procs, "silent", count)
    sensor = sensor_for(tmp_path, f"quiet=port:{port}")
    sensor.observe()
    _probed(sensor, "quiet")
    for _ in range(4):
        sensor.observe()
    assert sensor.prober is not None
    (finding,) = sensor.prober.findings("quiet")
    assert finding.kind == "none" and finding.detail == "no answer"
    assert count.read_text() == "1"  # one connection, one unanswered question, then quiet
    assert "health_up" not in _series(sensor.observe(), "quiet")


def test_a_moment_without_the_services_processes_does_not_ask_the_port_again(
    tmp_path: Path, procs: Processes
) -> None:
    """A socket scan that misses the listener once (or a service briefly remembered as
    gone) must not make the agent knock on a silent port again when the same process is
    back; a new process on the port is asked once more."""
    count = tmp_path / "accepted"
    port = _hostile(procs, "silent", count)
    prober = AutoProber(interval_s=1.0)
    listen = (Endpoint("127.0.0.1", port),)
    prober.update(0.0, [("quiet", (4242,), listen)])
    prober.wait(15)
    for now, pids in ((1.0, (4242,)), (2.0, ()), (3.0, (4242,)), (4.0, (4242,))):
        prober.update(now, [("quiet", pids, listen if pids else ())])
        prober.wait(15)
    assert [f.kind for f in prober.findings("quiet")] == ["none"]
    assert count.read_text() == "1"
    prober.update(5.0, [("quiet", (4343,), listen)])  # another process listens there now
    prober.wait(15)
    prober.update(6.0, [("quiet", (4343,), listen)])
    assert count.read_text() == "2"  # asked once more


def test_hostile_endpoints_cost_nothing_beyond_the_time_and_byte_caps(
    procs: Processes,
) -> None:
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for mode, kind in (("garbage", "none"), ("endless", "http"), ("slowloris", "none")):
        port = _hostile(procs, mode)
        started = time.monotonic()
        finding = discover("evil", Endpoint("127.0.0.1", port))
        took = time.monotonic() - started
        assert finding.kind == kind, (mode, finding)
        # slowloris: one deadline for the whole exchange, not one per dribbled byte
        assert took < 7 * PROBE_TIMEOUT_S + 1, (mode, took)
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    assert grown_kib < 16 * PROBE_MAX_BYTES / 1024  # an endless body costs the cap, no more


def test_an_endless_health_body_is_cut_at_the_cap_while_sampling_carries_on(
    tmp_path: Path, procs: Processes
) -> None:
    port = _hostile(procs, "endless")
    sensor = sensor_for(tmp_path, f"flood=port:{port}")
    sensor.observe()
    _probed(sensor, "flood")
    started = time.monotonic()
    series = _series(sensor.observe(), "flood")
    assert time.monotonic() - started < 3 * PROBE_TIMEOUT_S + 2
    assert series["health_body_bytes"] <= PROBE_MAX_BYTES
    assert "processes" in series  # the service itself is still sampled


def test_auto_probing_can_be_turned_off_globally_and_per_service(
    tmp_path: Path, procs: Processes
) -> None:
    _, port = start_app(procs, "web")
    off = sensor_for(tmp_path, f"web=port:{port}", auto_probe=False)
    assert off.prober is None
    skipped = sensor_for(tmp_path, f"web=port:{port}", auto_probe_skip=("web",))
    skipped.observe()
    assert skipped.prober is not None
    skipped.prober.wait(5)
    skipped.observe()
    assert skipped.prober.findings("web") == []


def test_agent_status_shows_what_probing_found(tmp_path: Path, procs: Processes) -> None:
    _, port = start_app(procs, "web")
    silent = _hostile(procs, "silent")
    result = CliRunner().invoke(
        coral,
        [
            "agent", "status", "--data-dir", str(tmp_path), "--json",
            "--service", f"web=port:{port}", "--service", f"quiet=port:{silent}",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = {s["name"]: s for s in json.loads(result.stdout)["services"]}
    assert doc["web"]["probed"][0]["speaks"] == "http"
    assert doc["web"]["probed"][0]["metrics"] == f"http://127.0.0.1:{port}/metrics"
    assert doc["quiet"]["probed"][0]["speaks"] == "none"
    text = CliRunner().invoke(
        coral, ["agent", "status", "--data-dir", str(tmp_path), "--service", f"web=port:{port}"]
    )
    assert f"probed {port}: HTTP /health /metrics /version" in text.stdout


def test_deploy_seen_by_restart_is_not_reported_twice_by_the_version_probe(
    tmp_path: Path, procs: Processes
) -> None:
    control = tmp_path / "control.json"
    control.write_text(json.dumps({"version": "1.0"}))
    port = free_port()
    app = str(DATA / "watched_app.py")

    def start(version: str) -> int:
        control.write_text(json.dumps({"version": version}))
        cmd = ["env", f"APP_VERSION={version}", sys.executable, app]
        cmd += ["--port", str(port), "--control", str(control)]
        return procs.start(f"v{version}", cmd, wait_ready=True).pid

    first = start("1.0")
    now = [1000.0]
    sensor = sensor_for(tmp_path, f"api=port:{port}", clock=lambda: now[0])
    sensor.observe()
    _probed(sensor, "api")
    sensor.observe()
    os.kill(first, signal.SIGTERM)
    procs.reap(first)
    start("2.0")
    seen = []
    for _ in range(4):
        now[0] += 61
        seen.append(sensor.observe())
    deploys = events_of(seen, EventKind.DEPLOY)
    assert len(deploys) == 1, deploys
    assert dict(deploys[0].attributes)["new_version"] == "2.0"
    assert not has_event(EventKind.RESTART)(seen[-1])


def test_a_grpc_port_is_asked_the_grpc_health_question() -> None:
    with grpc_health_server() as (port, servicer):
        servicer.set("", health_pb2.HealthCheckResponse.SERVING)
        finding = discover("rpc", Endpoint("127.0.0.1", port))
    assert (finding.kind, finding.health) == ("grpc", f"127.0.0.1:{port}")
