"""Coral's MCP tools in process (fastmcp's client) over a real store with real data.

Bad arguments must come back as isError results that name the query and a next step,
never as a protocol failure.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client

from coral_mcp.colony.ingest import Ingest
from coral_mcp.colony.queries import StoreQueries
from coral_mcp.intelligence.facade import Intelligence
from coral_mcp.models import (
    Endpoint,
    Event,
    EventBatch,
    MetricSummary,
    Peer,
    ServiceBatch,
    ServiceState,
    Severity,
    SummaryWindow,
)
from coral_mcp.server import build_server
from coral_mcp.storage.ops import RegisterAgent, StoreEvents, StoreServices, StoreSummaries
from coral_mcp.storage.retention import Retention
from coral_mcp.storage.store import ColonyStore
from coral_mcp.storage.writer import Writer


def ms(ago_s: float) -> int:
    """Epoch ms `ago_s` seconds before now (read when the fixture builds its data)."""
    return int((time.time() - ago_s) * 1000)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ColonyStore]:
    store = ColonyStore(tmp_path)
    api = ServiceState(
        "api",
        "port:8080",
        (11,),
        (Endpoint("10.0.0.1", 8080),),
        (Peer(Endpoint("10.0.0.2", 5432), 3),),
    )
    db = ServiceState("db", "port:5432", (12,), (Endpoint("10.0.0.2", 5432),))
    windows = [
        SummaryWindow(ms(600 - 15 * i), ms(585 - 15 * i), (
            MetricSummary("api", "rss_bytes", 1e8, 2e8, 1.5e8 + i, 1.6e8, 1.9e8, 15),
            MetricSummary("api", "cpu_percent", 1, 9, 4, 5, 8, 15),
        ))
        for i in range(30)
    ]  # fmt: skip
    deploy = Event(ms(300), "api", "deploy", Severity.INFO, "version changed from 1.0 to 1.1",
                   (("new_version", "1.1"), ("old_version", "1.0")))  # fmt: skip
    crash = Event(ms(200), "db", "crash", Severity.CRITICAL, "exited with code 3", (("code", "3"),))
    store.apply(
        [
            RegisterAgent("agent-1", "host", "0.1.0", 1, "peer", (), ms(900)),
            StoreServices("agent-1", 1, ServiceBatch(ms(10), (api, db))),
            *(StoreSummaries("agent-1", 2 + i, w) for i, w in enumerate(windows)),
            StoreEvents("agent-1", 40, EventBatch((deploy, crash)), ms(0)),
        ]
    )
    store.resolve_edges()
    yield store
    store.close()


@asynccontextmanager
async def coral(store: ColonyStore) -> AsyncIterator[Client[Any]]:
    writer = Writer(store)
    writer.start()
    queries = StoreQueries(
        store, Ingest(store, writer, 30, 120), Retention(), Intelligence(store, writer)
    )
    async with Client(build_server(queries)) as client:
        yield client
    await writer.close()


def resource_error(store: ColonyStore, uri: str) -> str:
    """The error reading `uri` raises ("" when it reads)."""

    async def read() -> str:
        async with coral(store) as client:
            try:
                await client.read_resource(uri)
            except Exception as exc:
                return str(exc)
            return ""

    return asyncio.run(read())


def call(store: ColonyStore, tool: str, args: dict[str, Any]) -> tuple[bool, Any]:
    async def go() -> tuple[bool, Any]:
        async with coral(store) as client:
            result = await client.call_tool(tool, args, raise_on_error=False)
            if result.is_error:
                return True, result.content[0].text  # type: ignore[union-attr]
            return False, json.loads(result.content[0].text)  # type: ignore[union-attr]

    return asyncio.run(go())


def test_get_service_brings_status_version_dependencies_and_recent_metrics(
    store: ColonyStore,
) -> None:
    failed, doc = call(store, "get_service", {"name": "api"})
    assert not failed
    assert doc["status"] == "up" and doc["version"] == "1.1" and doc["calls"] == ["db"]
    assert {m["metric"] for m in doc["metrics"]} == {"cpu_percent", "rss_bytes"}
    assert [e["kind"] for e in doc["recent_events"]] == ["deploy"]
    assert "attributes" not in doc["recent_events"][0]  # details on request only
    _, full = call(store, "get_service", {"name": "api", "detail": True})
    assert full["recent_events"][0]["attributes"]["new_version"] == "1.1"
    assert doc["health"]["healthy"] is None  # no health check ran: said so, not guessed


def test_get_topology_around_a_service_and_whole(store: ColonyStore) -> None:
    failed, around = call(store, "get_topology", {"service": "db", "depth": 1})
    assert not failed
    assert around["center"] == "db" and set(around["services"]) == {"api", "db"}
    assert [(e["caller"], e["callee"]) for e in around["edges"]] == [("api", "db")]
    failed, zero = call(store, "get_topology", {"service": "db", "depth": 0})
    assert zero["services"] == ["db"] and zero["edges"] == []


def test_list_metrics_and_get_events_with_filters(store: ColonyStore) -> None:
    _, metrics = call(store, "list_metrics", {"service": "api"})
    assert [m["metric"] for m in metrics["metrics"]] == ["cpu_percent", "rss_bytes"]
    _, events = call(store, "get_events", {"kinds": ["crash"], "start": "1h"})
    assert [(e["service"], e["kind"]) for e in events["events"]] == [("db", "crash")]
    assert "attributes" not in events["events"][0]  # the summary; details on request
    _, detailed = call(store, "get_events", {"kinds": ["crash"], "start": "1h", "detail": True})
    assert detailed["events"][0]["attributes"] == {"code": "3"}
    _, page = call(store, "get_events", {"limit": 1})
    assert page["truncated"] and page["next_cursor"] and page["count"] == 1


def test_empty_results_carry_a_hint(store: ColonyStore) -> None:
    _, events = call(store, "get_events", {"service": "db", "kinds": ["oom_kill"]})
    assert events["events"] == [] and "No events" in events["hint"]
    _, series = call(
        store,
        "query_metrics",
        {"service": "api", "metric": "rss_bytes", "start": "3d", "end": "2d"},
    )
    assert series["points"] == [] and "try a wider range" in series["hint"]


@pytest.mark.parametrize(
    ("tool", "args", "says"),
    [
        ("get_service", {"name": "apii"}, ["get_service: unknown service 'apii'", "did you mean api"]),
        ("query_metrics", {"service": "api", "metric": "rss"}, ["has no metric 'rss'", "rss_bytes"]),
        ("query_metrics", {"service": "api", "metric": "rss_bytes", "start": "1h", "end": "2h"},
         ["is not before end"]),
        ("query_metrics", {"service": "api", "metric": "rss_bytes", "start": "last tuesday"},
         ["cannot read time 'last tuesday'", "RFC 3339"]),
        ("query_metrics", {"service": "api", "metric": "rss_bytes", "step_s": 5},
         ["step_s must be at least 10"]),
        ("query_metrics", {"service": "api", "metric": "rss", "start": "last tuesday"},
         ["has no metric 'rss'", "rss_bytes"]),
        ("list_services", {"limit": 500}, ["limit must be 1-200"]),
        ("get_events", {"limit": 0}, ["limit must be 1-500"]),
        ("get_events", {"cursor": "nonsense"}, ["not one this server gave out"]),
        ("get_topology", {"depth": 2}, ["depth needs a service"]),
        ("get_topology", {"service": "api", "depth": 11}, ["depth must be 0-10"]),
        ("query_agent", {"service": "api", "kind": "connections"}, ["agent agent-1 is offline"]),
    ],
)  # fmt: skip
def test_bad_arguments_are_error_results_that_say_what_to_do(
    store: ColonyStore, tool: str, args: dict[str, Any], says: list[str]
) -> None:
    failed, text = call(store, tool, args)
    assert failed, text
    for part in says:
        assert part in text


def test_resources_are_the_tool_documents(store: ColonyStore) -> None:
    async def go() -> dict[str, Any]:
        async with coral(store) as client:
            docs = {}
            for uri in ("coral://topology", "coral://services/api", "coral://events/db"):
                content = (await client.read_resource(uri))[0]
                assert content.mime_type == "application/json"
                docs[uri] = json.loads(content.text)  # type: ignore[union-attr]
            return docs

    docs = asyncio.run(go())
    assert docs["coral://topology"]["edges"][0]["caller"] == "api"
    assert docs["coral://services/api"]["name"] == "api"
    assert [e["kind"] for e in docs["coral://events/db"]["events"]] == ["crash"]


def test_investigate_over_a_quiet_range_says_no_significant_anomaly(store: ColonyStore) -> None:
    # Before the deploy (5 min ago) and the crash (3 min ago): nothing happened then.
    args = {"question": "anything wrong?", "start": "15m", "end": "now-6m", "detail": True}
    failed, doc = call(store, "investigate", args)
    assert not failed, doc
    assert doc["outcome"] == "no_significant_anomaly" and doc["hypotheses"] == []
    assert doc["question"] == "anything wrong?" and doc["id"]

    assert read_back(store, doc["id"]) == doc


def read_back(store: ColonyStore, investigation_id: str) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        async with coral(store) as client:
            content = (await client.read_resource(f"coral://investigations/{investigation_id}"))[0]
            return dict(json.loads(content.text))  # type: ignore[union-attr]

    return asyncio.run(go())


def test_a_recorded_investigation_reads_back_exactly_as_the_tool_returned_it(
    store: ColonyStore,
) -> None:
    failed, doc = call(store, "investigate", {"start": "15m", "service": "api", "detail": True})
    assert not failed, doc
    assert read_back(store, doc["id"]) == doc
    _, brief = call(store, "investigate", {"start": "15m", "service": "api"})
    assert "anomalies" not in brief and len(brief["hypotheses"]) <= 3
    assert f"coral://investigations/{brief['id']}" in brief["hint"]


def test_intelligence_tools_answer_with_hints_when_nothing_is_learned_yet(
    store: ColonyStore,
) -> None:
    _, anomalies = call(store, "find_anomalies", {"start": "1h", "service": "api"})
    assert anomalies["anomalies"] == [] and "No anomalies" in anomalies["hint"]
    assert anomalies["start"].endswith("Z") and anomalies["end"].endswith("Z")
    _, baselines = call(store, "get_baselines", {"service": "api"})
    assert baselines["baselines"] == [] and "No baselines yet" in baselines["hint"]
    _, correlations = call(store, "get_correlations", {})
    assert correlations["correlations"] == [] and correlations["hint"]


@pytest.mark.parametrize(
    ("tool", "args", "says"),
    [
        ("investigate", {"start": "30d"}, ["longer than 7 days"]),
        ("investigate", {"service": "dbb"}, ["unknown service 'dbb'", "did you mean db"]),
        ("find_anomalies", {"limit": 501}, ["limit must be 1-500"]),
        ("get_baselines", {"service": "nope"}, ["unknown service 'nope'"]),
        ("get_correlations", {"limit": 0}, ["limit must be 1-100"]),
    ],
)
def test_bad_intelligence_arguments_are_error_results(
    store: ColonyStore, tool: str, args: dict[str, Any], says: list[str]
) -> None:
    failed, text = call(store, tool, args)
    assert failed, text
    for part in says:
        assert part in text


def test_unknown_investigation_id_is_a_resource_error_with_a_reason(store: ColonyStore) -> None:
    assert "no investigation 'inv-nope'" in resource_error(store, "coral://investigations/inv-nope")


def test_investigate_names_the_crashed_service_with_evidence(store: ColonyStore) -> None:
    failed, doc = call(store, "investigate", {"start": "15m"})
    assert not failed, doc
    assert doc["outcome"] == "hypotheses"
    top = doc["hypotheses"][0]
    assert top["service"] == "db" and top["rank"] == 1
    assert 0 < top["confidence"] <= 1 and top["recommendation"]
    assert any(e["source"] == "crash" for e in top["evidence"])
