"""`coral ask --provider anthropic|openai`: the real SDKs against fake API servers that
speak the real wire formats, a real colony loaded with a case (db's latency rose; api and
web followed), and a real external MCP server process."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mcp
import pytest
from click.testing import CliRunner
from mcp_types import TextResourceContents

from coral_mcp.cli.main import coral
from coral_mcp.investigate.ask_settings import LOCAL_KEY
from tests.conftest import child_env, coral_cmd
from tests.fakes.llm_servers import (
    Call,
    Fail,
    FakeAnthropic,
    FakeLLM,
    FakeOpenAI,
    RawCall,
    Say,
    Stall,
)
from tests.intelligence import cases
from tests.investigate.ask_colony import Loaded, loaded_colony

ISSUES_SERVER = Path(__file__).parent.parent / "data" / "issues_mcp_server.py"
FAKES: dict[str, type[FakeLLM]] = {"anthropic": FakeAnthropic, "openai": FakeOpenAI}
KEY_ENV = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY"}
FAST = "backoff_s = 0.01\ncall_timeout_s = 5\n"


# One worker runs this module: its module fixture is made once.
pytestmark = pytest.mark.xdist_group("ask-llm")


@pytest.fixture(scope="module")
def colony(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    tmp = tmp_path_factory.mktemp("ask-llm")
    with loaded_colony(cases.latency(tmp / "cases"), tmp / "colony") as loaded:
        yield loaded


def ask(
    colony: Loaded,
    fake: FakeLLM,
    provider: str,
    tmp: Path,
    *args: str,
    config: str = FAST,
) -> tuple[int, str, str]:
    path = tmp / "config.toml"
    path.write_text(f"[ask]\n{config}")
    path.chmod(0o600)
    env = {"CORAL_CONFIG": str(path), KEY_ENV[provider]: fake.key}
    result = CliRunner().invoke(
        coral,
        [
            "ask", *args, "--provider", provider, "--base-url", fake.base_url,
            "--colony", colony.url, "--since", colony.since,
        ],
        env=env,
    )  # fmt: skip
    return result.exit_code, result.stdout, result.stderr


def ask_json(
    colony: Loaded, fake: FakeLLM, provider: str, tmp: Path, *args: str, **kw: Any
) -> dict[str, Any]:
    code, out, err = ask(colony, fake, provider, tmp, *args, "--json", **kw)
    assert code == 0, out + err
    assert fake.key not in out + err
    return dict(json.loads(out))


def tools_run(record: dict[str, Any]) -> list[str]:
    return [s["tool"] for s in record["steps"] if not s["is_error"]]


def read_resource(colony: Loaded, uri: str) -> dict[str, Any]:
    async def read() -> dict[str, Any]:
        async with mcp.Client(colony.url + "/mcp") as client:
            result = await client.read_resource(uri)
        content = result.contents[0]
        assert isinstance(content, TextResourceContents)
        return dict(json.loads(content.text))

    return asyncio.run(read())


def first_tool_result(fake: FakeLLM) -> str:
    """The first tool result the model was shown, in either wire format."""
    messages = fake.requests[0].body["messages"]
    for m in messages:
        if m["role"] == "tool":
            return str(m["content"])
        if m["role"] == "user" and isinstance(m["content"], list):
            return str(m["content"][0]["content"])
    raise AssertionError("no tool result in the first request")


THREE_STEPS = [
    Call([("get_events", {"start": "2h", "service": "db"})], "Checking what changed on db."),
    Call([("get_service", {"name": "db"})]),
    Call([("query_metrics", {"service": "db", "metric": "latency_ms", "start": "2h"})]),
    Say("db is the root cause: its latency rose from 50 to 206 ms at 01:00Z (confidence 0.9)."),
]


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
def test_a_three_step_investigation_starts_from_coral_hypotheses_and_answers(
    colony: Loaded, tmp_path: Path, provider: str
) -> None:
    with FAKES[provider](THREE_STEPS) as fake:
        record = ask_json(colony, fake, provider, tmp_path, "why is web slow?")
    assert record["fallback"] is None
    assert record["answer"].startswith("db is the root cause")
    assert tools_run(record) == ["investigate", "get_events", "get_service", "query_metrics"]
    assert len(fake.requests) == 4 and record["usage"]["model_calls"] == 4
    seen = json.loads(first_tool_result(fake))
    assert seen["hypotheses"][0]["service"] == "db"
    last = json.dumps(fake.requests[-1].body["messages"])
    assert "latency_ms" in last and "p95" in last  # query_metrics' result reached the model
    stored = read_resource(colony, record["stored"])
    assert stored["answer"] == record["answer"]
    assert [s["tool"] for s in stored["steps"]] == [s["tool"] for s in record["steps"]]
    assert stored["hypotheses"][0]["service"] == "db"
    assert fake.key not in json.dumps(stored)


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
def test_the_answer_streams_to_the_terminal_with_progress(
    colony: Loaded, tmp_path: Path, provider: str
) -> None:
    with FAKES[provider](THREE_STEPS) as fake:
        code, out, err = ask(colony, fake, provider, tmp_path, "why is web slow?")
    assert code == 0, err
    assert "Checking what changed on db." in out
    assert "db is the root cause: its latency rose" in out
    assert "get_events(" in err and "query_metrics(" in err
    assert "--continue" in err
    assert fake.key not in out + err


def test_continue_follows_up_with_the_previous_question_and_answer(
    colony: Loaded, tmp_path: Path
) -> None:
    with FakeAnthropic([Say("db's latency rose at 01:00Z.")]) as fake:
        first = ask_json(colony, fake, "anthropic", tmp_path, "what happened to web?")
    with FakeAnthropic([Say("Look at db's slow queries first.")]) as fake:
        second = ask_json(colony, fake, "anthropic", tmp_path, "what should I do?", "--continue")
    assert second["parent"] == first["id"]
    assert second["thread"] == [{"q": "what happened to web?", "a": first["answer"]}]
    sent = fake.requests[0].body["messages"]
    assert sent[0] == {"role": "user", "content": "what happened to web?"}
    assert sent[1]["role"] == "assistant" and "db's latency rose" in json.dumps(sent[1])
    assert sent[2] == {"role": "user", "content": "what should I do?"}
    assert read_resource(colony, second["stored"])["parent"] == first["id"]


def test_malformed_tool_arguments_are_refused_and_the_model_corrects_itself(
    colony: Loaded, tmp_path: Path
) -> None:
    script = [
        RawCall("get_events", '{"start": "2h", service: db'),
        Call([("get_events", {"start": "2h", "service": "db"})]),
        Say("No change on db before its latency rose."),
    ]
    with FakeOpenAI(script) as fake:
        record = ask_json(colony, fake, "openai", tmp_path, "what happened?")
    assert record["answer"] == "No change on db before its latency rose."
    refused = [m for m in fake.requests[1].body["messages"] if m["role"] == "tool"][-1]
    assert "Not run: the arguments were not a JSON object" in refused["content"]
    assert tools_run(record) == ["investigate", "get_events"]


def test_anthropic_tool_input_that_is_not_json_is_retried(colony: Loaded, tmp_path: Path) -> None:
    # The SDK parses streamed tool input as it arrives and gives up on broken JSON.
    script = [RawCall("get_events", '{"start" "2h"}'), Say("db is the root cause.")]
    with FakeAnthropic(script) as fake:
        record = ask_json(colony, fake, "anthropic", tmp_path, "what happened?")
    assert record["answer"] == "db is the root cause."
    assert len(fake.requests) == 2
    assert any("not JSON; retrying" in n for n in record["notes"])


def test_anthropic_tool_input_that_is_not_an_object_is_refused(
    colony: Loaded, tmp_path: Path
) -> None:
    script = [RawCall("get_events", "[1, 2]"), Say("db is the root cause.")]
    with FakeAnthropic(script) as fake:
        record = ask_json(colony, fake, "anthropic", tmp_path, "what happened?")
    assert record["answer"] == "db is the root cause."
    refused = fake.requests[1].body["messages"][-1]["content"][0]
    assert refused["is_error"] is True
    assert "Not run: the arguments were not a JSON object (got list)" in refused["content"]


def test_arguments_of_the_wrong_type_get_the_tool_own_error(colony: Loaded, tmp_path: Path) -> None:
    script = [Call([("get_events", {"start": 2, "limit": "many"})]), Say("db.")]
    with FakeAnthropic(script) as fake:
        record = ask_json(colony, fake, "anthropic", tmp_path, "what happened?")
    result = fake.requests[1].body["messages"][-1]["content"][0]
    assert result["is_error"] is True and "get_events" in result["content"]
    assert record["answer"] == "db."


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
def test_a_refused_key_falls_back_to_the_builtin_report_at_once(
    colony: Loaded, tmp_path: Path, provider: str
) -> None:
    with FAKES[provider]([Fail(401, "invalid x-api-key")]) as fake:
        record = ask_json(colony, fake, provider, tmp_path, "what happened?")
    assert len(fake.requests) == 1  # no retry of a 401
    assert "HTTP 401" in record["fallback"]
    assert record["answer"].startswith(f"({provider} gave no answer: {provider} answered HTTP 401")
    assert "Most likely: db, latency" in record["answer"]
    assert record["provider"] == provider and record["intent"] == "incident"


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
def test_a_rate_limit_is_retried_then_answered(
    colony: Loaded, tmp_path: Path, provider: str
) -> None:
    script = [Fail(429, "rate limited", {"retry-after": "0"}), Say("db is the root cause.")]
    with FAKES[provider](script) as fake:
        record = ask_json(colony, fake, provider, tmp_path, "what happened?")
    assert record["fallback"] is None and record["answer"] == "db is the root cause."
    assert len(fake.requests) == 2
    assert any("HTTP 429" in n and "retrying" in n for n in record["notes"])


def test_server_errors_are_retried_with_backoff_then_fall_back(
    colony: Loaded, tmp_path: Path
) -> None:
    with FakeOpenAI([Fail(500, "internal error")], repeat_last=True) as fake:
        record = ask_json(
            colony, fake, "openai", tmp_path, "what happened?", config=FAST + "max_retries = 2\n"
        )
    assert len(fake.requests) == 3
    assert "HTTP 500" in record["fallback"]
    assert "Most likely: db" in record["answer"]


def test_a_model_that_does_not_answer_in_time_falls_back(colony: Loaded, tmp_path: Path) -> None:
    config = "backoff_s = 0.01\ncall_timeout_s = 0.5\n"
    with FakeAnthropic([Stall(3)]) as fake:
        record = ask_json(colony, fake, "anthropic", tmp_path, "what happened?", config=config)
    assert "did not answer within 0.5 s" in record["fallback"]
    assert "Most likely: db" in record["answer"]


def test_a_model_looping_on_one_call_is_stopped_and_the_builtin_report_answers(
    colony: Loaded, tmp_path: Path
) -> None:
    loop = [Call([("get_events", {"start": "2h"})])]
    with FakeAnthropic(loop, repeat_last=True) as fake:
        record = ask_json(colony, fake, "anthropic", tmp_path, "what happened?")
    assert tools_run(record) == ["investigate", "get_events", "get_events"]
    assert record["fallback"] == "the model kept repeating the same tool call"
    assert len(fake.requests) == 5  # 2 runs, then 3 refusals
    last = json.dumps(fake.requests[-1].body["messages"])
    assert "Not run: you already called get_events with exactly these arguments" in last
    assert "Most likely: db" in record["answer"]


def test_a_model_that_never_finishes_stops_at_max_steps(colony: Loaded, tmp_path: Path) -> None:
    script = [Call([("get_events", {"start": f"{h}h"})]) for h in range(1, 10)]
    with FakeOpenAI(script) as fake:
        record = ask_json(
            colony, fake, "openai", tmp_path, "what happened?", config=FAST + "max_steps = 3\n"
        )
    assert len(fake.requests) == 3
    assert record["fallback"] == "no answer after 3 steps"


def test_an_external_mcp_server_is_bridged_when_the_question_asks_for_it(
    colony: Loaded, tmp_path: Path
) -> None:
    log = tmp_path / "calls.jsonl"
    config = FAST + (
        "[ask.mcp_servers.issues]\n"
        f'command = "{sys.executable}"\n'
        f'args = ["{ISSUES_SERVER}"]\n'
        f'env = {{ISSUES_CALL_LOG = "{log}"}}\n'
        "[ask.mcp_servers.broken]\n"
        'command = "/nonexistent/mcp-server"\n'
        "[ask.mcp_servers.silent]\n"
        'command = "sleep"\nargs = ["30"]\ntimeout_s = 1\n'
    )
    script = [
        Call([("issues__search_issues", {"query": "db"})]),
        Say("db: latency up at 01:00Z, and issue DB-17 (timeout acquiring connection)."),
    ]
    with FakeOpenAI(script) as fake:
        record = ask_json(
            colony, fake, "openai", tmp_path, "what happened? check issues, broken and silent too",
            config=config,
        )  # fmt: skip
    offered = {t["function"]["name"] for t in fake.requests[0].body["tools"]}
    assert "issues__search_issues" in offered and "investigate" in offered
    assert "issues__resolve_issue" not in offered  # not read-only: never offered
    assert tools_run(record) == ["investigate", "issues__search_issues"]
    result = [m for m in fake.requests[1].body["messages"] if m["role"] == "tool"][-1]
    assert "DB-17" in result["content"]
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert [c["tool"] for c in calls] == ["search_issues"]
    assert calls[0]["keys_seen"] == []  # the provider's key stays with Coral
    skipped = {s["server"]: s["reason"] for s in record["skipped_servers"]}
    assert set(skipped) == {"broken", "silent"}
    assert skipped["silent"] == "no answer within 1 s"
    assert record["answer"].startswith("db: latency up")


def test_external_servers_stay_out_unless_asked(colony: Loaded, tmp_path: Path) -> None:
    config = FAST + (
        f'[ask.mcp_servers.issues]\ncommand = "{sys.executable}"\nargs = ["{ISSUES_SERVER}"]\n'
    )
    with FakeAnthropic([Say("db.")]) as fake:
        ask_json(colony, fake, "anthropic", tmp_path, "what happened?", config=config)
    offered = {t["name"] for t in fake.requests[0].body["tools"]}
    assert not any(name.startswith("issues__") for name in offered)


def test_every_tool_offered_only_reads(colony: Loaded, tmp_path: Path) -> None:
    with FakeAnthropic([Say("ok")]) as fake:
        ask_json(colony, fake, "anthropic", tmp_path, "what happened?")
    offered = {t["name"] for t in fake.requests[0].body["tools"]}
    assert {"investigate", "get_events", "query_metrics", "get_topology"} <= offered
    assert not offered & {"record_ask", "resolve_issue"}


def test_dry_run_shows_prompt_and_tools_and_calls_no_model(colony: Loaded, tmp_path: Path) -> None:
    with FakeAnthropic([Say("never")]) as fake:
        code, out, err = ask(colony, fake, "anthropic", tmp_path, "what happened?", "--dry-run")
    assert code == 0, err
    assert fake.requests == []
    assert "system prompt:" in out and "question: what happened?" in out
    assert "  investigate: " in out and "  get_events: " in out


def test_auto_query_brings_in_external_servers_when_coral_is_unsure(
    colony: Loaded, tmp_path: Path
) -> None:
    config = FAST + (
        "auto_query = true\nauto_query_below = 1.0\n"  # db's 0.99 counts as unsure here
        f'[ask.mcp_servers.issues]\ncommand = "{sys.executable}"\nargs = ["{ISSUES_SERVER}"]\n'
    )
    with FakeAnthropic([Say("db.")]) as fake:
        ask_json(colony, fake, "anthropic", tmp_path, "what happened?", config=config)
    offered = {t["name"] for t in fake.requests[0].body["tools"]}
    assert "issues__search_issues" in offered


def test_the_token_budget_stops_a_long_investigation(colony: Loaded, tmp_path: Path) -> None:
    script = [Call([("get_events", {"start": f"{h}h"})]) for h in range(1, 10)]
    with FakeAnthropic(script) as fake:
        record = ask_json(
            colony,
            fake,
            "anthropic",
            tmp_path,
            "what happened?",
            config=FAST + "token_budget = 1000\n",
        )
    assert record["fallback"].startswith("token budget spent")
    assert len(fake.requests) == 1  # the first call's usage already spent it


def test_a_long_tool_result_is_cut_before_the_model_sees_it(colony: Loaded, tmp_path: Path) -> None:
    script = [
        Call([("query_metrics", {"service": "db", "metric": "latency_ms", "start": "2h"})]),
        Say("ok"),
    ]
    with FakeOpenAI(script) as fake:
        record = ask_json(
            colony, fake, "openai", tmp_path, "what happened?",
            config=FAST + "max_tool_output_chars = 1000\n",
        )  # fmt: skip
    results = [m for m in fake.requests[1].body["messages"] if m["role"] == "tool"]
    assert all(len(m["content"]) < 1200 for m in results)
    assert "[cut: " in results[-1]["content"]
    assert record["steps"][-1]["output_chars"] < 1200


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
def test_the_key_appears_in_no_log_line_even_at_debug_level(
    colony: Loaded, tmp_path: Path, provider: str
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f"[ask]\n{FAST}")
    with FAKES[provider]([Call([("get_events", {"start": "1h"})]), Say("db.")]) as fake:
        result = CliRunner().invoke(
            coral,
            [
                "--log-level", "DEBUG", "ask", "what happened?", "--provider", provider,
                "--base-url", fake.base_url, "--colony", colony.url,
            ],
            env={"CORAL_CONFIG": str(path), KEY_ENV[provider]: fake.key},
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "db." in result.stdout
    assert fake.key not in result.stdout + result.stderr


def test_an_http_mcp_server_with_headers_is_bridged(colony: Loaded, tmp_path: Path) -> None:
    # The colony's own MCP endpoint stands in for a remote HTTP server here.
    config = FAST + (
        f'[ask.mcp_servers."other.colony"]\nurl = "{colony.url}/mcp"\n'
        'headers = {Authorization = "Bearer unused"}\n'
    )
    script = [Call([("other_colony__list_services", {"limit": 5})]), Say("three services.")]
    with FakeAnthropic(script) as fake:
        record = ask_json(
            colony, fake, "anthropic", tmp_path, "what runs on other.colony?", config=config
        )
    assert tools_run(record) == ["investigate", "other_colony__list_services"]
    result = fake.requests[1].body["messages"][-1]["content"][0]["content"]
    assert '"name":"db"' in result


def test_a_call_to_a_tool_that_was_not_offered_is_refused(colony: Loaded, tmp_path: Path) -> None:
    script = [Call([("restart_service", {"name": "db"})]), Say("I can only recommend a restart.")]
    with FakeOpenAI(script) as fake:
        record = ask_json(colony, fake, "openai", tmp_path, "restart db")
    refused = [m for m in fake.requests[1].body["messages"] if m["role"] == "tool"][-1]
    assert refused["content"].startswith("Not run: there is no tool named 'restart_service'")
    assert tools_run(record) == ["investigate"]
    assert record["answer"] == "I can only recommend a restart."


def test_quiet_prints_the_answer_alone_without_progress(colony: Loaded, tmp_path: Path) -> None:
    with FakeOpenAI(THREE_STEPS) as fake:
        code, out, err = ask(colony, fake, "openai", tmp_path, "why is web slow?", "--quiet")
    assert code == 0, err
    final = THREE_STEPS[-1]
    assert isinstance(final, Say)
    assert out == final.text + "\n"
    assert "get_events(" not in err and "investigate(" not in err
    assert len(fake.requests) == 4  # the same investigation, only quieter


def test_the_total_timeout_stops_an_investigation_whose_steps_each_come_in_time(
    colony: Loaded, tmp_path: Path
) -> None:
    slow = [Stall(0.8, then=Call([("get_events", {"start": f"{h}h"})])) for h in range(1, 9)]
    config = "backoff_s = 0.01\ncall_timeout_s = 5\ntotal_timeout_s = 2\n"
    with FakeAnthropic(slow) as fake:
        record = ask_json(colony, fake, "anthropic", tmp_path, "what happened?", config=config)
    assert record["fallback"] == "no answer within 2 s in total"  # not one call's 5 s
    assert len(fake.requests) <= 3  # 0.8 s each: a third could start, not a fourth
    assert "Most likely: db" in record["answer"]


def test_provider_model_and_base_url_come_from_the_config(colony: Loaded, tmp_path: Path) -> None:
    with FakeOpenAI([Say("db.")]) as fake:
        fake.key = LOCAL_KEY  # a local server gets Coral's placeholder, no real key
        path = tmp_path / "config.toml"
        path.write_text(
            f'[ask]\nprovider = "openai"\nmodel = "qwen3:8b"\nbase_url = "{fake.base_url}"\n'
        )
        result = CliRunner().invoke(
            coral,
            ["ask", "what happened?", "--json", "--colony", colony.url],
            env={"CORAL_CONFIG": str(path), "OPENAI_API_KEY": None},
        )
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert (record["provider"], record["model"], record["answer"]) == ("openai", "qwen3:8b", "db.")
    assert fake.requests[0].body["model"] == "qwen3:8b"


def on_a_terminal(cmd: list[str], env: dict[str, str], timeout_s: float = 60) -> str:
    """What `cmd` shows on a real (pseudo-)terminal, its escape sequences removed."""
    main, sub = pty.openpty()
    proc = subprocess.Popen(cmd, stdin=sub, stdout=sub, stderr=sub, env=env)
    os.close(sub)
    chunks, deadline = [], time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            if not select.select([main], [], [], 0.5)[0]:
                continue
            try:
                data = os.read(main, 65536)
            except OSError:  # EIO: the program ended and closed the terminal
                break
            if not data:
                break
            chunks.append(data)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        os.close(main)
    screen = b"".join(chunks).decode(errors="replace")
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\r", "", screen)


def test_on_a_terminal_a_spinner_shows_the_running_step_and_its_elapsed_time(
    colony: Loaded, tmp_path: Path
) -> None:
    script = [Stall(1.6, then=Call([("get_events", {"start": "2h"})])), Say("db is the cause.")]
    path = tmp_path / "config.toml"
    path.write_text(f"[ask]\n{FAST}")
    with FakeAnthropic(script) as fake:
        env = {
            **child_env(), "CORAL_CONFIG": str(path), "ANTHROPIC_API_KEY": fake.key,
            "TERM": "xterm-256color", "COLUMNS": "100",
        }  # fmt: skip
        screen = on_a_terminal(
            coral_cmd(
                "ask", "what happened?", "--provider", "anthropic", "--base-url", fake.base_url,
                "--colony", colony.url,
            ),
            env,
        )  # fmt: skip
    assert "thinking (step 1)" in screen  # the spinner's task while the model works
    assert "0:00:01" in screen  # its elapsed-time column, ticking
    assert "v get_events(start='2h')" in screen  # a finished tool keeps its line
    assert "db is the cause." in screen
    assert "coral://investigations/ask-" in screen
