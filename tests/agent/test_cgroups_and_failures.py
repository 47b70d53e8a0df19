"""cgroup limits and OOM kills, systemd exit status, leaks, and the agent carrying on
through unreadable or vanishing things. The cgroup tree, /proc entries and systemctl
are fakes here (the real ones need a cgroup v2 host with systemd); processes are real."""

from __future__ import annotations

import os
import signal
import stat
from pathlib import Path

import pytest

from coral_mcp.agent.collectors.procfs import ProcFS
from coral_mcp.agent.daemon import AgentDaemon
from coral_mcp.config import AgentSettings
from coral_mcp.models import EventKind, parse_service_spec
from tests.agent.apps import events_of, has_event, observe_until, sensor_for, start_app
from tests.conftest import Processes

UNIT = "app.slice/billing.service"


def fake_cgroup(root: Path, oom_kills: int) -> Path:
    group = root / UNIT
    group.mkdir(parents=True, exist_ok=True)
    (group / "cgroup.controllers").write_text("cpu memory\n")
    (group / "memory.max").write_text("268435456\n")
    (group / "memory.current").write_text("104857600\n")
    (group / "memory.events").write_text(
        f"low 0\nhigh 0\nmax 4\noom {oom_kills}\noom_kill {oom_kills}\n"
    )
    (group / "cpu.max").write_text("50000 100000\n")
    (group / "cpu.stat").write_text("usage_usec 100\nnr_throttled 3\nthrottled_usec 2000\n")
    return group


def fake_proc(root: Path, pid: int) -> None:
    entry = root / str(pid)
    entry.mkdir(parents=True)
    (entry / "cgroup").write_text(f"0::/{UNIT}\n")


def fake_systemctl(tmp_path: Path, code: int, status: int) -> str:
    script = tmp_path / "systemctl"
    script.write_text(
        "#!/bin/sh\n"
        f'[ "$1" = show ] && [ "$2" = billing.service ] || exit 1\n'
        f"echo ExecMainCode={code}\necho ExecMainStatus={status}\necho Result=signal\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


def test_a_cgroup_shared_with_other_processes_is_not_reported_as_the_services_memory(
    tmp_path: Path, procs: Processes
) -> None:
    pid, port = start_app(procs, "billing")
    proc_root, cgroup_root = tmp_path / "proc", tmp_path / "cgroup"
    fake_proc(proc_root, pid)
    group = fake_cgroup(cgroup_root, oom_kills=0)
    sensor = sensor_for(
        tmp_path, f"billing=port:{port}", proc_root=proc_root, cgroup_root=cgroup_root
    )
    (group / "cgroup.procs").write_text(f"{pid}\n")  # its own cgroup: its figures
    own = {s.metric for s in sensor.observe().samples if s.service == "billing"}
    assert "cgroup_memory_bytes" in own
    (group / "cgroup.procs").write_text(f"{pid}\n1\n77\n")  # a container's: not its own
    shared = {s.metric: s.value for s in sensor.observe().samples if s.service == "billing"}
    assert "cgroup_memory_bytes" not in shared and "cgroup_memory_limit_bytes" not in shared
    assert shared["rss_bytes"] < 104857600  # the process's own memory is still there


def test_an_oom_kill_in_the_cgroup_is_an_event_and_systemd_tells_the_signal(
    tmp_path: Path, procs: Processes
) -> None:
    pid, _ = start_app(procs, "billing")
    proc_root, cgroup_root = tmp_path / "proc", tmp_path / "cgroup"
    fake_proc(proc_root, pid)
    group = fake_cgroup(cgroup_root, oom_kills=0)
    sensor = sensor_for(
        tmp_path,
        auto_discover=True,
        proc_root=proc_root,
        cgroup_root=cgroup_root,
        systemctl=fake_systemctl(tmp_path, code=2, status=9),
    )
    first = sensor.observe()
    # auto-discovery names the service after its systemd unit
    assert "billing" in first.processes and first.processes["billing"][0].pid == pid
    limits = {s.metric: s.value for s in first.samples if s.service == "billing"}
    assert limits["cgroup_memory_limit_bytes"] == 268435456
    assert limits["cgroup_cpu_limit_cores"] == 0.5

    fake_cgroup(cgroup_root, oom_kills=1)  # the kernel's OOM killer strikes ...
    os.kill(pid, signal.SIGKILL)
    procs.reap(pid)  # ... and the parent reaps at once: /proc no longer knows the status
    seen = observe_until(sensor, has_event(EventKind.OOM_KILL), "an OOM kill event")
    oom = events_of(seen, EventKind.OOM_KILL)[0]
    assert oom.service == "billing" and dict(oom.attributes)["new_oom_kills"] == "1"
    crash = dict(events_of(seen, EventKind.CRASH)[0].attributes)
    assert crash["exit_source"] == "systemd" and crash["signal_name"] == "SIGKILL"
    assert crash["unit"] == "billing.service"
    assert group.exists()


def test_a_leaking_process_shows_growing_rss(tmp_path: Path, procs: Processes) -> None:
    _, port = start_app(procs, "leaky", "--leak-mb-per-s", "40")
    sensor = sensor_for(tmp_path, f"leaky=port:{port}")

    def rss(observation: object) -> float:
        return next(
            s.value
            for s in observation.samples  # type: ignore[attr-defined]
            if s.metric == "rss_bytes"
        )

    start = rss(sensor.observe())
    seen = observe_until(sensor, lambda o: rss(o) > start + 30e6, "RSS to grow by 30 MB")
    values = [rss(o) for o in seen]
    assert values[-1] > values[0]


def test_an_unreadable_proc_entry_is_skipped_and_logged(
    tmp_path: Path, procs: Processes, caplog: pytest.LogCaptureFixture
) -> None:
    pid, port = start_app(procs, "app")
    proc_root = tmp_path / "proc"
    (proc_root / str(pid) / "cgroup").mkdir(parents=True)  # a directory cannot be read
    (proc_root / str(pid) / "stat").mkdir()
    (proc_root / "net").mkdir()
    (proc_root / "net" / "snmp").write_text("garbage\n")
    caplog.set_level("DEBUG", logger="coral_mcp.agent")
    sensor = sensor_for(tmp_path, f"app=port:{port}", proc_root=proc_root, host_metrics=True)
    observation = sensor.observe()
    assert observation.processes["app"][0].pid == pid
    assert ProcFS(proc_root).zombie_exit_status(pid) is None
    assert f"cannot read {proc_root / str(pid) / 'cgroup'}" in caplog.text
    host = {s.metric for s in observation.samples if s.service == "host"}
    assert {"cpu_percent", "memory_used_percent", "load1", "disk_used_percent"} <= host
    cpus = [s.value for s in observation.samples if (s.service, s.metric) == ("host", "cpu_count")]
    assert cpus == [os.cpu_count()]


def test_host_counters_become_rates_including_tcp_from_proc_net_snmp(tmp_path: Path) -> None:
    sensor = sensor_for(tmp_path, host_metrics=True)
    sensor.observe()
    second = {s.metric: s.value for s in sensor.observe().samples if s.service == "host"}
    for rate in ("net_recv_bytes_per_s", "tcp_retransmits_per_s", "tcp_attempt_fails_per_s"):
        assert second[rate] >= 0
    assert 0 <= second["cpu_percent"] <= 100 * os.cpu_count()  # type: ignore[operator]


def test_a_process_vanishing_mid_sample_loses_nothing_already_stored(
    tmp_path: Path, procs: Processes
) -> None:
    pid, _ = start_app(procs, "app")
    agent = AgentDaemon(
        AgentSettings(data_dir=tmp_path, services=(parse_service_spec(f"app=pid:{pid}"),))
    )
    agent.sample_once()
    stored = agent.ring.count()
    os.kill(pid, signal.SIGKILL)
    procs.reap(pid)
    agent.sample_once()
    assert agent.ring.count() >= stored
    events = agent.ring.read_events(0, 2**62, 10)
    assert [e.kind for e in events] == [EventKind.EXIT]  # reaped at once: status unknown


def test_pushes_after_the_first_leave_out_steady_series(tmp_path: Path, procs: Processes) -> None:
    ports = [start_app(procs, f"svc{i}")[1] for i in range(3)]
    agent = AgentDaemon(
        AgentSettings(
            data_dir=tmp_path,
            services=tuple(parse_service_spec(f"svc{i}=port:{p}") for i, p in enumerate(ports)),
        )
    )
    sizes = []
    for _ in range(5):
        agent.sample_once()
        before = agent.pushed_bytes
        agent.push_once()
        sizes.append(agent.pushed_bytes - before)
    # Each series goes out in full once (rates from the second look, health checks and
    # scrapes when their first answer is in); the pushes after that carry what moved.
    assert max(sizes) > 1000
    assert sizes[-1] < max(sizes) / 2
