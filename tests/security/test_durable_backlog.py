"""An agent restarted while its colony is down loses nothing: what the colony has not
acknowledged waits in the agent's ring store and is delivered once the colony returns,
each message exactly once, and the push windows carry on where they stopped (the
restarted agent's first window starts where the last one before the restart ended).

Real colony and agent processes; the outage is scaled down (pushes every 0.5 s).
"""

from __future__ import annotations

import itertools
import signal
import sqlite3
from pathlib import Path

import duckdb
import pytest

from tests.colony.test_resilience import (
    Api,
    agent_cmd,
    assert_nothing_lost_or_doubled,
    colony_cmd,
    committed,
    sent,
    wait_delivered,
)
from tests.conftest import Processes, colony_token, free_port, wait_for

pytestmark = pytest.mark.e2e


def kept(agent_dir: Path, upto_seq: int | None = None) -> int:
    """Messages waiting in the agent's durable backlog (those up to `upto_seq`)."""
    db = sqlite3.connect(agent_dir / "ring.sqlite")
    try:
        query = "SELECT count(*) FROM outbox WHERE seq <= ?"
        return int(db.execute(query, (upto_seq or 2**62,)).fetchone()[0])
    finally:
        db.close()


def test_an_agent_restarted_while_the_colony_is_down_delivers_its_backlog_exactly_once(
    tmp_path: Path, procs: Processes
) -> None:
    grpc_port, http_port, svc_port = free_port(), free_port(), free_port()
    procs.tcp_service("svc", svc_port)
    colony_dir, agent_dir = tmp_path / "colony", tmp_path / "agent"
    colony = procs.start("colony", colony_cmd(tmp_path, grpc_port, http_port))
    api = Api(http_port, colony_token(colony_dir))
    agent = procs.start("agent", agent_cmd(tmp_path, grpc_port, svc_port))
    wait_for(lambda: committed(api) >= 3, 60, "first messages committed")
    colony.send_signal(signal.SIGTERM)
    assert colony.wait(timeout=20) == 0
    wait_for(lambda: b"cannot reach colony" in procs.stderr("agent"), 30, "agent noticing")
    first = sent(agent_dir)
    wait_for(lambda: sent(agent_dir) >= first + 4, 30, "a backlog before the restart")
    agent.send_signal(signal.SIGTERM)
    assert agent.wait(timeout=20) == 0
    stopped_at_ms = last_push_end_ms(agent_dir)
    waiting = kept(agent_dir)
    assert waiting >= 4

    procs.start("agent2", agent_cmd(tmp_path, grpc_port, svc_port))
    wait_for(lambda: b"unacknowledged messages kept" in procs.stderr("agent2"), 30, "reload")
    held = sent(agent_dir)
    wait_for(lambda: sent(agent_dir) >= held + 3, 30, "more backlog after the restart")
    colony2 = procs.start("colony2", colony_cmd(tmp_path, grpc_port, http_port))
    procs.wait_colony(colony2, tmp_path, "colony2")
    delivered = wait_delivered(api, agent_dir, held + 3, 60, "every message delivered")
    wait_for(lambda: kept(agent_dir, delivered) == 0, 30, "the backlog forgotten once acknowledged")
    procs.stop_all()
    db_file = colony_dir / "colony.duckdb"
    assert_nothing_lost_or_doubled(procs, ["colony", "colony2"], db_file)
    windows = push_windows(db_file)
    assert [(a, b) for a, b in itertools.pairwise(windows) if b[0] < a[1]] == []  # no overlap
    # the first push after the restart carries every series: it is there, and begins
    # where the first agent stopped (a window in which nothing moved is not sent, so a
    # busy machine's skipped samples may leave gaps elsewhere)
    assert stopped_at_ms in {start for start, _ in windows}


def last_push_end_ms(agent_dir: Path) -> int:
    """Where the agent's last push window ended (kept in its ring store for a restart)."""
    db = sqlite3.connect(agent_dir / "ring.sqlite")
    try:
        (end_s,) = db.execute("SELECT value FROM progress WHERE key = 'last_push_end_s'").fetchone()
    finally:
        db.close()
    return int(end_s * 1000)


def push_windows(db_file: Path) -> list[tuple[int, int]]:
    """The agent's push windows the colony stored, as (start, end) epoch milliseconds."""
    conn = duckdb.connect(str(db_file), read_only=True)
    try:
        rows = conn.execute(
            "SELECT DISTINCT epoch_ms(window_start), epoch_ms(window_end)"
            " FROM metric_summaries ORDER BY 1"
        ).fetchall()
    finally:
        conn.close()
    return [(int(start), int(end)) for start, end in rows]
