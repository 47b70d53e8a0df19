"""`coral investigate --replay` and `coral eval`: output, scores, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from coral_mcp.cli.main import coral
from scripts.gen_scenarios import generate
from tests.intelligence import cases


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(coral, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_investigate_prints_ranked_hypotheses_with_evidence(tmp_path: Path) -> None:
    code, out, _ = run("investigate", "--replay", str(cases.bad_deploy(tmp_path)))
    assert code == 0
    assert "1. api: bad_deploy" in out
    assert "-> roll back api from 2.3.0 to 2.2.5" in out


def test_investigate_json_is_the_recorded_document(tmp_path: Path) -> None:
    code, out, _ = run("investigate", "--replay", str(cases.latency(tmp_path)), "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["outcome"] == "hypotheses"
    assert doc["hypotheses"][0]["service"] == "db"
    assert 0 < doc["hypotheses"][0]["confidence"] <= 1


def test_the_scenario_library_meets_its_accuracy_targets(tmp_path: Path) -> None:
    made = generate(tmp_path)
    assert len(made) >= 40
    code, out, _ = run("eval", str(tmp_path), "--json", "--compare")
    assert code == 0, out
    doc = json.loads(out)
    assert doc["overall"]["cases"] >= 40
    assert set(doc["references"]) == {"baro", "traversal"}
    labelled = [c for c in doc["cases"] if c["label"]]
    assert all(set(c["reference_ranks"]) == {"baro", "traversal"} for c in labelled)
    assert doc["ece"] <= 0.1
    assert doc["overall"]["ac1"] >= 0.9
    assert doc["overall"]["ac3"] >= 0.98
    assert doc["overall"]["kind_ac1"] >= 0.9
    assert doc["no_fault"]["right"] == doc["no_fault"]["cases"] > 0
    kinds = set(doc["by_kind"])
    assert {
        "memory_leak",
        "crash_loop",
        "dependency_down",
        "cpu_saturation",
        "latency",
        "bad_deploy",
        "resource_exhaustion",
    } <= kinds


def test_eval_text_has_a_table_per_dataset_beside_the_references_and_lists_misses(
    tmp_path: Path,
) -> None:
    cases.latency(tmp_path / "one")
    cases.cpu_saturation(tmp_path / "one")
    wrong = cases.latency(tmp_path / "two")
    doc = json.loads((wrong / "case.json").read_text())
    doc["root_cause"]["service"] = "batch"  # a label Coral cannot agree with
    (wrong / "case.json").write_text(json.dumps(doc))
    code, out, _ = run("eval", str(tmp_path), "--compare")
    assert code == 0, out
    assert "dataset one (2 cases)" in out and "dataset two (1 cases)" in out
    assert "baro AC@1" in out and "traversal AC@1" in out
    assert "expected calibration error" in out
    assert "cases Coral got wrong (1):" in out
    assert "two/latency: Coral said db latency" in out and "truth batch (latency)" in out


def one_error(tmp_path: Path, *args: str) -> str:
    code, out, err = run(*args)
    assert code != 0
    lines = [line for line in (out + err).splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1, out + err
    assert "Traceback" not in out + err
    return lines[0]


def test_a_case_without_metrics_csv_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    line = one_error(tmp_path, "investigate", "--replay", str(tmp_path / "empty"))
    assert "metrics.csv: no such file" in line


@pytest.mark.parametrize(
    ("row", "says"),
    [
        ("1767225600,api,cpu_percent", "metrics.csv:3: expected 4 fields"),
        ("yesterday,api,cpu_percent,1.0", "metrics.csv:3: bad timestamp 'yesterday'"),
        ("1767225600,api,cpu_percent,lots", "metrics.csv:3: could not convert string"),
    ],
)
def test_a_malformed_row_names_the_file_and_line(tmp_path: Path, row: str, says: str) -> None:
    case = tmp_path / "bad"
    case.mkdir()
    good = "1767225540,api,cpu_percent,1.0"
    (case / "metrics.csv").write_text(f"timestamp,service,metric,value\n{good}\n{row}\n")
    assert says in one_error(tmp_path, "investigate", "--replay", str(case))


def test_eval_of_a_directory_without_cases_is_one_clear_error(tmp_path: Path) -> None:
    assert "no cases" in one_error(tmp_path, "eval", str(tmp_path))
