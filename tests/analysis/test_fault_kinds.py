"""Each fault-kind rule (docs/intelligence.md), on a candidate built from its evidence."""

from __future__ import annotations

from coral_mcp.analysis.detect import MetricAnomaly
from coral_mcp.analysis.hypotheses import fault_kind, to_hypothesis
from coral_mcp.analysis.metric_names import is_dependency_latency
from coral_mcp.analysis.ranking import Candidate
from coral_mcp.models import Event, Severity
from coral_mcp.models.intelligence import FaultKind

T0 = 1_767_225_600.0


def up(metric: str, kind: str = "level_shift", slope: float | None = None) -> MetricAnomaly:
    return MetricAnomaly("api", metric, kind, T0, T0 + 60, 12.0, 2.0, 1.0, 1, slope)


def ev(kind: str, dt_s: float = 0.0, **attrs: str) -> Event:
    return Event(int((T0 + dt_s) * 1000), "api", kind, Severity.WARNING, kind, tuple(attrs.items()))


def candidate(
    anomalies: tuple[MetricAnomaly, ...] = (),
    events: tuple[Event, ...] = (),
    faults: tuple[Event, ...] = (),
    lost_by: tuple[Event, ...] = (),
) -> Candidate:
    return Candidate("api", 5.0, T0, anomalies, events, (), (), (), lost_by, 0.9, faults=faults)


def test_one_sigkill_is_a_crash_not_a_crash_loop() -> None:
    killed = ev("crash", signal="SIGKILL")
    c = candidate(events=(killed, ev("restart", 5)), faults=(killed, ev("restart", 5)))
    assert fault_kind(c) is FaultKind.CRASH


def test_two_crashes_are_a_crash_loop_even_after_the_onset() -> None:
    first, second = ev("crash"), ev("crash", 240)
    assert fault_kind(candidate(events=(first,), faults=(first, second))) is FaultKind.CRASH_LOOP


def test_a_restart_with_a_new_version_is_a_deploy() -> None:
    deploy = ev("deploy", 2, changed="command line", version="2.0", previous_version="1.9")
    events = (ev("exit"), ev("restart", 2), deploy)
    c = candidate(anomalies=(up("error_rate"),), events=events, faults=events[:2])
    assert fault_kind(c) is FaultKind.BAD_DEPLOY
    assert to_hypothesis(c).recommendation == "roll back api from 2.0 to 1.9"


def test_memory_growth_after_a_deploy_is_a_leak_in_that_version() -> None:
    deploy = ev("deploy", -300, version="2.0", previous_version="1.9")
    c = candidate(anomalies=(up("rss_bytes", "trend", 1e5),), events=(deploy,))
    assert fault_kind(c) is FaultKind.MEMORY_LEAK
    assert "deploy of api 2.0: roll it back" in to_hypothesis(c).recommendation


def test_a_cpu_level_shift_in_one_process_is_cpu_saturation() -> None:
    assert fault_kind(candidate(anomalies=(up("cpu_percent"),))) is FaultKind.CPU_SATURATION


def test_a_service_that_stopped_reporting_or_was_lost_by_callers_is_down() -> None:
    stopped = MetricAnomaly("api", "cpu_percent", "stopped", T0, T0, 20.0, 0.0, 9.0, -1)
    assert fault_kind(candidate(anomalies=(stopped,))) is FaultKind.DEPENDENCY_DOWN
    lost = Event(int(T0 * 1000), "web", "dependency_lost", Severity.WARNING, "peer=api", ())
    assert fault_kind(candidate(lost_by=(lost,))) is FaultKind.DEPENDENCY_DOWN


def test_file_descriptors_climbing_are_resource_exhaustion() -> None:
    assert fault_kind(candidate(anomalies=(up("fds"),))) is FaultKind.RESOURCE_EXHAUSTION


def test_more_connections_in_with_slower_answers_is_latency_not_exhaustion() -> None:
    """A Redis paused for 300 ms at a time (live): its callers hold three times the
    connections open, in one step with the wait they measure on it."""
    waited = up("wait_ms<-api")
    c = candidate(anomalies=(up("connections_in"), up("fds"), waited))
    assert fault_kind(c) is FaultKind.LATENCY
    # without the slower answers, or growing steadily, or leaked outbound: exhaustion
    assert fault_kind(candidate(anomalies=(up("connections_in"), up("fds")))) is (
        FaultKind.RESOURCE_EXHAUSTION
    )
    growing = (up("connections_in", "trend", 60.0), up("fds"), waited)
    assert fault_kind(candidate(anomalies=growing)) is FaultKind.RESOURCE_EXHAUSTION
    leaked = (up("connections_out"), up("fds"), up("http_duration_seconds:p99"))
    assert fault_kind(candidate(anomalies=leaked)) is FaultKind.RESOURCE_EXHAUSTION


def test_a_stuck_service_failing_its_health_check_is_down_not_exhausted() -> None:
    """A web process stopped (SIGSTOP, live): its health check times out and the
    connections its callers gave up on stay in CLOSE_WAIT."""
    anomalies = (up("connections_close_wait"), up("health_latency_ms"))
    c = candidate(anomalies=anomalies, events=(ev("health_flip"),))
    assert fault_kind(c) is FaultKind.DEPENDENCY_DOWN


def test_exhaustion_advice_names_the_resource_not_a_stronger_slow_route() -> None:
    slow = MetricAnomaly("api", "http_duration_seconds:p99", "spike", T0, T0, 19.7, 0.02, 0.0, 1)
    advice = to_hypothesis(candidate(anomalies=(up("connections_out"), slow))).recommendation
    assert advice == "raise the connections_out limit of api or find what holds it open"


def test_errors_without_latency_or_an_errors_symptom_are_an_error_spike() -> None:
    assert fault_kind(candidate(anomalies=(up("error_rate"),))) is FaultKind.ERROR_SPIKE
    quiet_root = candidate(anomalies=(up("memory_mib"),))
    assert fault_kind(quiet_root, "entry_error_rate_pct") is FaultKind.ERROR_SPIKE
    assert fault_kind(quiet_root, "latency") is FaultKind.LATENCY


def test_latency_alone_is_latency() -> None:
    assert fault_kind(candidate(anomalies=(up("latency_ms"),))) is FaultKind.LATENCY


def test_latency_of_outgoing_calls_is_evidence_about_the_callees() -> None:
    for name in ("client_latency_p90_s", "tcp_wait_ms", "tcp_rtt_ms@10.0.0.5:5432"):
        assert is_dependency_latency(name), name
    for name in ("latency_ms", "server_latency_p90_s", "cpu_percent"):
        assert not is_dependency_latency(name), name


def test_the_evidence_a_fault_kind_rests_on_comes_first() -> None:
    slower = MetricAnomaly("api", "wait_ms<-web", "spike", T0, T0 + 60, 9e7, 80.0, 0.0, 1)
    burn = up("cpu_percent")
    hypothesis = to_hypothesis(candidate(anomalies=(slower, burn)))
    assert hypothesis.kind is FaultKind.CPU_SATURATION
    assert hypothesis.evidence[0].source == "cpu_percent"


def test_a_cpu_burn_that_fails_the_health_check_is_cpu_saturation_not_down() -> None:
    flip = ev("health_flip")
    c = candidate(anomalies=(up("cpu_percent"),), events=(flip,), faults=(flip,))
    assert fault_kind(c) is FaultKind.CPU_SATURATION
    # Named with its CPU first: the failed health check is what the burn did.
    assert [e.source for e in to_hypothesis(c).evidence[:2]] == ["cpu_percent", "health_flip"]
    assert fault_kind(candidate(events=(flip,), faults=(flip,))) is FaultKind.DEPENDENCY_DOWN
