"""The agent's collectors and service resolution against real processes and sockets."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from coral_mcp.agent import sensing
from coral_mcp.agent.collectors.processes import (
    ProcessInfo,
    ProcessSampler,
    list_processes,
    service_name_for,
)
from coral_mcp.agent.collectors.sockets import SocketScanner, normalize_ip
from coral_mcp.agent.daemon import AgentDaemon
from coral_mcp.agent.services import resolve_services
from coral_mcp.config import AgentSettings
from coral_mcp.models import Endpoint, parse_service_spec
from tests.agent.apps import observe_until, sensor_for
from tests.conftest import DATA, Processes, free_port, wait_for


def test_scanner_sees_listening_sockets_and_outbound_peers(procs: Processes) -> None:
    db_port, api_port = free_port(), free_port()
    db = procs.tcp_service("db", db_port)
    api = procs.tcp_service("api", api_port, db_port)
    table = SocketScanner().scan()
    assert Endpoint("127.0.0.1", db_port) in table.listen_endpoints([db.pid])
    assert table.pids_listening_on(api_port) == {api.pid}
    assert table.outbound_peers([api.pid]) == {Endpoint("127.0.0.1", db_port): 1}
    # db's side of the same connection is inbound: not a peer of db
    assert table.outbound_peers([db.pid]) == {}


def test_services_resolve_by_port_name_and_pid(procs: Processes) -> None:
    db_port, api_port = free_port(), free_port()
    db = procs.tcp_service("db", db_port)
    api = procs.tcp_service("api", api_port, db_port)
    specs = [
        parse_service_spec(f"db=port:{db_port}"),
        parse_service_spec(f"api=name:--listen {api_port}"),
        parse_service_spec(f"self=pid:{os.getpid()}"),
        parse_service_spec("gone=port:1"),
    ]
    resolved = resolve_services(
        specs, False, SocketScanner().scan(), list_processes(), frozenset({os.getpid()})
    )
    assert {r.name: r.pids for r in resolved} == {
        "db": (db.pid,),
        "api": (api.pid,),
        "self": (),  # the agent's own pid never matches
        "gone": (),  # nothing listens on port 1: the service is down, not missing
    }


def test_auto_discovery_names_interpreted_services_by_their_script(procs: Processes) -> None:
    port = free_port()
    proc = procs.tcp_service("svc", port)
    resolved = resolve_services([], True, SocketScanner().scan(), list_processes())
    by_pid = {pid: r for r in resolved for pid in r.pids}
    assert by_pid[proc.pid].name == "tcp_service"
    assert by_pid[proc.pid].spec == "auto"


def test_service_names_for_common_interpreter_command_lines() -> None:
    def name(*cmdline: str) -> str:
        return service_name_for(ProcessInfo(1, Path(cmdline[0]).name, cmdline))

    assert name("/usr/bin/python3", "-m", "http.server", "8000") == "http.server"
    assert name("node", "--inspect", "/srv/app/server.js") == "server"
    assert name("java", "-jar", "billing.jar") == "billing"
    assert name("/usr/sbin/nginx", "-g", "daemon off;") == "nginx"
    # inline code and long names stay short: they head every line of `what is running?`
    assert name("/usr/bin/python3", "-c", "import socket, time; " * 4) == "python3-c"
    long_script = name("python3", "/srv/" + "report_generator_for_quarterly" * 3 + ".py")
    assert 0 < len(long_script) <= 24 and long_script.startswith("report_generator")


def test_sampler_discards_the_first_cpu_reading_then_reports_it() -> None:
    sampler = ProcessSampler()
    first = sampler.sample([os.getpid()])[os.getpid()]
    assert first.cpu_percent is None
    assert first.rss_bytes > 1_000_000 and first.threads >= 1 and first.fds
    second = sampler.sample([os.getpid()])[os.getpid()]
    assert second.cpu_percent is not None and second.cpu_percent >= 0


def test_sampler_skips_a_process_that_vanished() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    sampler = ProcessSampler()
    assert sampler.sample([child.pid, os.getpid()]).keys() == {os.getpid()}


def test_ipv4_mapped_addresses_are_unwrapped() -> None:
    assert normalize_ip("::ffff:10.1.2.3") == "10.1.2.3"
    assert normalize_ip("::1") == "::1"


def test_agent_sample_records_per_service_series_and_peers(
    tmp_path: Path, procs: Processes
) -> None:
    db_port, api_port = free_port(), free_port()
    procs.tcp_service("db", db_port)
    procs.tcp_service("api", api_port, db_port)
    agent = AgentDaemon(
        AgentSettings(
            data_dir=tmp_path,
            services=(
                parse_service_spec(f"db=port:{db_port}"),
                parse_service_spec(f"api=port:{api_port}"),
            ),
        )
    )
    agent.sample_once()
    batch = agent.sample_once()
    api = next(s for s in batch.services if s.name == "api")
    assert [(str(p.remote), p.connections) for p in api.peers] == [(f"127.0.0.1:{db_port}", 1)]
    samples = agent.ring.read(0, 10**12)
    series = {(s.service, s.metric) for s in samples}
    for service in ("api", "db"):
        for metric in ("rss_bytes", "threads", "fds", "processes", "connections_out"):
            assert (service, metric) in series
        assert (service, "cpu_percent") in series  # present from the second sample on
    connections = [s.value for s in samples if s.metric == "connections_out" and s.service == "api"]
    assert connections == [1.0, 1.0]


def test_same_script_in_three_directories_is_three_services_with_short_names(
    tmp_path: Path, procs: Processes
) -> None:
    ports = [free_port() for _ in range(3)]
    for index, port in enumerate(ports):
        shop = tmp_path / f"shop{index}"
        shop.mkdir()
        (shop / "app.py").write_text((DATA / "tcp_service.py").read_text())
        script = f"cd {shop} && exec {sys.executable} app.py --listen {port}"
        procs.start(f"app{index}", ["sh", "-c", script], wait_ready=True)
    code = "import socket,time;s=socket.socket();s.bind(('127.0.0.1',0));s.listen();"
    code += "print('ready',flush=True);time.sleep(600)  # " + "x" * 80
    inline = procs.start("inline", [sys.executable, "-c", code], wait_ready=True)
    sensor = sensor_for(tmp_path, auto_discover=True, auto_probe=False)
    services = {s.name: s for s in sensor.observe().batch.services}
    mine = {
        name: state
        for name, state in services.items()
        if any(e.port in ports for e in state.listen) or inline.pid in state.pids
    }
    assert len(mine) == 4
    names = sorted(mine)
    # One of them keeps the bare name, unless another `app` listening on this host (a test
    # of another suite on a shared machine) has it: the others carry their ports.
    foreign_app = "app" in services and "app" not in mine
    assert sum(n == "app" for n in names) == (0 if foreign_app else 1)
    assert all(len(n) <= 24 for n in names)
    assert {n for n in names if n.startswith("app-")} <= {f"app-{p}" for p in ports}
    (inline_name,) = [n for n in names if inline.pid in mine[n].pids]
    named = re.fullmatch(r"(python[\d.]*-c)(?:-(\d+))?", inline_name)
    assert named, inline_name  # its interpreter and -c, not its code
    if named.group(2):  # its port, only when another `python -c` here has the bare name
        assert named.group(1) in services, inline_name
        assert int(named.group(2)) in {e.port for e in mine[inline_name].listen}


def test_an_auto_discovered_process_with_the_sdk_is_named_by_it(
    tmp_path: Path, procs: Processes
) -> None:
    port = free_port()
    app = procs.start(
        "sdk-app",
        [sys.executable, str(DATA / "sdk_app.py"), "--port", str(port), "--version", "1"],
        wait_ready=True,
    )
    sensor = sensor_for(tmp_path, auto_discover=True, auto_probe=False)
    services = {s.name: s for s in sensor.observe().batch.services}
    assert app.pid in services["shop-api"].pids  # sdk.init(service="shop-api"), not "sdk_app"


def test_a_steady_service_rests_and_a_new_connection_wakes_it_at_once(
    tmp_path: Path, procs: Processes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sensing, "REST_EVERY", 10**9)  # no scheduled look: only news wakes it
    port = free_port()
    db = psutil.Process(procs.tcp_service("db", port).pid)
    # No auto-probe: its one connection to db (open for up to a second, then left in
    # CLOSE_WAIT by db) would be news of its own at whichever look it lands in.
    sensor = sensor_for(tmp_path, f"db=port:{port}", auto_probe=False)

    def looked_at(observation: sensing.Observation) -> bool:
        return any(s.service == "db" and s.metric == "rss_bytes" for s in observation.samples)

    seen = observe_until(sensor, lambda o: not looked_at(o), "the steady service to rest")
    assert len(seen) > sensing.QUIET_AFTER and all(looked_at(o) for o in seen[:-1])
    resting = sensor.observe()
    assert not looked_at(resting)
    assert [s.pids for s in resting.batch.services if s.name == "db"] == [
        seen[0].batch.services[0].pids
    ]

    def held_by_db() -> int:
        return sum(c.status == psutil.CONN_ESTABLISHED for c in db.net_connections("tcp"))

    before = held_by_db()
    with socket.create_connection(("127.0.0.1", port)):
        # The next look after db has accepted it (until then the kernel's queue holds it).
        wait_for(lambda: held_by_db() > before, 10, "db to accept the connection")
        woken = sensor.observe()
    assert looked_at(woken)

    def accepted(observation: sensing.Observation) -> float:
        return next(
            s.value
            for s in observation.samples
            if (s.service, s.metric) == ("db", "connections_in")
        )

    assert accepted(woken) == accepted(seen[-2]) + 1


#: Listens on argv[1], then forks a child that burns a core (argv[2] == "burn") or
#: sleeps; with argv[3], the child listens on that port of its own. The child ends when
#: its parent does.
_FORKING_SERVER = """
import os, socket, sys, time
server = socket.create_server(("127.0.0.1", int(sys.argv[1])))
parent = os.getpid()
if os.fork() == 0:
    server.close()
    own = socket.create_server(("127.0.0.1", int(sys.argv[3]))) if len(sys.argv) > 3 else None
    while os.getppid() == parent:
        if sys.argv[2] == "burn":
            sum(range(100_000))
        else:
            time.sleep(0.1)
    os._exit(0)
print("ready", flush=True)
time.sleep(600)
"""


def _cpu(sensor: sensing.Sensor, service: str, looks: int = 6) -> float:
    """The service's highest cpu_percent over a few looks a quarter second apart."""
    seen = 0.0
    for _ in range(looks):
        for sample in sensor.observe().samples:
            if sample.service == service and sample.metric == "cpu_percent":
                seen = max(seen, sample.value)
        time.sleep(0.25)
    return seen


def test_a_child_burning_cpu_is_its_servers_cpu(tmp_path: Path, procs: Processes) -> None:
    """PostgreSQL serves each connection in a backend it forks: a query burning a core
    there is PostgreSQL's CPU, though only the postmaster listens."""
    burning, resting = free_port(), free_port()
    procs.start("burning", [sys.executable, "-c", _FORKING_SERVER, str(burning), "burn"], True)
    procs.start("resting", [sys.executable, "-c", _FORKING_SERVER, str(resting), "rest"], True)
    sensor = sensor_for(tmp_path, f"db=port:{burning}", f"quiet=port:{resting}")
    assert _cpu(sensor, "db") > 25  # a core, less what a loaded machine takes
    assert _cpu(sensor, "quiet") < 10


def test_a_child_that_is_a_service_of_its_own_keeps_its_cpu(
    tmp_path: Path, procs: Processes
) -> None:
    parent, child = free_port(), free_port()
    cmd = [sys.executable, "-c", _FORKING_SERVER, str(parent), "burn", str(child)]
    procs.start("supervisor", cmd, True)
    wait_for(lambda: _listening(child), 10, "the child listening")
    sensor = sensor_for(tmp_path, f"supervisor=port:{parent}", f"worker=port:{child}")
    assert _cpu(sensor, "worker") > 25
    assert _cpu(sensor, "supervisor") < 10


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


#: Listens on argv[1], pinned to CPU argv[2]; a thread of its (not the main one) wakes
#: every 10 ms and works 2 ms, as a server's thread answering a steady stream of
#: requests does.
_WAKING_SERVER = """
import os, socket, sys, threading, time
server = socket.create_server(("127.0.0.1", int(sys.argv[1])))
os.sched_setaffinity(0, {int(sys.argv[2])})

def serve():
    while True:
        time.sleep(0.01)
        begun = time.perf_counter()
        while time.perf_counter() - begun < 0.002:
            pass

threading.Thread(target=serve).start()
print("ready", flush=True)
"""
#: Burns CPU argv[1] until killed, at a high priority (nice -15: what runs beside it at
#: the usual priority, as the rest of a busy machine does, barely moves its victim).
_PINNED_BURNER = """
import os, sys
os.sched_setaffinity(0, {int(sys.argv[1])})
os.nice(-15)
print("ready", flush=True)
while True:
    pass
"""


def _cpu_wait_ms(sensor: sensing.Sensor, service: str, looks: int = 8) -> float:
    """The median of the service's sched_wait_ms over a few looks a quarter second apart."""
    seen = []
    for _ in range(looks):
        seen += [
            s.value
            for s in sensor.observe().samples
            if s.service == service and s.metric == "sched_wait_ms"
        ]
        time.sleep(0.25)
    assert seen, f"no sched_wait_ms of {service}"
    return sorted(seen)[len(seen) // 2]


@pytest.mark.skipif(
    not Path("/proc/self/schedstat").exists() or os.geteuid() != 0,
    reason="needs the kernel's schedstat, and root for a higher priority",
)
def test_a_service_kept_waiting_for_a_cpu_shows_its_wait_rise(
    tmp_path: Path, procs: Processes
) -> None:
    """A server pinned to one CPU: two busy loops of a higher priority pinned beside it
    keep its working thread off the CPU each time it wakes, and its wait for a CPU
    rises; alone, before and after them, it stays low (whatever the rest of the
    machine does at the usual priority)."""
    cpu = min(os.sched_getaffinity(0))
    port = free_port()
    procs.start("server", [sys.executable, "-c", _WAKING_SERVER, str(port), str(cpu)], True)
    sensor = sensor_for(tmp_path, f"server=port:{port}")
    alone = _cpu_wait_ms(sensor, "server")
    burners = [
        procs.start(f"burner{n}", [sys.executable, "-c", _PINNED_BURNER, str(cpu)], True)
        for n in range(2)
    ]
    waiting = _cpu_wait_ms(sensor, "server")
    for burner in burners:
        burner.kill()
        burner.wait()
    _cpu_wait_ms(sensor, "server", looks=2)  # the readings that still span the burners
    after = _cpu_wait_ms(sensor, "server")
    assert waiting > 3 * max(alone, after), (alone, waiting, after)
    assert waiting > 5.0, (alone, waiting, after)  # ms: two loops' timeslices each time
