"""The judge of Coral's answer against a scenario's ground truth (pure)."""

from __future__ import annotations

from typing import Any

from coral_mcp.demo.scenarios import SCENARIOS, judge


def _hypothesis(service: str, kind: str, confidence: float, *evidence: str) -> dict[str, Any]:
    return {
        "service": service,
        "kind": kind,
        "confidence": confidence,
        "evidence": [
            {"source": e.split(":", 1)[0], "description": e.split(":", 1)[1]} for e in evidence
        ],
    }


def _result(*hypotheses: dict[str, Any]) -> dict[str, Any]:
    outcome = "hypotheses" if hypotheses else "no_significant_anomaly"
    return {"outcome": outcome, "hypotheses": list(hypotheses)}


def test_a_top_hypothesis_with_the_true_service_kind_and_change_is_right() -> None:
    verdict = judge(
        SCENARIOS["bad_deploy"],
        _result(
            _hypothesis("api", "bad_deploy", 0.8, "deploy:new version 1.5.0 (was 1.4.2)"),
            _hypothesis("web", "error_spike", 0.2, "http_requests_total:rate up"),
        ),
    )
    assert verdict.correct and verdict.rank == 1 and verdict.confidence == 0.8
    assert verdict.top == ("api: bad_deploy (0.80)", "web: error_spike (0.20)")


def test_the_true_cause_below_the_top_is_wrong_but_keeps_its_rank() -> None:
    verdict = judge(
        SCENARIOS["latency"],
        _result(
            _hypothesis("host", "latency", 1.0, "tcp_active_opens_per_s:spike"),
            _hypothesis("postgres", "latency", 0.4, "db_query_duration_seconds:level_shift"),
        ),
    )
    assert not verdict.correct and verdict.rank == 2
    assert verdict.reason == "top hypothesis is host: latency (1.00)"


def test_the_right_service_with_the_wrong_fault_kind_is_wrong() -> None:
    verdict = judge(
        SCENARIOS["crash_loop"],
        _result(_hypothesis("api", "bad_deploy", 0.9, "deploy:command line changed")),
    )
    assert not verdict.correct and verdict.rank is None


def test_a_right_name_without_the_injected_change_in_its_evidence_is_wrong() -> None:
    verdict = judge(
        SCENARIOS["memory_leak"],
        _result(_hypothesis("api", "memory_leak", 0.9, "rss_bytes:trend: grows 1 MB/s")),
    )
    assert not verdict.correct and verdict.rank == 1
    assert "injected change" in verdict.reason


def test_a_connection_leak_is_resource_exhaustion_in_corals_words() -> None:
    verdict = judge(
        SCENARIOS["connection_leak"],
        _result(_hypothesis("api", "resource_exhaustion", 0.7, "fds:trend: 14 -> 60")),
    )
    assert verdict.correct


def test_with_no_fault_only_no_significant_anomaly_is_right() -> None:
    assert judge(None, _result()).correct
    noisy = judge(None, _result(_hypothesis("host", "latency", 1.0, "net_recv:spike")))
    assert not noisy.correct and "no fault was injected" in noisy.reason


def test_no_answer_at_all_for_a_real_fault_is_wrong() -> None:
    verdict = judge(SCENARIOS["dependency_down"], _result())
    assert not verdict.correct and verdict.reason == "Coral saw no significant anomaly"
