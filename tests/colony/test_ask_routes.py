"""Where `coral ask` keeps its conversations: REST in, MCP resource out, input bounded."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from click.testing import CliRunner

from coral_mcp.cli.main import coral
from tests.intelligence import cases
from tests.investigate.ask_colony import Loaded, loaded_colony
from tests.investigate.test_ask_llm import read_resource

# One worker runs this module: its module fixture is made once.
pytestmark = pytest.mark.xdist_group("ask-routes")


@pytest.fixture(scope="module")
def colony(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    tmp = tmp_path_factory.mktemp("ask-routes")
    with loaded_colony(cases.latency(tmp / "cases"), tmp / "colony") as loaded:
        yield loaded


def ask_json(colony: Loaded, tmp: Path, *args: str) -> dict[str, object]:
    env = {"CORAL_CONFIG": str(tmp / "none.toml")}
    result = CliRunner().invoke(
        coral, ["ask", *args, "--json", "--colony", colony.url, "--since", colony.since], env=env
    )
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def test_a_builtin_answer_is_stored_and_readable_as_an_investigation_resource(
    colony: Loaded, tmp_path: Path
) -> None:
    record = ask_json(colony, tmp_path, "what happened?")
    stored = read_resource(colony, f"coral://investigations/{record['id']}")
    assert stored["question"] == "what happened?" and stored["provider"] == "builtin"
    assert stored["answer"] == record["answer"]
    assert stored["investigation_id"] == record["investigation_id"]
    # The colony's own investigation behind it is readable too.
    inner = read_resource(colony, f"coral://investigations/{record['investigation_id']}")
    assert inner["hypotheses"][0]["service"] == "db"


def test_continue_without_any_earlier_question_is_one_clear_error(tmp_path: Path) -> None:
    with loaded_colony(cases.latency(tmp_path / "cases"), tmp_path / "colony") as fresh:
        result = CliRunner().invoke(
            coral,
            ["ask", "and then?", "--continue", "--colony", fresh.url],
            env={"CORAL_CONFIG": str(tmp_path / "none.toml")},
        )
    assert result.exit_code == 1
    assert "Error: no conversation yet" in result.stderr


def test_a_builtin_follow_up_keeps_the_service_of_the_previous_answer(
    colony: Loaded, tmp_path: Path
) -> None:
    first = ask_json(colony, tmp_path, "what happened?")
    assert first["focus"] == "db"
    second = ask_json(colony, tmp_path, "what depends on it?", "--continue")
    assert second["parent"] == first["id"] and second["intent"] == "depends"
    assert second["answer"].startswith("api depends on db.")


def post(colony: Loaded, body: bytes) -> httpx2.Response:
    return httpx2.post(
        colony.url + "/api/v1/asks",
        content=body,
        headers={"content-type": "application/json"},
        timeout=10,
    )


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"id": "../../etc"}, "id: String should match pattern"),
        ({"provider": "mystery"}, "provider: Input should be"),
        ({"question": "x" * 9000}, "question: String should have at most 8000"),
        ({"api_key": "sk-1"}, "api_key: Extra inputs are not permitted"),
    ],
)
def test_a_malformed_conversation_is_refused_with_a_reason(
    colony: Loaded, tmp_path: Path, change: dict[str, object], says: str
) -> None:
    record = ask_json(colony, tmp_path, "what is running?")
    for key in ("stored", "notes", "tools"):
        record.pop(key)
    record["id"] = "ask-00000000000000aa"
    response = post(colony, json.dumps(record | change).encode())
    assert response.status_code == 400
    assert says in response.json()["error"]


def test_an_oversized_or_non_json_body_is_refused(colony: Loaded) -> None:
    assert post(colony, b"x" * (1024 * 1024 + 1)).status_code == 413
    assert post(colony, b"not json").json()["error"] == "body: not JSON"


def test_the_same_conversation_is_stored_once(colony: Loaded, tmp_path: Path) -> None:
    record = ask_json(colony, tmp_path, "what is running?")
    for key in ("stored", "notes", "tools"):
        record.pop(key)
    assert post(colony, json.dumps(record).encode()).status_code == 409


@pytest.mark.parametrize(
    ("question", "starts"),
    [
        ("is db healthy?", "db is not healthy: up.\n  since 2026-01-01T01:00:00Z: latency_ms"),
        ("is batch healthy?", "batch is healthy: up."),
        ("what changed?", "No deploys, restarts or crashes between"),
        ("what is running?", "4 services (4 up):"),
    ],
)
def test_builtin_answers_put_the_answer_first(
    colony: Loaded, tmp_path: Path, question: str, starts: str
) -> None:
    assert str(ask_json(colony, tmp_path, question)["answer"]).startswith(starts)
