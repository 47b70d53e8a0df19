"""What a model reads from Coral stays within its context budget.

A sample colony of 10 real services (a real colony, a real agent, real TCP services in a
dependency graph, one of them crashing and restarting) is read the way an assistant reads
it: through `coral-mcp serve` over stdio, by the MCP Inspector CLI. Each typical call's
result, as it travels (compact JSON of the whole `CallToolResult`), must stay within its
budget, and so must `tools/list`. A tool whose typical result grows past its budget fails
here: give it a summary first and the detail behind `limit`, `cursor` or `detail=true`.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.conftest import ROOT, Processes, auth, free_port, wait_for
from tests.inspector import Connection

# One worker runs this module, so the sample colony (a module fixture) is made once.
# Generous time: on a loaded machine the sample colony alone can take minutes to fill.
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("mcp-budget"), pytest.mark.timeout(900)]


#: The sample application: service -> the services it calls.
GRAPH: dict[str, tuple[str, ...]] = {
    "web": ("api",),
    "api": ("auth", "cart", "search"),
    "auth": ("db",),
    "cart": ("db", "cache"),
    "search": ("index",),
    "worker": ("queue", "db"),
    "db": (),
    "cache": (),
    "index": (),
    "queue": (),
}
#: Restarted a few times while the colony watches: events, an exit, a crash.
FLAKY = "worker"

TOOLS_LIST_BUDGET = 12 * 1024
RESULT_BUDGET = 4 * 1024
#: The typical call of each tool (what an assistant asks first), with its budget in bytes.
TYPICAL_CALLS: dict[str, tuple[dict[str, Any], int]] = {
    "list_services": ({}, RESULT_BUDGET),
    "get_service": ({"name": "api"}, RESULT_BUDGET),
    "list_metrics": ({"service": "api"}, RESULT_BUDGET),
    "query_metrics": ({"service": "api", "metric": "cpu_percent"}, RESULT_BUDGET),
    "get_events": ({}, RESULT_BUDGET),
    "get_topology": ({}, RESULT_BUDGET),
    "query_agent": ({"service": "api", "kind": "samples"}, RESULT_BUDGET),
    "colony_status": ({}, RESULT_BUDGET),
    "investigate": ({"question": "what happened?"}, RESULT_BUDGET),
    "find_anomalies": ({}, RESULT_BUDGET),
    "get_baselines": ({}, RESULT_BUDGET),
    "get_correlations": ({}, RESULT_BUDGET),
}


@dataclass(frozen=True)
class SampleColony:
    data_dir: Path
    url: str
    token: str


#: get_events' default page.
EVENTS_PAGE = 20


def _events_of(colony: SampleColony, service: str) -> int:
    response = httpx2.get(
        f"{colony.url}/api/v1/events",
        params={"service": service, "limit": 200},
        headers=auth(colony.token),
        timeout=5,
    )
    return len(response.json()["events"]) if response.status_code == 200 else -1


def _services_seen(colony: SampleColony) -> int:
    response = httpx2.get(f"{colony.url}/api/v1/services", headers=auth(colony.token), timeout=5)
    return len(response.json()["services"]) if response.status_code == 200 else 0


def _service_cmd(name: str, ports: dict[str, int]) -> list[str]:
    cmd = [sys.executable, str(ROOT / "tests" / "data" / "tcp_service.py")]
    cmd += ["--listen", str(ports[name]), "--tag", name]
    for callee in GRAPH[name]:
        cmd += ["--connect", f"127.0.0.1:{ports[callee]}"]
    return cmd


def _start_services(
    procs: Processes, names: list[str], ports: dict[str, int]
) -> dict[str, subprocess.Popen[bytes]]:
    """Start `names` at once; return when each listens (and holds its connections)."""
    started = {name: procs.start(name, _service_cmd(name, ports)) for name in names}
    for name in names:
        wait_for(lambda n=name: b"ready" in procs.stdout(n), 90, f"{name} ready")
    return started


def _depth(name: str) -> int:
    return 1 + max((_depth(callee) for callee in GRAPH[name]), default=0)


@pytest.fixture(scope="module")
def sample_colony(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SampleColony]:
    tmp = tmp_path_factory.mktemp("budget")
    (tmp / "logs").mkdir()
    procs = Processes(tmp / "logs")
    ports = {name: free_port() for name in GRAPH}
    try:
        started: dict[str, subprocess.Popen[bytes]] = {}
        for level in sorted({_depth(name) for name in GRAPH}):  # callees before their callers
            names = [name for name in GRAPH if _depth(name) == level]
            started |= _start_services(procs, names, ports)
        running = procs.colony(tmp)
        colony = SampleColony(tmp, running.url, running.token)
        services = {name: f"port:{port}" for name, port in ports.items()}
        procs.agent(tmp, running.grpc_port, services, interval_s=0.3, push_s=0.5)
        wait_for(lambda: _services_seen(colony) == len(GRAPH), 120, "every service watched")
        # The flaky one ends (killed, after the first time) and comes back, until its
        # events alone fill more than a default page of get_events (how many each
        # cycle makes depends on what the agent sees of it).
        cycle = 0
        while cycle < 4 or (_events_of(colony, FLAKY) <= EVENTS_PAGE and cycle < 12):
            cycle += 1
            before = _events_of(colony, FLAKY)
            started[FLAKY].send_signal(signal.SIGKILL if cycle > 1 else signal.SIGTERM)
            started[FLAKY].wait(timeout=10)
            wait_for(lambda b=before: _events_of(colony, FLAKY) > b, 90, f"{FLAKY} ended")
            before = _events_of(colony, FLAKY)
            started |= _start_services(procs, [FLAKY], ports)
            wait_for(lambda b=before: _events_of(colony, FLAKY) > b, 90, f"{FLAKY} back")
        yield colony
    finally:
        procs.stop_all()


def wire_bytes(document: Any) -> int:
    """Size as it travels: compact JSON, UTF-8."""
    return len(json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode())


@pytest.fixture(scope="module")
def results(
    sample_colony: SampleColony, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, Any]]:
    """tools/list, prompts/list and each typical call, read over stdio from one
    `coral-mcp serve --data-dir` held by the Inspector (several calls at once); also
    written to DATA_DIR/mcp-results/ to look at when a test fails."""
    jobs: dict[str, list[str]] = {"tools/list": ["tools/list"], "prompts/list": ["prompts/list"]}
    for tool, (arguments, _) in TYPICAL_CALLS.items():
        jobs[tool] = ["tools/call", "--tool-name", tool, "--tool-args-json", json.dumps(arguments)]
    serve = {
        "command": str(Path(sys.executable).parent / "coral-mcp"),
        "args": ["serve", "--data-dir", str(sample_colony.data_dir)],
    }
    held = Connection(tmp_path_factory.mktemp("inspector"), {"coral": serve})
    try:
        with ThreadPoolExecutor(max_workers=3) as pool:
            found = pool.map(lambda job: held.call("coral", *job), jobs.values())
            results = dict(zip(jobs, found, strict=True))
    finally:
        held.close()
    shown = sample_colony.data_dir / "mcp-results"
    shown.mkdir(exist_ok=True)
    for name, result in results.items():
        (shown / f"{name.replace('/', '_')}.json").write_text(json.dumps(result, indent=1))
    for tool in TYPICAL_CALLS:
        assert not results[tool].get("isError"), f"{tool}: {results[tool]}"
    return results


def document(result: dict[str, Any]) -> dict[str, Any]:
    """The JSON a tool result carries in its one text block."""
    (block,) = result["content"]
    assert block["type"] == "text"
    return dict(json.loads(block["text"]))


def test_the_sample_fills_a_default_page_of_events(results: dict[str, dict[str, Any]]) -> None:
    """Budgets are measured where they bite: a full default page of get_events."""
    events = document(results["get_events"])
    assert events["count"] == EVENTS_PAGE and events["truncated"], events["count"]


def test_tools_list_and_every_typical_tool_result_stay_within_their_budgets(
    sample_colony: SampleColony, results: dict[str, dict[str, Any]]
) -> None:
    sizes = {name: wire_bytes(result) for name, result in results.items()}
    table = "\n".join(f"  {name}: {size} B" for name, size in sizes.items())
    over = [f"tools/list {sizes['tools/list']} B > {TOOLS_LIST_BUDGET} B"] * (
        sizes["tools/list"] > TOOLS_LIST_BUDGET
    )
    over += [
        f"{tool} {sizes[tool]} B > {budget} B"
        for tool, (_, budget) in TYPICAL_CALLS.items()
        if sizes[tool] > budget
    ]
    where = sample_colony.data_dir / "mcp-results"
    assert not over, f"over budget: {', '.join(over)}\nmeasured (results in {where}):\n{table}"


def test_each_result_is_sent_once_as_json_text(results: dict[str, dict[str, Any]]) -> None:
    assert all("outputSchema" not in tool for tool in results["tools/list"]["tools"])
    for tool in TYPICAL_CALLS:
        assert "structuredContent" not in results[tool], tool
        assert document(results[tool]), tool


ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d[^\s\"]*")


def test_every_time_in_a_result_is_rfc3339_utc_with_z(
    results: dict[str, dict[str, Any]],
) -> None:
    for tool in TYPICAL_CALLS:
        text = results[tool]["content"][0]["text"]
        times = [t.rstrip(".,;:)") for t in ISO_TIME.findall(text)]  # as a sentence ends
        assert all(t.endswith("Z") for t in times), (tool, [t for t in times if t[-1] != "Z"])
    samples = document(results["query_agent"])["result"]
    assert samples["rows"] and all(row[0].endswith("Z") for row in samples["rows"])
    assert len(samples["rows"][0]) == len(samples["metrics"]) + 1


def test_prompt_arguments_are_described_in_words(results: dict[str, dict[str, Any]]) -> None:
    arguments = [a for p in results["prompts/list"]["prompts"] for a in p.get("arguments", [])]
    assert {a["name"] for a in arguments} == {"service", "since"}
    for argument in arguments:
        assert argument["description"] and "JSON schema" not in argument["description"]
