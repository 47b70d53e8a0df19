"""A colony that is killed, or an agent cut off, loses nothing and duplicates nothing.

Real colony and agent processes. Completeness is read from what the colony stored: an
agent's push windows tile time, so every window of a series must start where the
previous one ended (a gap is lost data), and no window may appear twice.
"""

from __future__ import annotations

import contextlib
import signal
import sqlite3
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


def sent(agent_dir: Path) -> int:
    """The last sequence number the agent has given a message (its ring store records
    them with its backlog)."""
    ring = agent_dir / "ring.sqlite"
    if not ring.exists():
        return 0
    try:
        with contextlib.closing(sqlite3.connect(ring, timeout=10)) as db:
            (last,) = db.execute(
                "SELECT max(coalesce((SELECT max(seq) FROM outbox), 0),"
                " coalesce((SELECT value FROM progress WHERE key = 'forgotten_seq'), 0))"
            ).fetchone()
    except sqlite3.OperationalError:  # its tables are not made yet
        return 0
    return int(last)


def wait_delivered(api: Api, agent_dir: Path, at_least: int, timeout_s: float, what: str) -> int:
    """Wait until the agent has given out `at_least` messages and the colony has committed
    every message the agent had given out by then; that number. (The agent goes on
    pushing meanwhile: waiting for the two counts to meet at one look races its next
    push, and on a busy machine the colony may never be seen caught up.)"""
    wait_for(lambda: sent(agent_dir) >= at_least, timeout_s, f"{what}: {at_least} sent")
    target = sent(agent_dir)
    wait_for(lambda: committed(api) >= target, timeout_s, f"{what}: {target} committed")
    return target


def duplicate_windows(db_file: Path) -> list[tuple[Any, ...]]:
    conn = duckdb.connect(str(db_file), read_only=True)
    try:
        return conn.execute(
            "SELECT agent_id, service, metric, window_start, count(*) FROM metric_summaries"
            " GROUP BY ALL HAVING count(*) > 1"
        ).fetchall()
    finally:
        conn.close()


def summary_rows(db_file: Path) -> int:
    conn = duckdb.connect(str(db_file), read_only=True)
    try:
        row = conn.execute("SELECT count(*) FROM metric_summaries").fetchone()
    finally:
        conn.close()
    return int(row[0]) if row else 0


def assert_nothing_lost_or_doubled(procs: Processes, colonies: list[str], db_file: Path) -> None:
    """Sequence numbers are contiguous per agent: the colony logs any gap it sees, and
    every message up to the agent's last has been committed (checked by the caller)."""
    for name in colonies:
        assert b"messages were lost" not in procs.stderr(name)
    assert duplicate_windows(db_file) == []


def test_colony_killed_mid_stream_restarts_with_nothing_lost_or_doubled(
    tmp_path: Path, procs: Processes
) -> None:
    grpc_port, http_port, svc_port = free_port(), free_port(), free_port()
    procs.tcp_service("svc", svc_port)
    colony = procs.start("colony", colony_cmd(tmp_path, grpc_port, http_port))
    api = Api(http_port, colony_token(tmp_path / "colony"))
    agent_dir = tmp_path / "agent"
    agent = procs.start("agent", agent_cmd(tmp_path, grpc_port, svc_port))
    wait_for(lambda: committed(api) >= 3, 60, "first messages committed")
    colony.send_signal(signal.SIGKILL)
    colony.wait()
    db_file = tmp_path / "colony" / "colony.duckdb"
    before = summary_rows(db_file)
    # While the colony is down the agent keeps sampling and holds its messages.
    wait_for(lambda: b"cannot reach colony" in procs.stderr("agent"), 30, "agent noticing")
    held = sent(agent_dir)
    colony2 = procs.start("colony2", colony_cmd(tmp_path, grpc_port, http_port))
    procs.wait_colony(colony2, tmp_path, "colony2")
    wait_delivered(api, agent_dir, held + 2, 60, "backlog and new data")
    agent.send_signal(signal.SIGTERM)
    agent.wait(timeout=20)
    procs.stop_all()
    assert summary_rows(db_file) > before
    assert_nothing_lost_or_doubled(procs, ["colony", "colony2"], db_file)


def test_agent_cut_off_goes_stale_then_offline_then_online_with_its_backlog(
    tmp_path: Path, procs: Processes
) -> None:
    grpc_port, http_port, svc_port = free_port(), free_port(), free_port()
    procs.tcp_service("svc", svc_port)
    procs.start(
        "colony",
        colony_cmd(
            tmp_path,
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
    agent_dir = tmp_path / "agent"
    try:
        procs.start("agent", agent_cmd(tmp_path, proxy.port, svc_port))
        wait_for(lambda: agent_state(api) == "online" and committed(api) >= 3, 60)
        proxy.pause()
        wait_for(lambda: agent_state(api) == "stale", 20, "stale")
        wait_for(lambda: agent_state(api) == "offline", 20, "offline")
        # The agent keeps pushing while cut off (a steady series is re-sent every 10 s).
        wait_for(lambda: sent(agent_dir) > committed(api), 20, "a backlog")
        held = sent(agent_dir)
        proxy.resume()
        wait_for(lambda: agent_state(api) == "online", 30, "online again")
        wait_delivered(api, agent_dir, held, 30, "the backlog")
    finally:
        proxy.close()
    procs.stop_all()
    assert_nothing_lost_or_doubled(procs, ["colony"], tmp_path / "colony" / "colony.duckdb")


def test_sigterm_commits_what_was_acknowledged_and_exits_cleanly(
    tmp_path: Path, procs: Processes
) -> None:
    grpc_port, http_port, svc_port = free_port(), free_port(), free_port()
    procs.tcp_service("svc", svc_port)
    colony = procs.start("colony", colony_cmd(tmp_path, grpc_port, http_port))
    api = Api(http_port, colony_token(tmp_path / "colony"))
    procs.start("agent", agent_cmd(tmp_path, grpc_port, svc_port))
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


def test_an_agent_started_before_its_colony_delivers_once_the_colony_is_up(
    tmp_path: Path, procs: Processes
) -> None:
    """A boot order (or `coral up`) may start the agent before the colony has written
    its token: the agent reads it when it connects, not once at start."""
    grpc_port, http_port, svc_port = free_port(), free_port(), free_port()
    procs.tcp_service("svc", svc_port)
    procs.start("agent", agent_cmd(tmp_path, grpc_port, svc_port))
    wait_for(lambda: b"cannot reach colony" in procs.stderr("agent"), 30, "agent waiting")
    assert not (tmp_path / "colony" / "mcp.token").exists()
    procs.start("colony", colony_cmd(tmp_path, grpc_port, http_port))
    api = Api(http_port, colony_token(tmp_path / "colony"))
    wait_for(lambda: committed(api) >= 3, 60, "the agent's messages committed")
    assert b"UNAUTHENTICATED" not in procs.stderr("colony")
