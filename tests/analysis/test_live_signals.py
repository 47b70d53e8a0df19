"""What live agents report, read right: a caller's wait on a peer is the peer's latency,
a lost peer is named, timed counts are throughput, 5xx labels are errors, a held value
is known only to its dead band, and nothing causal means no incident."""

from __future__ import annotations

import numpy as np

from coral_mcp.analysis.detect import MetricAnomaly, Series, detect_series
from coral_mcp.analysis.diagnose import SetAside, _busy_host, diagnose
from coral_mcp.analysis.hypotheses import fault_kind, to_hypothesis
from coral_mcp.analysis.metric_names import (
    MetricClass,
    is_dependency_latency,
    metric_class,
    resolution,
)
from coral_mcp.analysis.peers import callee_series, name_peers, resolve_peer
from coral_mcp.analysis.ranking import Candidate
from coral_mcp.analysis.topology import ServiceGraph
from coral_mcp.models import Event, Severity
from coral_mcp.models.intelligence import FaultKind

T0 = 1_767_225_600.0
STEP = 2.0
N = 40
AT = 20
SHOP = ServiceGraph([("web", "api"), ("api", "postgres"), ("api", "redis")])
ENDPOINTS = {"127.0.0.1:5432": "postgres", "0.0.0.0:6379": "redis", "127.0.0.1:8080": "api"}


def flat(service: str, metric: str, before: float, after: float | None = None) -> Series:
    rng = np.random.default_rng(abs(hash((service, metric))) % 1000)
    values = before + 0.01 * abs(before) * rng.standard_normal(N)
    if after is not None:
        values[AT:] = after + 0.01 * abs(after) * rng.standard_normal(N - AT)
    return Series(service, metric, T0 + STEP * np.arange(N), values)


def event(service: str, kind: str, index: int, message: str = "", **attrs: str) -> Event:
    return Event(
        int((T0 + STEP * index) * 1000),
        service,
        kind,
        Severity.WARNING,
        message or kind,
        tuple(attrs.items()),
    )


def end() -> float:
    return T0 + STEP * N


def test_a_callers_wait_on_one_peer_becomes_that_callees_latency() -> None:
    waits = [
        flat("api", "tcp_wait_ms@127.0.0.1:5432", 0.0, 250.0),
        flat("api", "tcp_wait_ms@127.0.0.1:6379", 0.0),
        flat("web", "tcp_wait_ms", 0.0, 260.0),  # web calls api only: its wait is api's
    ]
    made = {(s.service, s.metric) for s in callee_series(waits, ENDPOINTS, SHOP)}
    assert made == {
        ("postgres", "wait_ms<-api"),
        ("redis", "wait_ms<-api"),
        ("api", "wait_ms<-web"),
    }
    assert metric_class("wait_ms<-cpuservice") is MetricClass.LATENCY
    assert not is_dependency_latency("wait_ms<-api")


def test_a_slow_database_seen_only_by_its_callers_waits_is_the_root_cause() -> None:
    observed = [
        flat("api", "tcp_wait_ms@127.0.0.1:5432", 0.0, 250.0),
        flat("api", "tcp_wait_ms@127.0.0.1:6379", 0.0),
        flat("api", "http_duration_seconds:p95", 0.01, 0.26),
        flat("web", "tcp_wait_ms", 0.0, 260.0),
        flat("web", "http_duration_seconds:p95", 0.02, 0.27),
        flat("postgres", "cpu_percent", 3.0),
        flat("redis", "cpu_percent", 1.0),
    ]
    observed += callee_series(observed, ENDPOINTS, SHOP)
    top = diagnose(observed, [], SHOP, end()).ranked[0]
    assert (top.service, fault_kind(top)) == ("postgres", FaultKind.LATENCY)


def test_a_peer_a_caller_lost_is_named_by_the_service_listening_there() -> None:
    lost = event("api", "dependency_lost", AT, peer="127.0.0.1:5432")
    (named,) = name_peers([lost], ENDPOINTS)
    assert dict(named.attributes)["peer_service"] == "postgres"
    assert resolve_peer("10.0.0.9:6379", ENDPOINTS) == "redis"  # listening on every address
    assert resolve_peer("10.0.0.9:9999", ENDPOINTS) is None


def test_a_stopped_dependency_that_stays_down_is_dependency_down_not_a_crash() -> None:
    observed = [
        flat("api", "health_up", 1.0, 0.0),
        flat("api", 'prom:http_requests_total{code="503"}:rate', 0.0, 9.0),
        flat("web", "http_duration_seconds:p95", 0.02, 0.02),
        flat("postgres", "cpu_percent", 3.0),
    ]
    events = name_peers(
        [
            event("postgres", "exit", AT, "process 41 exited (status unknown)"),
            event("api", "dependency_lost", AT, peer="127.0.0.1:5432"),
            event("api", "health_flip", AT + 1),
        ],
        ENDPOINTS,
    )
    top = diagnose(observed, events, SHOP, end()).ranked[0]
    assert top.service == "postgres"
    assert fault_kind(top) is FaultKind.DEPENDENCY_DOWN
    assert "exited" in to_hypothesis(top).evidence[0].description
    back = [*events, event("postgres", "restart", AT + 3)]
    assert fault_kind(diagnose(observed, back, SHOP, end()).ranked[0]) is FaultKind.CRASH


def test_the_count_of_a_latency_histogram_is_throughput_and_a_5xx_label_is_errors() -> None:
    assert metric_class('prom:http_request_duration_seconds_count{route="/a"}:rate') is (
        MetricClass.THROUGHPUT
    )
    assert metric_class('prom:http_requests_total{code="502",route="/a"}:rate') is (
        MetricClass.ERRORS
    )
    assert metric_class("connections_opened") is MetricClass.THROUGHPUT
    assert metric_class("syscall_read_count") is MetricClass.OTHER


def test_one_more_connection_or_a_tick_of_cpu_is_not_an_anomaly() -> None:
    assert resolution("connections_in") == resolution("cpu_percent") == 0.5
    one_more = flat("redis", "connections_in", 1.0, 2.0)
    assert detect_series(one_more, end()) is None
    a_tick = flat("redis", "cpu_percent", 0.3, 1.0)
    assert detect_series(a_tick, end()) is None
    assert detect_series(flat("api", "cpu_percent", 2.0, 55.0), end()) is not None


def test_a_wait_of_tens_of_ms_from_an_idle_reference_is_jitter_but_a_stall_is_not() -> None:
    # A caller's wait is the request in flight at a scan: 0 while answers are quick, and
    # a few tens of ms now and then on a busy host; the agent's band calls that jitter.
    assert resolution("wait_ms<-api") == resolution("tcp_wait_ms@127.0.0.1:5432") == 10.0
    assert detect_series(flat("postgres", "wait_ms<-api", 0.0, 30.0), end()) is None
    assert detect_series(flat("postgres", "wait_ms<-api", 0.0, 250.0), end()) is not None


def test_a_value_held_within_the_agents_dead_band_is_not_a_level_shift() -> None:
    s = flat("api", "health_latency_seconds:p50", 0.0075, 0.0375)
    assert detect_series(s, end()) is not None
    held = Series(s.service, s.metric, s.ts_s, s.values, resolution=0.05)
    assert detect_series(held, end()) is None


def test_with_nothing_that_could_be_a_cause_there_is_no_incident() -> None:
    observed = [
        flat("postgres", "write_bytes_per_s", 1900.0, 0.0),  # less activity
        flat("api", "requests_per_s", 10.0, 14.0),  # more load
        flat("web", "cpu_percent", 2.0),
    ]
    assert diagnose(observed, [], SHOP, end()).ranked == ()


def test_a_callers_round_trip_time_is_not_held_against_its_callee() -> None:
    rtt = [flat("api", "tcp_rtt_ms@127.0.0.1:6379", 0.1, 0.3)]  # api's own CPU burn
    assert callee_series(rtt, ENDPOINTS, SHOP) == []


def test_a_weak_slowdown_on_a_busy_host_with_nothing_else_changed_is_no_incident() -> None:
    slower = flat("web", 'prom:http_request_duration_seconds{route="/health"}:p95', 0.02, 0.025)
    calm = [slower, flat("web", "cpu_percent", 2.0), flat("host", "cpu_percent", 60.0)]
    busy = [*calm[:2], flat("host", "cpu_percent", 60.0, 95.0)]
    quiet = diagnose(busy, [], SHOP, end())
    assert quiet.ranked == ()
    assert [c.service for c in quiet.set_aside] == ["web"]
    # The same weak lead stays a lead when the host was calm, when someone reported an
    # incident at that time, or when something other than latency changed as well.
    assert diagnose(calm, [], SHOP, end()).ranked[0].service == "web"
    assert diagnose(busy, [], SHOP, end(), hint_s=T0 + STEP * AT).ranked[0].service == "web"
    restarted = [event("web", "restart", AT - 2)]
    assert diagnose(busy, restarted, SHOP, end()).ranked[0].service == "web"


def test_a_busy_host_does_not_explain_answers_many_times_slower() -> None:
    """A Redis paused 300 ms at a time (live), other work keeping the host busy: the leads
    were weak (the wait callers measured on Redis jumps from 0) and rested on latency
    alone, yet answers 250 times slower are no contention."""
    host = MetricAnomaly("host", "disk_write_bytes_per_s", "spike", T0, T0, 66.0, 2e6, 4e4, 1)

    def weak_lead(value: float) -> Candidate:
        slower = MetricAnomaly(
            "api", "health_latency_ms", "level_shift", T0, T0, 9.0, value, 7.0, 1
        )
        return Candidate("api", 3.0, T0, (slower,), (), (), (), (), confidence=0.1)

    assert _busy_host([weak_lead(7.0 * 1.3)], [host], [], None)
    assert not _busy_host([weak_lead(288.0)], [host], [], None)


def test_a_databases_disk_activity_beside_a_weak_slowdown_on_a_busy_host_is_no_incident() -> None:
    busy = [
        flat("web", 'prom:http_request_duration_seconds{route="/checkout"}:p95', 0.02, 0.025),
        flat("web", "cpu_percent", 2.0),
        flat("host", "disk_write_bytes_per_s", 8e4, 7e6),
        flat("postgres", "write_bytes_per_s", 0.0, 4_780.0),
    ]
    quiet = diagnose(busy, [], SHOP, end())
    assert quiet.ranked == ()
    assert {c.service for c in quiet.set_aside} == {"web", "postgres"}
    # Its connections piling up as well is a change that names a fault: a lead again.
    piling = [*busy, flat("postgres", "connections", 5.0, 60.0)]
    assert diagnose(piling, [], SHOP, end()).ranked[0].service == "postgres"


def test_slowdowns_within_what_the_hosts_cpu_queue_explains_are_no_incident() -> None:
    slower = [
        flat("api", 'prom:http_request_duration_seconds{route="/health"}:p50', 0.009, 0.025),
        flat("api", "prom:db_query_duration_seconds:p95", 0.0094, 0.03),
        flat("api", "cpu_percent", 3.0),
    ]
    queued = [flat("host", "load1", 20.0), flat("host", "cpu_count", 2.0)]
    quiet = diagnose([*slower, *queued], [], SHOP, end())
    assert quiet.ranked == () and [c.service for c in quiet.set_aside] == ["api"]
    # No queue (load 1.5 per CPU), or a database 150 times slower: a lead.
    calm = [flat("host", "load1", 3.0), flat("host", "cpu_count", 2.0)]
    assert diagnose([*slower, *calm], [], SHOP, end()).ranked[0].service == "api"
    sleeping = [flat("api", "prom:db_query_duration_seconds:p50", 0.0025, 0.375), *slower[2:]]
    assert diagnose([*sleeping, *queued], [], SHOP, end()).ranked[0].service == "api"
    # Nor is a queue an answer when someone reported an incident at that time.
    hinted = diagnose([*slower, *queued], [], SHOP, end(), hint_s=T0 + STEP * AT)
    assert hinted.ranked[0].service == "api"


def test_slowdowns_of_a_service_the_busy_host_kept_waiting_for_a_cpu_are_no_incident() -> None:
    """Live, as the rest of the test suite started beside the demo shop: the api's
    database queries' p99 went from 7 to 18 ms and /items' from 5 to 21 ms with no
    fault anywhere, while its threads waited four times longer for a CPU per
    timeslice (0.14 -> 0.55 ms)."""
    slower = [
        flat("api", "prom:db_query_duration_seconds:p99", 0.00745, 0.0175),
        flat("api", 'prom:http_request_duration_seconds{route="/items"}:p99', 0.005, 0.0207),
        flat("api", "cpu_percent", 3.0),
    ]
    starved = flat("api", "sched_wait_ms", 0.14, 0.55)
    quiet = diagnose([*slower, starved], [], SHOP, end())
    assert quiet.ranked == () and [c.service for c in quiet.set_aside] == ["api"]
    assert quiet.set_aside_why is SetAside.STARVED
    # Its wait for a CPU as it was: the same slowdown is the service's own, a lead.
    unmoved = flat("api", "sched_wait_ms", 0.14)
    assert diagnose([*slower, unmoved], [], SHOP, end()).ranked[0].service == "api"
    # Queries 50 times slower are more than any wait for a CPU makes them.
    stuck = [flat("api", "prom:db_query_duration_seconds:p99", 0.00745, 0.4), *slower[1:]]
    assert diagnose([*stuck, starved], [], SHOP, end()).ranked[0].service == "api"
    # Nor is the wait an answer when someone reported an incident at that time.
    hinted = diagnose([*slower, starved], [], SHOP, end(), hint_s=T0 + STEP * AT)
    assert hinted.ranked[0].service == "api"


def test_a_slowdown_elsewhere_stays_a_lead_when_only_one_service_waited_for_a_cpu() -> None:
    observed = [
        flat("api", "prom:db_query_duration_seconds:p99", 0.00745, 0.0175),
        flat("web", 'prom:http_request_duration_seconds{route="/health"}:p95', 0.02, 0.05),
        flat("api", "sched_wait_ms", 0.14, 0.55),
        flat("web", "sched_wait_ms", 0.14),
    ]
    d = diagnose(observed, [], SHOP, end())
    assert d.ranked and d.set_aside == ()


def test_a_rise_of_a_services_wait_for_a_cpu_alone_is_never_a_root_cause() -> None:
    assert metric_class("sched_wait_ms") is MetricClass.OTHER  # neither CPU nor latency
    observed = [
        flat("api", "sched_wait_ms", 0.05, 8.0),
        flat("api", "cpu_percent", 3.0),
        flat("api", "prom:db_query_duration_seconds:p99", 0.01),
    ]
    assert diagnose(observed, [], SHOP, end()).ranked == ()
    # Asked about the api itself, it is no evidence of a fault of the api's.
    asked = diagnose(observed, [], SHOP, end(), symptom_service="api")
    assert all(a.metric != "sched_wait_ms" for c in asked.ranked for a in c.anomalies)
    assert not asked.clear
    # With its CPU use rising as well, the CPU is the lead, not the wait.
    burning = [*observed[:1], flat("api", "cpu_percent", 3.0, 95.0), *observed[2:]]
    top = diagnose(burning, [], SHOP, end()).ranked[0]
    assert [a.metric for a in top.anomalies] == ["cpu_percent"]
    assert fault_kind(top) is FaultKind.CPU_SATURATION


def test_a_caller_that_restarts_drops_its_own_connections_which_says_nothing_of_its_peer() -> None:
    observed = [
        flat("api", 'prom:http_requests_total{code="500"}:rate', 0.0, 4.0),
        flat("postgres", "write_bytes_per_s", 100.0, 3000.0),
    ]
    lost = event("api", "dependency_lost", AT, peer="127.0.0.1:5432")
    redeployed = [event("api", "exit", AT), lost, event("api", "deploy", AT + 1)]
    ranked = diagnose(observed, name_peers(redeployed, ENDPOINTS), SHOP, end()).ranked
    assert next(c for c in ranked if c.service == "postgres").lost_by == ()
    # Lost while api itself ran on: that is evidence about postgres.
    ranked = diagnose(observed, name_peers([lost], ENDPOINTS), SHOP, end()).ranked
    assert next(c for c in ranked if c.service == "postgres").lost_by != ()


def test_a_burst_of_disk_writes_alone_is_activity_not_an_incident_when_nobody_asked() -> None:
    observed = [flat("postgres", "write_bytes_per_s", 0.0, 683.0), flat("api", "cpu_percent", 3.0)]
    quiet = diagnose(observed, [], SHOP, end())
    assert quiet.ranked == ()
    assert [c.service for c in quiet.set_aside] == ["postgres"]
    # Asked about an incident at that time, the writes are still a lead.
    assert diagnose(observed, [], SHOP, end(), hint_s=T0 + STEP * AT).ranked[0].service == (
        "postgres"
    )


def growing(service: str, metric: str, start: float, per_step: float) -> Series:
    values = np.full(N, start)
    values[AT:] = start + per_step * np.arange(1, N - AT + 1)
    return Series(service, metric, T0 + STEP * np.arange(N), values)


def postgres_busier() -> list[Series]:
    """PostgreSQL's disk and scheduler counters stir from all-zero references: a
    checkpoint, or the work of the backends a caller opened."""
    return [
        flat("postgres", "write_bytes_per_s", 0.0, 35_500.0),
        flat("postgres", "read_bytes_per_s", 0.0, 1_365.0),
        flat("postgres", "ctx_switches_per_s", 1.3, 4.7),
    ]


def test_a_dependencys_disk_activity_does_not_make_a_caller_burning_cpu_its_victim() -> None:
    observed = [
        flat("api", "cpu_percent", 1.5, 46.0),
        flat("api", 'prom:http_request_duration_seconds{route="/items"}:p50', 0.003, 0.029),
        flat("web", 'prom:http_request_duration_seconds{route="/product"}:p50', 0.004, 0.05),
        *postgres_busier(),
    ]
    top = diagnose(observed, [], SHOP, end()).ranked[0]
    assert (top.service, top.anomalous_dependencies) == ("api", ())
    assert fault_kind(top) is FaultKind.CPU_SATURATION


def test_a_caller_leaking_connections_is_the_cause_of_its_databases_extra_work() -> None:
    observed = [
        growing("api", "fds", 20.0, 2.0),
        growing("api", "connections_out", 4.0, 2.0),
        flat("api", "cpu_percent", 3.0),
        *postgres_busier(),
    ]
    ranked = diagnose(observed, [], SHOP, end()).ranked
    assert ranked[0].service == "api"
    assert fault_kind(ranked[0]) is FaultKind.RESOURCE_EXHAUSTION
    postgres = next(c for c in ranked if c.service == "postgres")
    assert postgres.explained == ()
