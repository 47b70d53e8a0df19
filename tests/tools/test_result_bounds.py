"""Tool results stay bounded on a large colony: lists are cut and say so, names in
prose are counted rather than listed, and anything still too big is refused with a
next step instead of breaking the client (whose SDK reads at most 1 MiB per message).

A real store with 1,200 services on 100 agents: 600 in a chain (599 edges, more than a
result lists) and 600 on their own that all crashed a few minutes ago.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from coral_mcp import server
from coral_mcp.analysis.hypotheses import to_hypothesis
from coral_mcp.analysis.ranking import Candidate
from coral_mcp.models import (
    AgentStatusView,
    AgentView,
    ColonyStatusView,
    Endpoint,
    Event,
    EventBatch,
    Peer,
    ServiceBatch,
    ServiceState,
    Severity,
)
from coral_mcp.storage.ops import RegisterAgent, StoreEvents, StoreServices
from coral_mcp.storage.store import ColonyStore
from coral_mcp.tools.schemas import ColonyStatusOut
from tests.tools.test_mcp_tools import call, resource_error

CHAIN = 600
ALONE = 600
PER_AGENT = 12


def name(i: int) -> str:
    return f"s{i:04d}"


def endpoint(i: int) -> Endpoint:
    return Endpoint(f"10.{i // 250}.{i % 250}.1", 8000)


# One worker runs this module: its module fixture is made once.
pytestmark = pytest.mark.xdist_group("result-bounds")


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ColonyStore]:
    store = ColonyStore(tmp_path_factory.mktemp("big"))
    now_ms = int(time.time() * 1000)
    states = []
    for i in range(CHAIN + ALONE):
        peers = [Peer(endpoint(i + 1), 2)] if i < CHAIN - 1 else []
        if i == 298:  # an edge between two services two hops from s0300
            peers.append(Peer(endpoint(302), 1))
        states.append(ServiceState(name(i), "auto", (1000 + i,), (endpoint(i),), tuple(peers)))
    ops: list[Any] = []
    for a in range(len(states) // PER_AGENT):
        mine = tuple(states[a * PER_AGENT : (a + 1) * PER_AGENT])
        crashes = tuple(
            Event(now_ms - 300_000, s.name, "crash", Severity.CRITICAL, "exit 1", ())
            for s in mine
            if int(s.name[1:]) >= CHAIN
        )
        ops += [
            RegisterAgent(f"agent-{a:03d}", f"host-{a}", "0.1.0", 1, "peer", (), now_ms),
            StoreServices(f"agent-{a:03d}", 1, ServiceBatch(now_ms, mine)),
        ]
        if crashes:
            ops.append(StoreEvents(f"agent-{a:03d}", 2, EventBatch(crashes), now_ms))
    store.apply(ops)
    store.resolve_edges()
    yield store
    store.close()


def test_colony_status_counts_every_agent_but_lists_twenty_unless_asked(
    big: ColonyStore,
) -> None:
    failed, doc = call(big, "colony_status", {})
    assert not failed, doc
    assert sum(doc["agents_by_state"].values()) == 100 and doc["services"] == CHAIN + ALONE
    assert len(doc["agents"]) == 20 and doc["agents_left_out"] == 80
    _, more = call(big, "colony_status", {"limit": 100})
    assert len(more["agents"]) == 100 and "agents_left_out" not in more
    failed, text = call(big, "colony_status", {"limit": 5000})
    assert failed and "limit must be 0-1000" in text


def test_colony_status_lists_the_agents_that_need_attention_first() -> None:
    at = datetime(2026, 11, 28, tzinfo=UTC)
    views = [
        AgentStatusView(AgentView(f"a{i}", "h", "0.1.0", None, at, at, 1), state)
        for i, state in enumerate(["online", "online", "stale", "online", "offline"])
    ]
    status = ColonyStatusView(
        "0.1.0", at, tuple(views), 5, 0.0, 0.0, 0, None, 7.0, 90.0, 30.0, None
    )
    out = ColonyStatusOut.of(status, at + timedelta(minutes=1), limit=2)
    assert [(a.agent_id, a.state) for a in out.agents] == [("a4", "offline"), ("a2", "stale")]
    assert out.agents_left_out == 3 and out.agents_by_state["online"] == 3


def test_whole_topology_is_cut_at_five_hundred_and_says_how_to_narrow_it(
    big: ColonyStore,
) -> None:
    failed, doc = call(big, "get_topology", {})
    assert not failed, doc
    assert len(doc["edges"]) == 500 and len(doc["services"]) == 500
    assert doc["truncated"] and "service= and depth=" in doc["hint"]


def test_topology_around_a_service_holds_exactly_its_neighbourhood(big: ColonyStore) -> None:
    _, doc = call(big, "get_topology", {"service": name(300), "depth": 2})
    assert doc["services"] == [name(i) for i in range(298, 303)]
    edges = {(e["caller"], e["callee"]) for e in doc["edges"]}
    chain = {(name(i), name(i + 1)) for i in range(298, 302)}
    assert edges == chain | {(name(298), name(302))}  # the edge between two far ends too
    assert not doc["truncated"]
    _, alone = call(big, "get_topology", {"service": name(CHAIN + 5)})
    assert alone["services"] == [name(CHAIN + 5)] and alone["edges"] == []


def test_get_service_on_a_large_colony_names_only_its_own_neighbours(big: ColonyStore) -> None:
    failed, doc = call(big, "get_service", {"name": name(10)})
    assert not failed, doc
    assert doc["calls"] == [name(11)] and doc["called_by"] == [name(9)]
    assert [a["state"] for a in doc["agents"]] == ["offline"]


def test_investigating_hundreds_of_crashed_services_gives_a_bounded_answer(
    big: ColonyStore,
) -> None:
    failed, doc = call(big, "investigate", {"start": "30m"})
    assert not failed, doc
    brief = json.dumps(doc)
    assert doc["hypotheses"] and len(brief) < 16_000, len(brief)
    assert "more" in doc["summary"]  # the symptom's services are counted, not all named
    _, detail = call(big, "investigate", {"start": "30m", "detail": True})
    assert len(json.dumps(detail)) < 256_000
    for h in detail["hypotheses"]:
        for item in h["evidence"] + h["counter_evidence"]:
            assert len(item["description"]) < 1000


def test_a_result_over_the_bound_is_an_error_with_a_next_step(
    big: ColonyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server, "MAX_RESULT_BYTES", 8 * 1024)
    failed, text = call(big, "list_services", {"limit": 200, "detail": True})
    assert failed
    assert "list_services: the result is" in text and "over the 8 KiB" in text
    assert "a smaller limit" in text
    failed, small = call(big, "list_services", {"limit": 5})
    assert not failed and small["count"] == 5

    assert "coral://services: the result is" in resource_error(big, "coral://services")


def test_a_hypothesis_names_at_most_ten_services_in_each_piece_of_evidence() -> None:
    many = tuple(name(i) for i in range(3000))
    candidate = Candidate(
        service="s9999",
        score=5.0,
        onset_s=time.time() - 600,
        anomalies=(),
        events=(),
        healthy_dependencies=many,
        anomalous_dependencies=many,
        explained=many,
    )
    found = to_hypothesis(candidate)
    texts = [e.description for e in found.evidence]
    assert any(t.endswith(f"{name(9)} and 2990 more") for t in texts), texts
    assert len(found.counter_evidence) <= 12
    assert all(len(t) < 300 for t in texts)
