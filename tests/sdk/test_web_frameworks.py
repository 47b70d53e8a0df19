"""The two lines docs/sdk.md gives for web apps, in a FastAPI app under uvicorn and a
Flask app under gunicorn (forking workers): the agent's own reader finds each process
by pid and the apps still serve."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import psutil

from coral_mcp.agent.collectors.sdk import SdkInfo, SdkProbe
from tests.conftest import Processes, wait_for
from tests.sdk.apps import serve


def _read(pid: int) -> SdkInfo | None:
    return SdkProbe(timeout_s=5).read(pid)


def test_the_documented_fastapi_lines_make_a_uvicorn_app_report_and_still_serve(
    tmp_path: Path, procs: Processes
) -> None:
    proc, port = serve(procs, tmp_path, "FastAPI")
    info = wait_for(lambda: _read(proc.pid), 30, "the FastAPI app's SDK endpoint")
    assert (info.service, info.version) == ("api", "2.1.0")
    assert [(c.name, c.healthy) for c in info.components] == [("db", True)]
    hello = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read()
    assert hello == b'"hello"'


def test_the_documented_flask_lines_give_each_gunicorn_worker_its_own_endpoint(
    tmp_path: Path, procs: Processes
) -> None:
    master, port = serve(procs, tmp_path, "Flask")
    parent = psutil.Process(master.pid)

    def two_workers() -> list[psutil.Process] | None:
        children = parent.children()
        return children if len(children) == 2 else None

    workers = wait_for(two_workers, 30, "two workers")
    for pid in (master.pid, *(w.pid for w in workers)):
        info = wait_for(lambda pid=pid: _read(pid), 30, f"the SDK endpoint of {pid}")  # type: ignore[misc]
        assert (info.service, info.version) == ("api", "2.1.0")
        assert info.pid == pid  # each process answers for itself, checks included
        assert info.components[0].detail == f"checked by {pid}"
    assert urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read() == b"hello"
