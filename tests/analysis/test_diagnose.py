"""The diagnosis on small cases built here: the walk from the symptom, chronic noise,
short history, the host as context, events without anomalies, and honest doubt."""

from __future__ import annotations

import numpy as np

from coral_mcp.analysis.detect import Series, detect_series
from coral_mcp.analysis.diagnose import diagnose
from coral_mcp.analysis.hypotheses import fault_kind, to_hypothesis
from coral_mcp.analysis.topology import ServiceGraph
from coral_mcp.models import Event, Severity
from coral_mcp.models.intelligence import FaultKind

T0 = 1_767_225_600.0
STEP = 60.0
N = 60
AT = 45  # the incident's first window
CHAIN = ServiceGraph([("web", "api"), ("api", "db")])


def series(
    service: str,
    metric: str,
    level: float,
    shifts: dict[int, float] | None = None,
    n: int = N,
    noise: float = 0.03,
    seed: int = 0,
) -> Series:
    """A noisy series at `level`, multiplied by `factor` from each index in `shifts`."""
    rng = np.random.default_rng(seed + hash((service, metric)) % 1000)
    values = level * (1 + noise * rng.standard_normal(n))
    for start, factor in (shifts or {}).items():
        values[start:] *= factor
    return Series(service, metric, T0 + STEP * np.arange(n), values)


def end(s: list[Series]) -> float:
    return max(float(x.ts_s[-1]) for x in s) + STEP


def event(service: str, kind: str, at_s: float, message: str = "", **attrs: str) -> Event:
    return Event(
        int(at_s * 1000), service, kind, Severity.WARNING, message or kind, tuple(attrs.items())
    )


def chain_incident() -> list[Series]:
    """db slows first; api a minute later; web a minute after that (propagation)."""
    return [
        series("db", "latency_ms", 5.0, {AT: 4.0}),
        series("api", "latency_ms", 40.0, {AT + 1: 2.0}),
        series("api", "error_rate", 0.01, {AT + 1: 3.0}),
        series("web", "latency_ms", 80.0, {AT + 2: 1.8}),
        series("web", "cpu_percent", 20.0),
        series("db", "cpu_percent", 30.0),
    ]


def test_the_walk_from_the_symptom_ends_where_the_anomalous_chain_ends() -> None:
    data = chain_incident()
    found = diagnose(data, [], CHAIN, end(data), symptom_service="web", symptom_metric="latency")
    ranked = [c.service for c in found.ranked]
    assert ranked[0] == "db"
    assert found.ranked[0].role == "end"
    assert {c.service: c.role for c in found.ranked}["web"] == "path"
    assert found.clear
    # The onset is where the chain began (db), not where the symptom showed (web).
    assert found.symptom.onset_s is not None and found.symptom.onset_s <= T0 + STEP * AT


def test_an_anomaly_off_the_symptoms_dependencies_is_not_its_answer() -> None:
    data = [*chain_incident(), series("batch", "cpu_percent", 10.0, {AT: 8.0})]
    graph = ServiceGraph([("web", "api"), ("api", "db"), ("cron", "batch")])
    found = diagnose(data, [], graph, end(data), symptom_service="web")
    roles = {c.service: c.role for c in found.ranked}
    assert found.ranked[0].service == "db"
    assert roles["batch"] == "off"


def test_without_a_symptom_it_is_inferred_and_said_so() -> None:
    data = chain_incident()
    found = diagnose(data, [], CHAIN, end(data))
    assert found.symptom.inferred
    assert found.symptom.services == ("web",)
    assert found.ranked[0].service == "db"


def test_a_chronically_noisy_service_is_not_ranked_first_for_a_new_incident() -> None:
    # "noisy" bursts to 5x for three windows every fifteen windows, before and during
    # the incident; db's latency shifts for the first time at the incident.
    bursts = np.full(N, 20.0)
    for start in range(3, N, 15):
        bursts[start : start + 3] = 100.0
    noisy = Series("noisy", "latency_ms", T0 + STEP * np.arange(N), bursts)
    data = [noisy, series("db", "latency_ms", 5.0, {AT: 2.0})]
    graph = ServiceGraph([("web", "noisy"), ("web", "db")])
    found = diagnose(data, [], graph, end(data), hint_s=T0 + STEP * AT)
    assert found.ranked[0].service == "db"
    chronic = [a for a in found.anomalies if a.service == "noisy"]
    assert chronic and all(a.chronic for a in chronic)
    noisy_candidate = next(c for c in found.ranked if c.service == "noisy")
    assert noisy_candidate.context and not noisy_candidate.anomalies


def test_a_cpu_level_shift_after_six_normal_windows_is_found() -> None:
    # A newly started colony: six normal windows, then a process burns 90 % of a core.
    cpu = series("api", "cpu_percent", 3.0, {6: 30.0}, n=10, noise=0.1)
    anomaly = detect_series(cpu, end([cpu]))
    assert anomaly is not None and anomaly.direction > 0
    assert anomaly.onset_s == T0 + STEP * 6
    found = diagnose([cpu, series("web", "latency_ms", 50.0, n=10)], [], CHAIN, end([cpu]))
    top = found.ranked[0]
    assert top.service == "api"
    assert fault_kind(top) is FaultKind.CPU_SATURATION


def test_the_host_is_context_never_a_candidate() -> None:
    data = [
        series("host", "cpu_percent", 30.0, {AT: 3.0}),
        series("host", "tcp_active_opens_per_s", 50.0, {AT: 0.5}),
        series("api", "cpu_percent", 10.0, {AT: 8.0}),
        series("web", "node_cpu_usage_pct", 30.0, {AT: 3.0}),
        series("web", "latency_ms", 80.0),
    ]
    found = diagnose(data, [], CHAIN, end(data))
    names = [c.service for c in found.ranked]
    assert "host" not in names
    assert "web" not in names  # its only change is its node's CPU: context
    top = found.ranked[0]
    assert top.service == "api"
    assert {a.metric for a in top.host} >= {"cpu_percent"}  # host-wide evidence attached
    said = [e.description for e in to_hypothesis(top).evidence]
    assert any(d.startswith("host-wide (context): cpu_percent") for d in said)
    assert any(d.startswith("noisy neighbour") for d in said)


def test_a_recent_exit_of_the_asked_service_is_its_first_evidence() -> None:
    # db was SIGKILLed 80 s before the end; its metrics show nothing yet.
    data = [series("db", "cpu_percent", 30.0), series("api", "latency_ms", 40.0)]
    killed = event("db", "crash", end(data) - 80, "process 42 crashed: killed by SIGKILL")
    found = diagnose(data, [killed], CHAIN, end(data), symptom_service="db")
    top = found.ranked[0]
    assert top.service == "db"
    assert top.confidence > 0.5
    hypothesis = to_hypothesis(top)
    assert hypothesis.kind == "crash"
    assert hypothesis.evidence[0].source == "crash"


def test_an_invisible_fault_gets_no_clear_root_cause() -> None:
    # Only the caller's outgoing-call latency moves: one of its five callees is slow,
    # but nothing says which.
    callees = [f"svc{i}" for i in range(5)]
    graph = ServiceGraph([("web", c) for c in callees])
    data = [series("web", "client_latency_ms", 30.0, {AT: 3.0})]
    data += [series(c, "cpu_percent", 20.0, seed=i) for i, c in enumerate(callees)]
    found = diagnose(data, [], graph, end(data), hint_s=T0 + STEP * AT, symptom_service="web")
    assert not found.clear
    assert {c.service for c in found.ranked[:5]} == set(callees)
    assert all(c.role == "suspect" for c in found.ranked[:5])
    assert found.none_confidence > found.ranked[0].confidence
