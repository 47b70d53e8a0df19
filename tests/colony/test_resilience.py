"""A colony that is killed, or an agent cut off, loses nothing and duplicates nothing.

Real colony and agent processes. Completeness is read from what the colony stored: an
agent's push windows tile time, so every window of a series must start where the
previous one ended (a gap is lost data), and no window may appear twice.
"""

from __future__ import annotations

import itertools
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import httpx2
import pytest

from tests.conftest import Processes, auth, colony_token, coral_cmd, free_port, wait_for
from tests.fakes.tcp_proxy import PausableProxy

pytestmark = pytest.mark.e2e


def colony_cmd(data: Path, grpc_port: int, http_port: int, *extra: str) -> list[str]:
    return coral_cmd(
        "colony", "start", "--data-dir", str(data),
        "--grpc-port", str(grpc_port), "--http-port", str(http_port), *extra,
    )  # fmt: skip


def agent_cmd(data: Path, colony_port: int, service_port: int) -> list[str]:
    return coral_cmd(
        "agent", "start", "--colony", f"127.0.0.1:{colony_port}",
        "--service", f"svc=port:{service_port}",
        "--interval", "0.2", "--push", "0.5", "--data-dir", str(data),
    )  # fmt: skip


@dataclass
class Api:
    """The REST API of the colony under test (its token stays the same across restarts)."""

    http_port: int
    token: str


def agents(api: Api) -> list[dict[str, Any]]:
    headers = auth(api.token)
    try:
        response = httpx2.get(
            f"http://127.0.0.1:{api.http_port}/api/v1/agents", headers=headers, timeout=2
        )
        doc = response.json()
    except httpx2.HTTPError:
        return []
    return list(doc.get("agents", []))


def committed(api: Api) -> int:
    found = agents(api)
    return int(found[0]["committed_seq"]) if found else 0


def agent_state(api: Api) -> str | None:
    found = agents(api)
    return str(found[0]["state"]) if found else None


def windows(db_file: Path) -> list[tuple[Any, Any]]:
    conn = duckdb.connect(str(db_file), read_only=True)
    try:
        return conn.execute(
            "SELECT window_start, window_end FROM metric_summaries"
            " WHERE service = 'svc' AND metric = 'processes' ORDER BY window_start"
        ).fetchall()
    finally:
        conn.close()


def assert_complete_without_duplicates(rows: list[tuple[Any, Any]], at_least: int) -> None:
    assert len(rows) >= at_least
    starts = [start for start, _ in rows]
    assert len(starts) == len(set(starts)), "a window was stored twice"
    gaps = [(a[1], b[0]) for a, b in itertools.pairwise(rows) if a[1] != b[0]]
    assert gaps == [], f"windows missing between {gaps[:3]}"


def test_colony_killed_mid_stream_restarts_with_nothing_lost_or_doubled(
    tmp_path: Path, procs: Processes
) -> None:
    grpc_port, http_port, svc_port = free_port(), free_port(), free_port()
    procs.tcp_service("svc", svc_port)
    colony = procs.start("colony", colony_cmd(tmp_path / "colony", grpc_port, http_port))
    api = Api(http_port, colony_token(tmp_path / "colony"))
    agent = procs.start("agent", agent_cmd(tmp_path / "agent", grpc_port, svc_port))
    wait_for(lambda: committed(api) >= 6, 60, "first messages committed")
    colony.send_signal(signal.SIGKILL)
    colony.wait()
    before = len(windows(tmp_path / "colony" / "colony.duckdb"))
    # While the colony is down the agent keeps sampling and holds its messages.
    wait_for(lambda: b"cannot reach colony" in procs.stderr("agent"), 30, "agent noticing")
    procs.start("colony2", colony_cmd(tmp_path / "colony", grpc_port, http_port))
    # Each push is two messages (summaries, services): 16 more is 8 more windows.
    wait_for(lambda: committed(api) >= 6 + 16, 60, "backlog and new data")
    agent.send_signal(signal.SIGTERM)
    agent.wait(timeout=20)
    procs.stop_all()
    rows = windows(tmp_path / "colony" / "colony.duckdb")
    assert len(rows) > before
    assert_complete_without_duplicates(rows, at_least=8)


def test_agent_cut_off_goes_stale_then_offline_then_online_with_its_backlog(
    tmp_path: Path, procs: Processes
) -> None:
    grpc_port, http_port, svc_port = free_port(), free_port(), free_port()
    procs.tcp_service("svc", svc_port)
    procs.start(
        "colony",
        colony_cmd(
            tmp_path / "colony",
            grpc_port,
            http_port,
            "--stale-after",
            "1.5",
            "--offline-after",
            "4",
        ),
    )
    api = Api(http_port, colony_token(tmp_path / "colony"))
    proxy = PausableProxy(grpc_port)
    try:
        procs.start("agent", agent_cmd(tmp_path / "agent", proxy.port, svc_port))
        wait_for(lambda: agent_state(api) == "online" and committed(api) >= 3, 60)
        proxy.pause()
        seen_at_cut = committed(api)
        wait_for(lambda: agent_state(api) == "stale", 20, "stale")
        wait_for(lambda: agent_state(api) == "offline", 20, "offline")
        proxy.resume()
        wait_for(lambda: agent_state(api) == "online", 30, "online again")
        wait_for(lambda: committed(api) >= seen_at_cut + 12, 30, "the backlog")
    finally:
        proxy.close()
    procs.stop_all()
    assert_complete_without_duplicates(windows(tmp_path / "colony" / "colony.duckdb"), 8)
    assert os.path.exists(tmp_path / "agent" / "agent.json")


def test_sigterm_commits_what_was_acknowledged_and_exits_cleanly(
    tmp_path: Path, procs: Processes
) -> None:
    grpc_port, http_port, svc_port = free_port(), free_port(), free_port()
    procs.tcp_service("svc", svc_port)
    colony = procs.start("colony", colony_cmd(tmp_path / "colony", grpc_port, http_port))
    api = Api(http_port, colony_token(tmp_path / "colony"))
    procs.start("agent", agent_cmd(tmp_path / "agent", grpc_port, svc_port))
    wait_for(lambda: committed(api) >= 6, 60, "messages committed")
    acknowledged = committed(api)
    colony.send_signal(signal.SIGTERM)
    assert colony.wait(timeout=20) == 0
    assert b"colony stopped" in procs.stderr("colony")
    assert not (tmp_path / "colony" / "colony.json").exists()
    conn = duckdb.connect(str(tmp_path / "colony" / "colony.duckdb"), read_only=True)
    try:
        row = conn.execute("SELECT max(seq) FROM agent_progress").fetchone()
    finally:
        conn.close()
    assert row is not None and row[0] >= acknowledged
