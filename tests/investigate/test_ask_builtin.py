"""`coral ask` with the builtin provider against a real colony loaded with recorded cases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from coral_mcp.cli.main import coral
from coral_mcp.investigate.builtin import classify
from scripts.gen_scenarios import KINDS, generate
from tests.investigate.ask_colony import loaded_colony


def ask(*args: str, config: Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(coral, ["ask", *args], env={"CORAL_CONFIG": str(config)})
    return result.exit_code, result.stdout, result.stderr


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
