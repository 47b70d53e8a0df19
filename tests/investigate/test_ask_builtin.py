"""`coral ask` with the builtin provider against a real colony loaded with recorded cases."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from coral_mcp.cli.main import coral
from coral_mcp.investigate.builtin import classify
from scripts.gen_scenarios import KINDS, generate
from tests.intelligence import cases
from tests.investigate.ask_colony import Loaded, loaded_colony


def ask(*args: str, config: Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(coral, ["ask", *args], env={"CORAL_CONFIG": str(config)})
    return result.exit_code, result.stdout, result.stderr


# One worker runs this module: its module fixture is made once.
pytestmark = pytest.mark.xdist_group("ask-builtin")


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("scenarios")
    generate(out)
    return out


@pytest.mark.parametrize("kind", KINDS)
def test_what_happened_names_the_root_service_first_for_each_fault_kind(
    tmp_path: Path, library: Path, kind: str
) -> None:
    case = library / f"chain-{kind}-0"
    root = json.loads((case / "case.json").read_text())["root_cause"]["service"]
    with loaded_colony(case, tmp_path / "colony") as colony:
        code, out, err = ask(
            "what happened?", "--json", "--colony", colony.url, "--since", colony.since,
            config=tmp_path / "none.toml",
        )  # fmt: skip
    assert code == 0, err
    record = json.loads(out)
    assert record["provider"] == "builtin" and record["intent"] == "incident"
    assert record["hypotheses"][0]["service"] == root
    assert record["answer"].startswith(f"Most likely: {root},")
    assert record["stored"] == f"coral://investigations/{record['id']}"


@pytest.mark.parametrize(
    ("question", "intent"),
    [
        ("what happened in the last hour?", "incident"),
        ("why is api slow?", "incident"),
        ("api is failing", "incident"),
        ("what changed since yesterday's deploy?", "changes"),
        ("any restarts?", "changes"),
        ("compare now with before", "compare"),
        ("what is running?", "services"),
        ("show me the topology", "topology"),
        ("hello", "overview"),
    ],
)
def test_questions_map_to_the_tools_that_answer_them(question: str, intent: str) -> None:
    assert classify(question) == intent


@pytest.mark.parametrize(
    ("question", "intent"),
    [("is db healthy?", "health"), ("how is db", "health"), ("what depends on db?", "depends")],
)
def test_questions_about_one_service_map_to_its_detail(question: str, intent: str) -> None:
    assert classify(question, focused=True) == intent


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    """api was deployed (2.2.5 -> 2.3.0) and its errors rose; web, its caller, followed."""
    tmp = tmp_path_factory.mktemp("ask-deploy")
    with loaded_colony(cases.bad_deploy(tmp / "cases"), tmp / "colony", baselines=True) as loaded:
        yield loaded


def ask_deployed(deployed: Loaded, tmp_path: Path, question: str) -> tuple[str, str]:
    code, out, err = ask(
        question, "--colony", deployed.url, "--since", deployed.since,
        config=tmp_path / "none.toml",
    )  # fmt: skip
    assert code == 0, err
    return out, err


def test_why_is_x_failing_answers_first_then_confidence_evidence_and_recommendation(
    deployed: Loaded, tmp_path: Path
) -> None:
    out, _ = ask_deployed(deployed, tmp_path, "why is api failing?")
    first, *rest = out.splitlines()
    assert re.fullmatch(r"Most likely: api, bad deploy \(confidence [01]\.\d\d\)\.", first)
    text = "\n".join(rest)
    # each piece of evidence: its time, then what was seen, with values against normal;
    # the change before the onset (the deploy) leads, then what the fault kind rests on
    assert re.search(
        r"evidence: \d\d:\d\dZ version=2\.3\.0 previous_version=2\.2\.5;"
        r" \d\d:\d\dZ level_shift: error_rate [\d.]+ vs normal",
        text,
    )
    assert (
        "recommendation: roll back api from 2.3.0 to 2.2.5 (not done: Coral only observes)" in text
    )
    assert re.search(r"What changed \(newest first\):\n  \d\d:\d\d:\d\dZ api deploy", text)


def test_what_changed_lists_the_deploy_with_its_time_and_versions(
    deployed: Loaded, tmp_path: Path
) -> None:
    out, err = ask_deployed(deployed, tmp_path, "what changed?")
    assert out.startswith("1 changes between ")
    assert re.search(r"\n  2026-01-01T\S+ api deploy: .*2\.3\.0", out)
    assert "--since applies" not in err  # the range was the one asked for


def test_compare_with_before_puts_each_metric_beside_its_normal(
    deployed: Loaded, tmp_path: Path
) -> None:
    out, err = ask_deployed(deployed, tmp_path, "compare api with before")
    assert re.match(r"api: [1-9]\d* of \d+ metrics are outside their normal range\.", out)
    assert re.search(
        r"\n  error_rate +now +[\d.]+ +normal +[\d.]+ +\(\+[\d.]+ sigma\)  <- abnormal", out
    )
    assert "note: --since applies" in err  # one service against its normal is now


def test_what_depends_on_x_names_its_callers_and_callees(deployed: Loaded, tmp_path: Path) -> None:
    out, _ = ask_deployed(deployed, tmp_path, "what depends on api?")
    assert out.splitlines()[:2] == ["web depends on api.", "api depends on db."]
