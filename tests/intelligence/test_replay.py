"""Replay of hand-checkable cases: each fault kind is found, in the right service."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from coral_mcp.intelligence.replay import CaseError, load_case, replay
from coral_mcp.models.intelligence import FaultKind, InvestigationResult, Outcome
from tests.intelligence import cases


def investigate(case_dir: Path, tmp_path: Path) -> InvestigationResult:
    store_dir = tmp_path / "store"
    store_dir.mkdir()
    return asyncio.run(replay(load_case(case_dir), store_dir))


@pytest.mark.parametrize("kind", sorted(cases.FAULTS))
def test_each_fault_kind_is_ranked_first_in_its_root_service(tmp_path: Path, kind: str) -> None:
    case_dir = cases.FAULTS[kind](tmp_path)
    label = load_case(case_dir).label
    assert label is not None
    result = investigate(case_dir, tmp_path)
    top = result.hypotheses[0]
    assert (top.service, top.kind) == (label.service, FaultKind(kind))
    assert top.evidence, "a hypothesis carries evidence"
    assert all(e.ts is not None for e in top.evidence)
    assert top.recommendation


def test_a_bad_deploy_recommends_rolling_back_to_the_previous_version(tmp_path: Path) -> None:
    result = investigate(cases.bad_deploy(tmp_path), tmp_path)
    assert result.hypotheses[0].recommendation == "roll back api from 2.3.0 to 2.2.5"


def test_a_memory_leak_reports_its_growth_and_time_to_the_limit(tmp_path: Path) -> None:
    result = investigate(cases.memory_leak(tmp_path), tmp_path)
    rss = [e for e in result.hypotheses[0].evidence if e.source == "rss_bytes"]
    assert rss and "grows" in rss[0].description and "reaches limit" in rss[0].description


def test_a_case_without_a_fault_says_no_significant_anomaly(tmp_path: Path) -> None:
    result = investigate(cases.no_fault(tmp_path), tmp_path)
    assert result.outcome is Outcome.NO_SIGNIFICANT_ANOMALY
    assert result.hypotheses == ()
    assert result.summary.startswith("no significant anomaly")


@pytest.mark.parametrize("offset_s", [-300, -60, 60, 300, None])
def test_a_wrong_or_missing_incident_time_does_not_change_the_answer(
    tmp_path: Path, offset_s: int | None
) -> None:
    s = cases.normal()
    s[("db", "latency_ms")][cases.FAULT_AT :] *= 4
    cases.slower_callers(s, "db")
    given = None if offset_s is None else cases.at(cases.FAULT_AT) + offset_s
    case_dir = cases.write_case(tmp_path, "off", s, label=("db", "latency"), incident_time=given)
    assert investigate(case_dir, tmp_path).hypotheses[0].service == "db"


def test_rfc3339_timestamps_read_like_epoch_seconds(tmp_path: Path) -> None:
    case_dir = cases.latency(tmp_path)
    metrics = case_dir / "metrics.csv"
    lines = metrics.read_text().splitlines()

    def rfc(line: str) -> str:
        ts, rest = line.split(",", 1)
        return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%dT%H:%M:%SZ") + "," + rest

    metrics.write_text("\n".join([lines[0], *map(rfc, lines[1:])]) + "\n")
    epoch = load_case(cases.latency(tmp_path / "b"))
    assert load_case(case_dir).metrics == epoch.metrics


def with_symptom(case_dir: Path, symptom: dict[str, str]) -> Path:
    doc_path = case_dir / "case.json"
    doc = json.loads(doc_path.read_text())
    doc["symptom"] = symptom
    doc_path.write_text(json.dumps(doc))
    return case_dir


def test_the_case_symptom_is_explained_from_its_service(tmp_path: Path) -> None:
    # An unrelated batch job burns CPU at the same time: the symptom on web says the
    # answer is below web (db), and batch is not among web's dependencies.
    s = cases.normal()
    s[("db", "latency_ms")][cases.FAULT_AT :] *= 4
    s[("batch", "cpu_percent")][cases.FAULT_AT :] = 95.0
    cases.slower_callers(s, "db")
    case_dir = cases.write_case(tmp_path, "symptom", s, label=("db", "latency"))
    result = investigate(with_symptom(case_dir, {"service": "web", "metric": "latency"}), tmp_path)
    assert result.service == "web"
    assert result.hypotheses[0].service == "db"
    assert "symptom web latency" in result.summary
    batch = next(h for h in result.hypotheses if h.service == "batch")
    assert any(
        "not among the symptom's dependencies" in e.description for e in batch.counter_evidence
    )


def test_a_symptom_on_an_unknown_service_says_so_with_the_closest_names(tmp_path: Path) -> None:
    case_dir = with_symptom(cases.latency(tmp_path), {"service": "dbb"})
    result = investigate(case_dir, tmp_path)
    assert result.outcome is Outcome.UNKNOWN_SERVICE
    assert result.hypotheses == ()
    assert "unknown service 'dbb'" in result.summary and "closest: db" in result.summary


def test_a_malformed_symptom_is_one_clear_error(tmp_path: Path) -> None:
    case_dir = with_symptom(cases.latency(tmp_path), {"service": 7})  # type: ignore[dict-item]
    with pytest.raises(CaseError, match=r"case\.json"):
        load_case(case_dir)
