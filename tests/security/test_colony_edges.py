"""Small doors a careless or hostile caller finds: data dirs open to other users, REST
arguments that used to end in a 500 with a non-JSON body, and the database's own error
text reaching clients. Real processes and a real colony daemon."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import httpx2
import pytest
from fastmcp import Client

from coral_mcp.colony.daemon import ColonyDaemon
from coral_mcp.config import ColonySettings
from tests.conftest import Processes, auth, wait_for

pytestmark = pytest.mark.e2e


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_data_dirs_made_by_an_older_coral_are_closed_to_other_users(
    tmp_path: Path, procs: Processes
) -> None:
    root = tmp_path / "coral"
    for name in ("colony", "agent"):
        (root / name).mkdir(parents=True)
        (root / name).chmod(0o755)
    colony = procs.colony(root)
    procs.agent(root, colony.grpc_port, {"me": f"pid:{os.getpid()}"}, 0.2, 0.5)
    wait_for((root / "agent" / "ring.sqlite").exists, 30, "the agent's ring store")
    wait_for((root / "agent" / "agent.json").exists, 30, "the agent's state")
    assert mode(root / "colony") == 0o700
    assert mode(root / "agent") == 0o700
    for private in ("colony/colony.duckdb", "colony/mcp.token", "agent/ring.sqlite"):
        assert mode(root / private) == 0o600, private
    wait_for(lambda: mode(root / "agent" / "agent.json") == 0o600, 10, "agent.json 0600")


def test_absurd_times_in_rest_queries_get_a_clear_json_400(
    tmp_path: Path, procs: Processes
) -> None:
    colony = procs.colony(tmp_path)
    for start in ("99999999999999999999", "now-99999999999999w", "1e400"):
        response = httpx2.get(
            f"{colony.url}/api/v1/events",
            params={"start": start},
            headers=auth(colony.token),
            timeout=10,
        )
        assert response.status_code == 400, (start, response.text)
        assert (
            "out of range" in response.json()["error"] or "cannot read" in response.json()["error"]
        ), response.text


def test_the_databases_own_words_never_reach_a_client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A query the database refuses is a clear 400 naming what to do; a bug is a JSON
    500; neither carries DuckDB's error text or a traceback (both stay in the log)."""
    settings = ColonySettings(data_dir=tmp_path / "colony", grpc_port=0, http_port=0)

    async def scenario() -> None:
        colony = await ColonyDaemon.open(settings)
        try:
            cur = colony.store.reader()
            cur.execute("DROP TABLE events")  # every events query now fails in DuckDB
            cur.close()
            headers = {"Authorization": f"Bearer {colony.token}"}
            async with httpx2.AsyncClient(base_url=colony.http_url, timeout=10) as client:
                refused = await client.get("/api/v1/events", headers=headers)
                assert refused.status_code == 400
                assert refused.json() == {
                    "error": "query failed",
                    "hint": "narrow the query (range, limit); see the colony log",
                }
                async with Client(colony.mcp_url, auth=colony.token) as mcp:
                    result = await mcp.call_tool("get_events", {}, raise_on_error=False)
                text = result.content[0].text  # type: ignore[union-attr]
                assert result.is_error and text.startswith("query failed")
                assert "Catalog" not in text and "events" not in text.split(".")[0]

                def broken(*args: object, **kwargs: object) -> None:
                    raise RuntimeError("secret internals at 0x7f00")

                monkeypatch.setattr(colony.store, "agents", broken)
                failed = await client.get("/api/v1/status", headers=headers)
                assert failed.status_code == 500
                assert failed.json() == {"error": "internal error", "hint": "see the colony log"}
        finally:
            await colony.close()

    asyncio.run(scenario())
