"""The SDK's endpoint as the agent finds it: by pid, through /proc, with no configuration.

Real processes: a plain script, a Starlette app under uvicorn (ASGI helper) and a
wsgiref app (WSGI helper); the agent's own probe reads them.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import urllib.request
from pathlib import Path

import pytest

from coral_mcp import sdk
from coral_mcp.agent.collectors.sdk import SdkProbe
from coral_mcp.sdk.protocol import SOCKET_DIR, socket_name
from tests.conftest import DATA, Processes, free_port, wait_for


def _read(pid: int) -> object:
    return SdkProbe(timeout_s=5).read(pid)


def test_the_agent_probe_reads_a_process_by_its_pid() -> None:
    handle = sdk.init(
        service="inproc",
        version="1.2.3",
        endpoints={"health": "http://127.0.0.1:1/health"},
        components={"db": lambda: (False, "pool exhausted"), "cache": lambda: True},
        build={"commit": "0123456789abcdef"},
    )
    try:
        assert handle.endpoint is not None
        assert handle.endpoint.path == SOCKET_DIR / socket_name(os.getpid())
        info = SdkProbe().read(os.getpid())
    finally:
        sdk.shutdown()
    assert info is not None
    assert (info.service, info.version) == ("inproc", "1.2.3")
    assert dict(info.build)["commit"] == "0123456789abcdef"
    assert dict(info.endpoints) == {"health": "http://127.0.0.1:1/health"}
    assert [(c.name, c.healthy, c.detail) for c in info.components] == [
        ("cache", True, ""),
        ("db", False, "pool exhausted"),
    ]
    assert not (SOCKET_DIR / socket_name(os.getpid())).exists()  # shutdown removed it


def test_a_process_without_the_sdk_reads_as_none() -> None:
    assert SdkProbe().read(os.getpid()) is None


def test_starlette_app_reports_through_the_asgi_helper_and_still_serves(
    procs: Processes,
) -> None:
    port = free_port()
    proc = procs.start("web", [sys.executable, str(DATA / "asgi_app.py"), "--port", str(port)])
    info = wait_for(lambda: _read(proc.pid), 30, "the ASGI app's SDK endpoint")
    assert (info.service, info.version) == ("web", "3.0.1")  # type: ignore[attr-defined]
    pool = info.components[0]  # type: ignore[attr-defined]
    assert (pool.name, pool.healthy, pool.detail) == ("pool", True, "4 connections idle")
    url = f"http://127.0.0.1:{port}"
    assert urllib.request.urlopen(url + "/", timeout=5).read() == b"hello"
    urllib.request.urlopen(url + "/toggle", timeout=5).read()

    def pool_down() -> bool:
        found = _read(proc.pid)
        return found is not None and not found.components[0].healthy  # type: ignore[attr-defined]

    wait_for(pool_down, 10, "the async check to see the toggle")
    os.kill(proc.pid, signal.SIGTERM)  # lifespan shutdown stops the SDK
    proc.wait(10)
    assert not (SOCKET_DIR / socket_name(proc.pid)).exists()


def test_wsgi_app_reports_through_the_wsgi_helper_and_still_serves(procs: Processes) -> None:
    port = free_port()
    proc = procs.start(
        "legacy", [sys.executable, str(DATA / "wsgi_app.py"), "--port", str(port)], wait_ready=True
    )
    info = wait_for(lambda: _read(proc.pid), 20, "the WSGI app's SDK endpoint")
    assert (info.service, info.version) == ("legacy", "0.9")  # type: ignore[attr-defined]
    assert info.components[0].healthy is True  # type: ignore[attr-defined]
    assert urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read() == b"hello"


FORKING = """
import os, sys, time
import pytest

from coral_mcp import sdk
sdk.init(service="forky", version="1", components={"who": lambda: (True, str(os.getpid()))})
child = os.fork()
if child == 0:
    time.sleep(60)
    os._exit(0)
print(child, flush=True)
time.sleep(60)
"""


def test_a_forked_worker_gets_its_own_endpoint(procs: Processes, tmp_path: Path) -> None:
    parent = procs.start("forky", [sys.executable, "-c", FORKING])
    child = int(wait_for(lambda: procs.stdout("forky").strip(), 20, "the child pid"))
    try:
        for pid in (parent.pid, child):
            info = wait_for(lambda pid=pid: _read(pid), 20, f"endpoint of {pid}")  # type: ignore[misc]
            assert info.components[0].detail == str(pid)  # type: ignore[attr-defined]
    finally:
        os.kill(child, signal.SIGKILL)
        (SOCKET_DIR / socket_name(child)).unlink(missing_ok=True)


def test_a_socket_path_taken_by_something_else_is_logged_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    squatter = SOCKET_DIR / socket_name(os.getpid())
    squatter.write_text("not a socket")
    try:
        handle = sdk.init(service="blocked", components={"ok": lambda: True})
        assert handle.endpoint is None
        assert sdk.info()["components"] == {
            "ok": {"healthy": True, "detail": "", "latency_ms": pytest.approx(0, abs=50)}
        }
    finally:
        sdk.shutdown()
        squatter.unlink()
    assert "no local endpoint" in caplog.text and "is not a socket of this user" in caplog.text


SERVING = """
import time
from coral_mcp import sdk
sdk.init(service="short-lived")
time.sleep(60)
"""


def test_a_socket_left_by_a_killed_process_is_removed_when_the_next_one_starts(
    procs: Processes,
) -> None:
    killed = procs.start("killed", [sys.executable, "-c", SERVING])
    left = SOCKET_DIR / socket_name(killed.pid)
    wait_for(left.exists, 20, "the killed process's socket")
    killed.terminate()  # SIGTERM, unhandled: no atexit, the socket stays behind
    killed.wait(10)
    assert left.exists()
    # A socket someone answers on stays, whatever its pid (another pid namespace may
    # share /tmp): here a listener at the name of a process that has ended.
    gone_pid = procs.start("ended", ["true"]).pid
    procs.reap(gone_pid)
    answering = SOCKET_DIR / socket_name(gone_pid)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(answering))
    listener.listen()
    try:
        sdk.init(service="next")
        sdk.shutdown()
        assert not left.exists()
        assert answering.exists()
    finally:
        listener.close()
        answering.unlink(missing_ok=True)
        left.unlink(missing_ok=True)
