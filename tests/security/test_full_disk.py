"""A full disk under the colony: the writer survives, says so, stops acknowledging, and
carries on by itself once space returns — nothing lost, nothing stored twice.

Real colony and agent processes; the colony's data dir is a small tmpfs that the test
fills to the last byte with a ballast file, then frees.
"""

from __future__ import annotations

import errno
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from tests.colony.test_resilience import Api, assert_nothing_lost_or_doubled, committed, sent
from tests.conftest import Processes, coral_cmd, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 48 MiB tmpfs (root only), unmounted at the end."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=48m,mode=0700", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True, check=False)


def fill(path: Path) -> None:
    """Write zeros to `path` until the disk under it is full."""
    chunk = b"\0" * (1 << 20)
    with open(path, "wb", buffering=0) as out:
        while True:
            try:
                out.write(chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                chunk = chunk[: len(chunk) // 2]
                if len(chunk) < 512:
                    return


def healthz(api: Api) -> tuple[int, str]:
    try:
        response = httpx2.get(f"http://127.0.0.1:{api.http_port}/healthz", timeout=2)
    except httpx2.HTTPError as exc:
        return 0, str(exc)
    return response.status_code, str(response.json()["status"])


def status_text(colony_dir: Path) -> str:
    done = subprocess.run(
        coral_cmd("colony", "status", "--data-dir", str(colony_dir.parent)),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert "Traceback" not in done.stderr
    return done.stdout + done.stderr


def test_a_full_disk_holds_acks_says_so_and_ingestion_resumes_when_space_returns(
    small_disk: Path, tmp_path: Path, procs: Processes
) -> None:
    colony_dir, agent_dir = small_disk / "colony", tmp_path / "agent"
    colony = procs.colony(colony_dir)
    api = Api(int(colony.url.rsplit(":", 1)[1]), colony.token)
    token_file = ("--colony-token-file", str(colony_dir / "mcp.token"))
    procs.agent(
        agent_dir, colony.grpc_port, {"me": f"pid:{os.getpid()}"}, 0.1, 0.2, "agent", *token_file
    )
    wait_for(lambda: committed(api) >= 3, 40, "first summaries")
    assert healthz(api) == (200, "ok")

    ballast = small_disk / "ballast"
    fill(ballast)
    wait_for(lambda: healthz(api) == (503, "storage failing: no space"), 40, "503 on /healthz")
    assert "storage failing: no space" in status_text(colony_dir)
    held = committed(api)
    time.sleep(2)  # the agent keeps producing; nothing more is acknowledged
    assert committed(api) == held
    assert sent(agent_dir) > held + 2

    ballast.unlink()
    wait_for(lambda: healthz(api) == (200, "ok"), 40, "healthy again")
    last = sent(agent_dir)
    wait_for(lambda: committed(api) >= last, 40, "the backlog committed")
    assert "storage failing" not in status_text(colony_dir)

    procs.stop_all()
    log = procs.stderr("colony").decode()
    assert log.count("storage failing") == 1, log
    assert "storage recovered" in log
    assert "Traceback" not in log
    assert_nothing_lost_or_doubled(procs, ["colony"], colony_dir / "colony.duckdb")
