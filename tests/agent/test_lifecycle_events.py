"""Lifecycle events from real processes: start, exit, crash, restart, deploy, dependencies."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from pathlib import Path

from coral_mcp.agent.collectors.procfs import ProcFS
from coral_mcp.models import EventKind, Severity
from tests.agent.apps import events_of, has_event, observe_until, sensor_for, start_app
from tests.conftest import DATA, Processes, free_port


def start_copy(procs: Processes, name: str, python: str, tag: str, port: int = 0) -> int:
    """tcp_service.py (stdlib only) run by a copied interpreter; its pid."""
    cmd = [python, str(DATA / "tcp_service.py"), "--listen", str(port or free_port()), "--tag", tag]
    return procs.start(name, cmd, wait_ready=True).pid


def test_a_process_exiting_with_code_3_is_reported_as_a_crash_with_its_code(
    tmp_path: Path, procs: Processes
) -> None:
    pid, port = start_app(procs, "app", "--exit-code", "3")
    sensor = sensor_for(tmp_path, f"app=port:{port}")
    assert sensor.observe().events == ()  # the first look is the baseline
    os.kill(pid, signal.SIGUSR1)
    seen = observe_until(sensor, has_event(EventKind.CRASH), "a crash event")
    crash = events_of(seen, EventKind.CRASH)[0]
    attrs = dict(crash.attributes)
    assert crash.service == "app" and crash.severity is Severity.CRITICAL
    assert attrs["pid"] == str(pid) and attrs["exit_code"] == "3"
    assert "exit code 3" in crash.message


def test_a_process_killed_by_sigkill_is_a_crash_naming_the_signal(
    tmp_path: Path, procs: Processes
) -> None:
    pid, port = start_app(procs, "app")
    sensor = sensor_for(tmp_path, f"app=port:{port}")
    sensor.observe()
    os.kill(pid, signal.SIGKILL)
    seen = observe_until(sensor, has_event(EventKind.CRASH), "a crash event")
    attrs = dict(events_of(seen, EventKind.CRASH)[0].attributes)
    assert attrs["signal"] == str(int(signal.SIGKILL)) and attrs["signal_name"] == "SIGKILL"
    assert "exit_code" not in attrs


def test_a_clean_exit_is_an_exit_not_a_crash(tmp_path: Path, procs: Processes) -> None:
    pid, port = start_app(procs, "app", "--exit-code", "0")
    sensor = sensor_for(tmp_path, f"app=port:{port}")
    sensor.observe()
    os.kill(pid, signal.SIGUSR1)
    seen = observe_until(sensor, has_event(EventKind.EXIT), "an exit event")
    exit_event = events_of(seen, EventKind.EXIT)[0]
    assert dict(exit_event.attributes)["exit_code"] == "0"
    assert exit_event.severity is Severity.INFO
    assert events_of(seen, EventKind.CRASH) == []


def test_workers_coming_and_going_under_another_command_line_are_no_deploy_or_exit(
    tmp_path: Path, procs: Processes
) -> None:
    port = free_port()
    cmd = [sys.executable, str(DATA / "prefork_server.py"), "--listen", str(port)]
    leader = procs.start("prefork", cmd, wait_ready=True).pid
    sensor = sensor_for(tmp_path, f"db=port:{port}")
    sensor.observe()
    seen = []
    for _ in range(12):  # ~6 workers start and end meanwhile
        time.sleep(0.25)
        seen.append(sensor.observe())
    assert any(len(o.processes.get("db", ())) > 1 for o in seen)  # workers were watched
    assert [e for o in seen for e in o.events if e.kind != EventKind.START] == []
    # The leader itself ending is still an exit.
    os.kill(leader, signal.SIGTERM)
    ended = observe_until(sensor, lambda o: bool(o.events), "the leader's end")
    assert {e.kind for e in ended[-1].events} & {EventKind.EXIT, EventKind.CRASH}


def _python_copy(directory: Path) -> str:
    """A copy of the Python executable at a new path: a 'new build' of the program."""
    directory.mkdir()
    target = directory / "python3"
    shutil.copy2(os.path.realpath(sys.executable), target)
    return str(target)


def test_a_restart_with_a_changed_executable_is_one_deploy_not_a_restart(
    tmp_path: Path, procs: Processes
) -> None:
    v1, v2 = _python_copy(tmp_path / "v1"), _python_copy(tmp_path / "v2")
    tag = f"deploy-{free_port()}"
    first = start_copy(procs, "v1", v1, tag)
    sensor = sensor_for(tmp_path, f"app=name:--tag {tag}")
    sensor.observe()
    os.kill(first, signal.SIGTERM)
    observe_until(sensor, has_event(EventKind.EXIT), "the old process's exit")
    second = start_copy(procs, "v2", v2, tag)
    seen = observe_until(sensor, has_event(EventKind.DEPLOY), "a deploy event")
    assert events_of(seen, EventKind.RESTART) == []
    deploy = events_of(seen, EventKind.DEPLOY)
    assert len(deploy) == 1
    attrs = dict(deploy[0].attributes)
    assert attrs["pid"] == str(second) and attrs["previous_pid"] == str(first)
    assert (attrs["old_exe"], attrs["new_exe"]) == (v1, v2)
    assert "executable path" in attrs["changed"]


def test_a_restart_with_a_new_app_version_is_one_deploy_with_old_and_new_version(
    tmp_path: Path, procs: Processes
) -> None:
    port = free_port()

    def start(version: str) -> int:
        cmd = ["env", f"APP_VERSION={version}", sys.executable, str(DATA / "tcp_service.py")]
        return procs.start(version, [*cmd, "--listen", str(port)], wait_ready=True).pid

    first = start("1.4.2")
    sensor = sensor_for(tmp_path, f"api=port:{port}")
    sensor.observe()
    os.kill(first, signal.SIGTERM)
    procs.reap(first)
    start("1.5.0")  # same executable, same command line: only the environment differs
    seen = observe_until(sensor, has_event(EventKind.DEPLOY), "a deploy event")
    deploys = events_of(seen, EventKind.DEPLOY)
    assert len(deploys) == 1 and events_of(seen, EventKind.RESTART) == []
    attrs = dict(deploys[0].attributes)
    assert (attrs["old_version"], attrs["new_version"]) == ("1.4.2", "1.5.0")
    assert attrs["changed"] == "environment"
    assert "1.4.2 -> 1.5.0" in deploys[0].message


def test_the_toolchain_and_test_runner_versions_in_an_environment_are_not_the_apps(
    procs: Processes,
) -> None:
    """A Docker Python image sets PYTHON_VERSION and pytest sets PYTEST_VERSION for every
    process it starts: neither is the version of the application."""
    env = ["env", "PYTHON_VERSION=3.11.7", "PYTEST_VERSION=9.1.1", "PIP_VERSION=24.0"]
    cmd = [*env, "APP_VERSION=2.0", "GIT_COMMIT=0a1b2c", sys.executable]
    script = [str(DATA / "tcp_service.py"), "--listen", str(free_port())]
    pid = procs.start("app", [*cmd, *script], wait_ready=True).pid
    assert ProcFS().version_environ(pid) == (("APP_VERSION", "2.0"), ("GIT_COMMIT", "0a1b2c"))


def test_a_restart_with_nothing_changed_stays_a_restart(tmp_path: Path, procs: Processes) -> None:
    port = free_port()

    def start() -> int:
        cmd = ["env", "APP_VERSION=2.0", sys.executable, str(DATA / "tcp_service.py")]
        return procs.start("same", [*cmd, "--listen", str(port)], wait_ready=True).pid

    first = start()
    sensor = sensor_for(tmp_path, f"api=port:{port}")
    sensor.observe()
    os.kill(first, signal.SIGKILL)
    procs.reap(first)
    start()
    seen = observe_until(sensor, has_event(EventKind.RESTART), "a restart event")
    assert events_of(seen, EventKind.DEPLOY) == []


def test_a_replaced_binary_at_the_same_path_is_a_deploy(tmp_path: Path, procs: Processes) -> None:
    path = _python_copy(tmp_path / "bin")
    tag = f"inode-{free_port()}"
    port = free_port()
    first = start_copy(procs, "old", path, tag, port)
    sensor = sensor_for(tmp_path, f"app=name:--tag {tag}")
    sensor.observe()
    os.kill(first, signal.SIGKILL)
    observe_until(sensor, has_event(EventKind.CRASH), "the old process's end")
    staged = tmp_path / "python3.new"  # a deploy replaces the file: a new inode
    shutil.copy2(os.path.realpath(sys.executable), staged)
    os.replace(staged, path)
    start_copy(procs, "new", path, tag, port)
    seen = observe_until(sensor, has_event(EventKind.DEPLOY), "a deploy event")
    attrs = dict(events_of(seen, EventKind.DEPLOY)[0].attributes)
    assert attrs["changed"] == "executable file"


def test_a_new_connection_and_its_loss_are_dependency_events(
    tmp_path: Path, procs: Processes
) -> None:
    db_port, api_port = free_port(), free_port()
    db = procs.tcp_service("db", db_port)
    sensor = sensor_for(tmp_path, f"api=port:{api_port}")
    sensor.observe()  # api is not running yet
    procs.tcp_service("api", api_port, db_port)
    seen = observe_until(sensor, has_event(EventKind.DEPENDENCY_NEW), "a new dependency")
    assert dict(events_of(seen, EventKind.DEPENDENCY_NEW)[0].attributes) == {
        "peer": f"127.0.0.1:{db_port}"
    }
    assert events_of(seen, EventKind.START)[0].service == "api"
    db.kill()
    db.wait()
    seen = observe_until(sensor, has_event(EventKind.DEPENDENCY_LOST), "a lost dependency")
    lost = events_of(seen, EventKind.DEPENDENCY_LOST)[0]
    assert lost.severity is Severity.WARNING
    # the peer closed: api's socket now waits in CLOSE_WAIT, which the agent counts
    close_wait = [s.value for s in seen[-1].samples if s.metric == "connections_close_wait"]
    assert close_wait == [1.0]
