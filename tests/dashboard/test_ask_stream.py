"""The ask box's stream from a real colony (in-process, real HTTP): what a browser reads."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import httpx2

from coral_mcp.colony.daemon import ColonyDaemon
from coral_mcp.config import ColonySettings
from tests.dashboard.sample_data import ROOT_SERVICE, data_root_with_incident


async def ask_lines(colony: ColonyDaemon, question: str, range_: str) -> list[dict[str, Any]]:
    """Log in as a browser does, ask, and read the answer's lines as they come."""
    async with httpx2.AsyncClient(base_url=colony.http_url, timeout=60) as http:
        landed = await http.get(colony.login_url(), follow_redirects=True)
        found = re.search(r'<meta name="csrf" content="([^"]+)"', landed.text)
        assert landed.status_code == 200 and found, landed.text[:300]
        lines = []
        async with http.stream(
            "POST",
            "/ask",
            json={"question": question, "range": range_},
            headers={"X-CSRF-Token": found.group(1), "Origin": colony.http_url},
        ) as got:
            assert got.status_code == 200
            assert got.headers["content-type"].startswith("application/x-ndjson")
            async for line in got.aiter_lines():
                if line.strip():
                    lines.append(json.loads(line))
        return lines


def test_the_answer_streams_as_lines_of_progress_and_text_then_the_whole_answer(
    tmp_path: Path,
) -> None:
    root = data_root_with_incident(tmp_path)
    settings = ColonySettings(data_dir=root / "colony", grpc_port=0, http_port=0)

    async def scenario() -> None:
        colony = await ColonyDaemon.open(settings)
        try:
            lines = await ask_lines(colony, "what happened?", "1h")
            progress = [line["progress"] for line in lines if "progress" in line]
            assert progress[0] == "asking the builtin provider"
            assert any(p.startswith("investigate(") for p in progress)
            assert any(p.startswith("investigate done in") for p in progress)
            texts = [line["text"] for line in lines if "text" in line]
            assert len(texts) >= 2  # the investigation, then what changed: part by part
            (done,) = [line["done"] for line in lines if "done" in line]
            assert lines[-1] == {"done": done}
            assert "".join(texts) == done["answer"]
            assert f"bad_deploy in {ROOT_SERVICE}" in done["answer"]
            assert done["investigation"].startswith("inv-") and done["provider"] == "builtin"
            # Stored as a conversation, as `coral ask` stores its own.
            stored = await colony.queries.latest_ask()
            assert stored is not None and stored["id"] == done["ask"]
            assert stored["answer"] == done["answer"]

            # A range that is no range: one line that says so, and nothing stored.
            bad = await ask_lines(colony, "what happened?", "since tuesday")
            assert bad[0] == {"progress": "asking the builtin provider"}
            (error,) = [line for line in bad if "error" in line]
            assert bad[-1] == error and "since tuesday" in error["error"]
            assert "Traceback" not in json.dumps(bad)
            latest = await colony.queries.latest_ask()
            assert latest is not None and latest["id"] == done["ask"]
        finally:
            await colony.close()

    asyncio.run(scenario())
