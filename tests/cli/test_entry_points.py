"""The installed entry points and `python -m coral_mcp` work; coral-mcp keeps stdout for MCP."""

from __future__ import annotations

import json
import select
import subprocess
import sys
import time
from pathlib import Path

import anyio
import mcp

from coral_mcp import __version__
from tests.conftest import child_env


def test_python_dash_m_runs_the_coral_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "coral_mcp", "--version"],
        check=True,
        capture_output=True,
        text=True,
        env=child_env(),
    )
    assert done.stdout.strip() == f"coral, version {__version__}"


def test_coral_mcp_writes_only_protocol_messages_to_stdout(tmp_path: Path) -> None:
    """Raw JSON-RPC over the installed script: every stdout line parses as a message."""
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "raw", "version": "0"},
        },
    }
    requests = [
        initialize,
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
    ]
    stderr_path = tmp_path / "stderr.log"
    with stderr_path.open("w") as stderr_file:
        server = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "coral-mcp"),
                "--log-level",
                "DEBUG",
                "serve",
                "--data-dir",
                str(tmp_path),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr_file,
            text=True,
            env=child_env(),
        )
    assert server.stdin is not None and server.stdout is not None
    try:  # the server ends and its pipes close whatever happens (a leak fails a later test)
        server.stdin.write("".join(json.dumps(r) + "\n" for r in requests))
        server.stdin.flush()
        messages = []
        deadline = time.monotonic() + 60
        while not any(m.get("id") == 2 for m in messages):
            assert time.monotonic() < deadline, "no answer to tools/list"
            ready, _, _ = select.select([server.stdout], [], [], 1.0)
            if ready:
                line = server.stdout.readline()
                assert line, "coral-mcp closed stdout"
                messages.append(json.loads(line))  # a log line here would fail to parse
        server.stdin.close()
        assert server.wait(timeout=30) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        server.stdin.close()
        server.stdout.close()
    stderr = stderr_path.read_text()
    by_id = {m.get("id"): m for m in messages}
    assert by_id[1]["result"]["serverInfo"]["name"] == "coral"
    names = {t["name"] for t in by_id[2]["result"]["tools"]}
    assert {"list_services", "get_topology", "query_metrics"} <= names
    assert "DEBUG" in stderr  # the logs went somewhere: to stderr


def test_embedded_coral_mcp_serve_watches_this_host(tmp_path: Path) -> None:
    """No --colony and no running colony: an embedded colony and agent answer."""
    params = mcp.StdioServerParameters(
        command=str(Path(sys.executable).parent / "coral-mcp"),
        args=["serve", "--data-dir", str(tmp_path)],
        env={"PYTHONUNBUFFERED": "1"},
    )

    async def scenario() -> list[dict[str, object]]:
        async with mcp.Client(params) as client:
            with anyio.fail_after(60):
                while True:
                    result = await client.call_tool("list_services", {})
                    services = json.loads(result.content[0].text)["services"]  # type: ignore[union-attr]
                    if services:
                        return list(services)
                    await anyio.sleep(0.2)

    services = anyio.run(scenario)
    # The embedded colony itself listens on loopback ports: the agent sees it.
    assert any(s["name"] == "coral-mcp" and s["status"] == "up" for s in services), services
    assert (tmp_path / "colony" / "colony.duckdb").exists()
