"""The walking skeleton, end to end: real colony, real agent, real services, real clients.

Two tiny TCP services run as processes; `api` holds a connection open to `db`. A real
colony and a real agent run as subprocesses on free loopback ports. The edge api -> db
must show up through MCP over stdio (`coral-mcp serve --colony`), over streamable HTTP,
and in `coral ask --json`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp
import pytest
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import (
    MCP_TIMEOUT_S,
    Processes,
    auth,
    child_env,
    coral_cmd,
    free_port,
    wait_for,
)
from tests.inspector import Connection, inspector

# One worker runs this module, so its module fixture (a deployment) is made once.
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("end-to-end"), pytest.mark.timeout(900)]


@dataclass
class Deployment:
    http_url: str
    token: str
    grpc_port: int
    db_port: int
    api_port: int


def _topology(url: str, token: str) -> dict[str, Any] | None:
    try:
        return dict(httpx2.get(f"{url}/api/v1/topology", headers=auth(token), timeout=2).json())
    except httpx2.HTTPError:
        return None


def _has_edge(doc: dict[str, Any] | None, caller: str, callee: str) -> bool:
    return bool(doc) and any(
        e["caller"] == caller and e["callee"] == callee
        for e in doc["edges"]  # type: ignore[index]
    )


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    tmp = tmp_path_factory.mktemp("e2e")
    (tmp / "logs").mkdir()
    procs = Processes(tmp / "logs")
    db_port, api_port = free_port(), free_port()
    try:
        procs.tcp_service("db", db_port)
        procs.tcp_service("api", api_port, db_port)
        running = procs.colony(tmp)
        procs.agent(tmp, running.grpc_port, {"db": f"port:{db_port}", "api": f"port:{api_port}"})
        url, token, grpc_port = running.url, running.token, running.grpc_port
        wait_for(lambda: _has_edge(_topology(url, token), "api", "db"), 60, "edge api -> db")
        yield Deployment(url, token, grpc_port, db_port, api_port)
    finally:
        procs.stop_all()


@asynccontextmanager
async def http_client(deployment: Deployment, mode: str = "auto") -> AsyncIterator[mcp.Client]:
    """The official MCP client over streamable HTTP, with the colony's bearer token."""
    async with httpx2.AsyncClient(headers=auth(deployment.token), timeout=MCP_TIMEOUT_S) as http:
        transport = streamable_http_client(f"{deployment.http_url}/mcp", http_client=http)
        async with mcp.Client(transport, mode=mode) as client:  # type: ignore[arg-type]
            yield client


def _edges(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(e["caller"], e["callee"]) for e in doc["edges"]}


@pytest.mark.parametrize("mode", ["legacy", "auto"])
def test_edge_appears_through_mcp_over_stdio(deployment: Deployment, mode: str) -> None:
    params = mcp.StdioServerParameters(
        command=str(Path(sys.executable).parent / "coral-mcp"),
        args=["serve", "--colony", deployment.http_url],
        env={"PYTHONUNBUFFERED": "1", "CORAL_TOKEN": deployment.token},
    )

    async def scenario() -> None:
        async with mcp.Client(params, mode=mode) as client:
            assert client.protocol_version == ("2025-11-25" if mode == "legacy" else "2026-07-28")
            tools = {t.name for t in (await client.list_tools()).tools}
            assert {"list_services", "get_topology", "query_metrics"} <= tools
            topo = await client.call_tool("get_topology", {})
            assert not topo.is_error
            assert ("api", "db") in _edges(text_json(topo))
            listed = await client.call_tool("list_services", {})
            services = {s["name"]: s for s in text_json(listed)["services"]}
            assert services["db"]["status"] == "up"
            assert f"127.0.0.1:{deployment.db_port}" in services["db"]["listen"]

    anyio.run(scenario)


@pytest.mark.parametrize("mode", ["legacy", "auto"])
def test_edge_appears_through_mcp_over_streamable_http(deployment: Deployment, mode: str) -> None:
    async def scenario() -> None:
        async with http_client(deployment, mode) as client:
            expected = "2025-11-25" if mode == "legacy" else "2026-07-28"
            assert client.protocol_version == expected
            topo = await client.call_tool("get_topology", {})
            assert ("api", "db") in _edges(text_json(topo))
            resource = await client.read_resource("coral://topology")
            content = resource.contents[0]
            assert content.mime_type == "application/json"
            assert ("api", "db") in _edges(json.loads(content.text))  # type: ignore[union-attr]
            series = await client.call_tool(
                "query_metrics", {"service": "api", "metric": "rss_bytes", "start": "10m"}
            )
            assert not series.is_error
            points = text_json(series)["points"]
            assert points and all(p["min"] > 1_000_000 for p in points)  # a real process's RSS

    anyio.run(scenario)


def test_edge_appears_in_coral_ask_json(deployment: Deployment) -> None:
    done = subprocess.run(
        coral_cmd(
            "ask",
            "show me the topology",
            "--json",
            "--colony",
            deployment.http_url,
            "--token",
            deployment.token,
        ),
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env=child_env(),
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["intent"] == "topology"
    assert ("api", "db") in _edges(answer["tools"]["get_topology"])
    assert "api -> db" in answer["answer"]


def test_coral_ask_lists_running_services_as_text(deployment: Deployment) -> None:
    done = subprocess.run(
        coral_cmd(
            "ask", "what is running?", "--colony", deployment.http_url, "--token", deployment.token
        ),
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env=child_env(),
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "2 services (2 up):"
    assert any(line.split()[:2] == ["api", "up"] for line in lines[1:])
    assert any(line.split()[:2] == ["db", "up"] for line in lines[1:])


def test_query_metrics_error_names_the_closest_service(deployment: Deployment) -> None:
    async def scenario() -> None:
        async with http_client(deployment) as client:
            result = await client.call_tool(
                "query_metrics", {"service": "apii", "metric": "rss_bytes"}
            )
            assert result.is_error
            text = result.content[0].text  # type: ignore[union-attr]
            assert "unknown service 'apii'" in text and "did you mean api" in text

    anyio.run(scenario)


def text_json(result: Any) -> dict[str, Any]:
    """The JSON document in a tool result's one text block (Coral answers once, as text)."""
    return dict(json.loads(result.content[0].text))


# -- conformance with an independent client: the MCP Inspector CLI (npm, pinned) -------

TOOL_CALLS = {
    "list_services": {"limit": 10},
    "get_service": {"name": "api"},
    "list_metrics": {"service": "api"},
    "query_metrics": {"service": "api", "metric": "rss_bytes", "start": "10m"},
    "get_events": {"start": "1h"},
    "get_topology": {"service": "api", "depth": 1},
    "query_agent": {"service": "api", "kind": "connections"},
    "colony_status": {},
    "investigate": {"question": "what happened?", "start": "10m"},
    "find_anomalies": {"start": "1h"},
    "get_baselines": {},
    "get_correlations": {},
}
RESOURCES = [
    "coral://baselines",
    "coral://correlations",
    "coral://topology",
    "coral://services",
    "coral://events",
    "coral://services/api",
    "coral://events/api",
]


def inspector_targets(deployment: Deployment) -> dict[str, tuple[list[str], list[str]]]:
    """Per transport: what goes before the method options, and what goes after them."""
    stdio = [
        "-e", f"CORAL_TOKEN={deployment.token}", "--",
        str(Path(sys.executable).parent / "coral-mcp"), "serve", "--colony", deployment.http_url,
    ]  # fmt: skip
    http = [
        "--transport", "http", "--stored-auth-only",
        "--header", f"Authorization: Bearer {deployment.token}",
    ]  # fmt: skip
    return {"stdio": ([], stdio), "http": ([f"{deployment.http_url}/mcp"], http)}


def inspect(target: tuple[list[str], list[str]], *args: str) -> dict[str, Any]:
    before, after = target
    return inspector(*before, *args, *after)


@pytest.fixture(scope="module")
def held(deployment: Deployment, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Connection]:
    """The Inspector connected once per transport (one `coral-mcp serve` for every stdio
    call) for the tests that make many calls; the one-shot runs above connect each time."""
    coral_mcp = str(Path(sys.executable).parent / "coral-mcp")
    servers = {
        "stdio": {
            "command": coral_mcp,
            "args": ["serve", "--colony", deployment.http_url],
            "env": {"CORAL_TOKEN": deployment.token},
        },
        "http": {
            "type": "streamable-http",
            "url": f"{deployment.http_url}/mcp",
            "headers": auth(deployment.token),
        },
    }
    connection = Connection(tmp_path_factory.mktemp("inspector"), servers)
    yield connection
    connection.close()


@pytest.mark.parametrize("transport", ["stdio", "http"])
def test_inspector_lists_everything_with_clean_schemas(
    deployment: Deployment, held: Connection, transport: str
) -> None:
    target = inspector_targets(deployment)[transport]  # one-shot, as an assistant's first contact
    tools = inspect(target, "--method", "tools/list", "--strict")["tools"]
    assert {t["name"] for t in tools} == set(TOOL_CALLS)
    assert all(t["annotations"]["readOnlyHint"] for t in tools)
    resources = held.call(transport, "resources/list")["resources"]
    assert {r["uri"] for r in resources} >= {
        "coral://topology",
        "coral://services",
        "coral://events",
    }
    templates = held.call(transport, "resources/templates/list")["resourceTemplates"]
    assert {t["uriTemplate"] for t in templates} >= {
        "coral://services/{name}",
        "coral://events/{service}",
    }
    prompts = held.call(transport, "prompts/list")["prompts"]
    assert {p["name"] for p in prompts} == {"investigate_incident", "health_report"}


@pytest.mark.parametrize("transport", ["stdio", "http"])
def test_inspector_calls_every_tool_and_reads_every_resource(
    held: Connection, transport: str
) -> None:
    def call(method: str, *options: str) -> dict[str, Any]:
        return held.call(transport, method, *options)

    calls = [
        ["tools/call", "--tool-name", tool, "--tool-args-json", json.dumps(arguments)]
        for tool, arguments in TOOL_CALLS.items()
    ]
    with ThreadPoolExecutor(max_workers=3) as pool:  # one client process per call: in parallel
        results = dict(zip(TOOL_CALLS, pool.map(lambda c: call(*c), calls), strict=True))
        for tool, result in results.items():
            assert not result.get("isError"), (tool, result)
            assert json.loads(result["content"][0]["text"]), tool
        investigation_id = json.loads(results["investigate"]["content"][0]["text"])["id"]
        uris = [*RESOURCES, f"coral://investigations/{investigation_id}"]
        reads = pool.map(lambda u: call("resources/read", "--uri", u), uris)
        for uri, read in zip(uris, reads, strict=True):
            assert read["contents"][0]["mimeType"] == "application/json"
            assert json.loads(read["contents"][0]["text"]), uri
    prompt = call(
        "prompts/get", "--prompt-name", "investigate_incident",
        "--prompt-args", "service=api", "since=30m",
    )  # fmt: skip
    assert "api" in prompt["messages"][0]["content"]["text"]


@pytest.mark.parametrize("mode", ["legacy", "auto"])
@pytest.mark.parametrize("token", [None, "not-the-token"])
def test_official_client_without_the_token_is_refused(
    deployment: Deployment, mode: str, token: str | None
) -> None:
    refused: list[int] = []

    async def record(response: httpx2.Response) -> None:
        refused.append(response.status_code)

    async def scenario() -> None:
        headers = auth(token) if token else {}
        async with httpx2.AsyncClient(headers=headers, event_hooks={"response": [record]}) as http:
            transport = streamable_http_client(f"{deployment.http_url}/mcp", http_client=http)
            with pytest.raises(Exception):  # noqa: B017 (the SDK raises its own group)
                async with mcp.Client(transport, mode=mode) as client:  # type: ignore[arg-type]
                    await client.list_tools()

    anyio.run(scenario)
    assert refused and set(refused) == {401}
