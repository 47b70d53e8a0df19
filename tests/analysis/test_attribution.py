"""Latency attribution along the call graph, on graphs and slowdowns built here, and
through the whole diagnosis: a delayed callee whose own metrics stay quiet."""

from __future__ import annotations

import numpy as np

from coral_mcp.analysis.attribution import attribute
from coral_mcp.analysis.detect import Series
from coral_mcp.analysis.diagnose import diagnose
from coral_mcp.analysis.hypotheses import to_hypothesis
from coral_mcp.analysis.topology import ServiceGraph

SHOP = ServiceGraph(
    [
        ("web", "db"),
        ("web", "cache"),
        ("web", "auth"),
        ("api", "db"),
        ("api", "cache"),
        ("worker", "cache"),
    ]
)


def names(found: list) -> list[str]:
    return [a.service for a in found]


def test_the_callee_every_slowed_caller_shares_comes_first() -> None:
    # web and api slowed; worker did not: cache (called by all three) fits worse than
    # db (called by exactly the two that slowed); auth explains web alone.
    found = attribute(SHOP, {"web": 9.0, "api": 7.0, "worker": 0.4}, {})
    assert names(found) == ["db", "cache", "auth"]
    assert found[0].explained == ("api", "web")
    assert found[1].unchanged == ("worker",)


def test_a_slowdown_an_anomalous_callee_explains_names_no_suspect() -> None:
    found = attribute(SHOP, {"web": 9.0, "api": 7.0}, {}, anomalous={"db"})
    assert found == []


def test_no_slowdown_no_suspect() -> None:
    assert attribute(SHOP, {"web": 1.0, "api": 2.5}, {"db": 1.0}) == []


def test_a_service_whose_calls_slowed_while_calling_nothing_known_is_its_own_suspect() -> None:
    graph = ServiceGraph([("web", "mail"), ("web", "pay")])
    found = attribute(graph, {"mail": 40.0, "web": 5.0}, {})
    assert names(found)[0] == "mail"
    assert found[0].explained == ("web",)


def test_the_delay_reaches_callers_through_a_caller_that_serves_slower() -> None:
    # gateway -> api -> db and gateway -> cache: db's delay slows api's calls and api's
    # answers, so gateway's calls slow too; db explains both, cache only gateway.
    graph = ServiceGraph([("gateway", "api"), ("api", "db"), ("gateway", "cache")])
    found = attribute(graph, {"gateway": 6.0, "api": 8.0}, {"api": 7.0})
    assert names(found)[0] == "db"
    assert found[0].explained == ("api", "gateway")


def test_a_suspect_whose_own_calls_slowed_passes_latency_on() -> None:
    # api's own outgoing calls slowed: api is less likely the cause than what it calls.
    graph = ServiceGraph([("web", "api"), ("api", "db")])
    found = attribute(graph, {"web": 6.0, "api": 6.0}, {})
    assert names(found) == ["db"]


T0 = 1_767_225_600.0
STEP = 60.0
N = 40
AT = 30


def flat(service: str, metric: str, level: float, rise: float = 1.0, seed: int = 0) -> Series:
    rng = np.random.default_rng(seed)
    values = level * (1 + 0.03 * rng.standard_normal(N))
    values[AT:] *= rise
    return Series(service, metric, T0 + STEP * np.arange(N), values)


def test_a_delayed_callee_with_quiet_metrics_is_named_from_its_callers_slowdown() -> None:
    # A network delay on db: web's and api's outgoing calls slow down, worker's do not,
    # and db's own CPU and served latency stay where they were.
    data = [
        flat("web", "client_latency_ms", 30.0, 2.0, seed=1),
        flat("web", "server_latency_ms", 80.0, 1.4, seed=2),
        flat("api", "client_latency_ms", 20.0, 2.5, seed=3),
        flat("worker", "client_latency_ms", 10.0, seed=4),
    ]
    for i, service in enumerate(("db", "cache", "auth")):
        data.append(flat(service, "cpu_percent", 20.0, seed=10 + i))
        data.append(flat(service, "server_latency_ms", 5.0, seed=20 + i))
    found = diagnose(data, [], SHOP, T0 + STEP * N, hint_s=T0 + STEP * AT, symptom_service="web")
    top = found.ranked[0]
    assert (top.service, top.role) == ("db", "suspect")
    said = [e.description for e in to_hypothesis(top).evidence]
    assert any("api, web" in d for d in said)
