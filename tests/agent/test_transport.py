"""Latency and errors of TCP connections from the kernel (sock_diag, tcp_info), with
real processes: a slow peer, a peer that resets, connections that cannot be made."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from coral_mcp.agent.collectors.sock_diag import dump_tcp
from coral_mcp.agent.sensing import Observation
from coral_mcp.models import Endpoint
from tests.agent.apps import observe_until, sensor_for
from tests.conftest import DATA, Processes, free_port

RR = DATA / "rr_service.py"


def _rr(procs: Processes, name: str, port: int, *extra: str) -> int:
    cmd = [sys.executable, str(RR), "--listen", str(port), *extra]
    return procs.start(name, cmd, wait_ready=True).pid


def _value(o: Observation, service: str, metric: str) -> float | None:
    return next((s.value for s in o.samples if s.service == service and s.metric == metric), None)


def _chain(procs: Processes, tmp_path: Path, *store_flags: str) -> tuple[int, int, int, Path]:
    """store <- api (4 connections, a request every 50 ms);
    (store port, store pid, api pid, the store's delay file)."""
    delay = tmp_path / "delay"
    delay.write_text("0")
    store = free_port()
    store_pid = _rr(procs, "store", store, "--delay-file", str(delay), *store_flags)
    api = _rr(procs, "api", free_port(), "--call", f"127.0.0.1:{store}", "--connections", "4")
    return store, store_pid, api, delay


def test_a_dump_lists_a_listening_socket_with_its_inode() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        inode = os.fstat(server.fileno()).st_ino
        found = [s for s in dump_tcp() if s.local == ("127.0.0.1", port)]
    assert [(s.state, s.inode) for s in found] == [(10, inode)]


def test_a_slow_tcp_peer_raises_the_callers_round_trip_time(
    tmp_path: Path, procs: Processes
) -> None:
    # the store acknowledges late (no quick ACKs) and answers 400 ms late
    _, _, api, delay = _chain(procs, tmp_path, "--slow-ack")
    sensor = sensor_for(tmp_path, f"api=pid:{api}")
    metric = "tcp_rtt_ms"  # its only peer is the store: the service's series are the store's
    before = observe_until(sensor, lambda o: _value(o, "api", metric) is not None, "rtt series")
    assert _value(before[-1], "api", metric) < 10  # type: ignore[operator]
    delay.write_text("0.4")
    observe_until(
        sensor, lambda o: (_value(o, "api", metric) or 0) > 20, "the RTT to the slow store", 30
    )


def test_a_slow_answer_shows_as_waiting_on_the_callers_side(
    tmp_path: Path, procs: Processes
) -> None:
    _, _, api, delay = _chain(procs, tmp_path)
    sensor = sensor_for(tmp_path, f"api=pid:{api}")
    metric = "tcp_wait_ms"
    fast = observe_until(sensor, lambda o: _value(o, "api", metric) is not None, "wait series")
    assert (_value(fast[-1], "api", metric) or 0) < 50
    delay.write_text("0.4")
    observe_until(sensor, lambda o: (_value(o, "api", metric) or 0) > 100, "the caller waiting", 30)


def test_connections_reset_by_the_peer_are_counted_on_the_callers_side(
    tmp_path: Path, procs: Processes
) -> None:
    _, store_pid, api, _ = _chain(procs, tmp_path)
    sensor = sensor_for(tmp_path, f"api=pid:{api}")
    sensor.observe()
    assert _value(sensor.observe(), "api", "tcp_resets_per_s") == 0.0
    os.kill(store_pid, signal.SIGUSR1)
    observe_until(
        sensor, lambda o: (_value(o, "api", "tcp_resets_per_s") or 0) > 0, "resets counted"
    )


def test_a_service_with_two_peers_gets_series_per_peer(tmp_path: Path, procs: Processes) -> None:
    one, two = free_port(), free_port()
    procs.tcp_service("one", one)
    procs.tcp_service("two", two)
    caller = procs.tcp_service("caller", free_port(), one, two)
    sensor = sensor_for(tmp_path, f"caller=pid:{caller.pid}")
    metrics = {s.metric for s in sensor.observe().samples if s.service == "caller"}
    for port in (one, two):
        assert f"tcp_rtt_ms@{Endpoint('127.0.0.1', port)}" in metrics
        assert f"tcp_wait_ms@{Endpoint('127.0.0.1', port)}" in metrics
    assert "tcp_rtt_ms" in metrics


@pytest.fixture
def full_listener() -> Iterator[int]:
    """A listening socket whose accept queue is full: new SYNs are dropped."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    held = []
    for _ in range(3):
        client = socket.socket()
        client.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            client.connect(("127.0.0.1", port))
        held.append(client)
    yield port
    for client in held:
        client.close()
    server.close()


def test_connection_attempts_that_never_complete_are_connect_failures(
    tmp_path: Path, procs: Processes, full_listener: int
) -> None:
    code = (
        "import socket, time\nprint('ready', flush=True)\nwhile True:\n"
        f"    try: socket.create_connection(('127.0.0.1', {full_listener}), timeout=1.5)\n"
        "    except OSError: pass\n"
    )
    client = procs.start("dialer", [sys.executable, "-c", code], wait_ready=True)
    # the default walk interval (30 s): a connect still unanswered is looked up at once
    sensor = sensor_for(tmp_path, f"dialer=pid:{client.pid}", socket_scan_s=30)
    observe_until(
        sensor,
        lambda o: (_value(o, "dialer", "tcp_connect_failures_per_s") or 0) > 0,
        "connect failures counted",
        30,
    )
