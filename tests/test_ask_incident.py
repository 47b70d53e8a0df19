"""`coral ask "what happened?"`: a real crash, a real colony, the builtin provider."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.conftest import (
    Processes,
    auth,
    child_env,
    coral_cmd,
    free_port,
    wait_for,
)

pytestmark = pytest.mark.e2e


def api_list(url: str, token: str, path: str, key: str) -> list[dict[str, Any]]:
    """A list from the colony's REST API, or [] while it does not answer."""
    try:
        got = httpx2.get(f"{url}/api/v1/{path}", headers=auth(token), timeout=2)
    except httpx2.HTTPError:
        return []
    return list(got.json().get(key, []))


def payments_and_db(
    tmp_path: Path, procs: Processes
) -> tuple[str, str, subprocess.Popen[bytes], subprocess.Popen[bytes]]:
    """payments -> db, watched by an agent of a real colony, both reported up."""
    pay_port, db_port = free_port(), free_port()
    db = procs.tcp_service("db", db_port)
    payments = procs.tcp_service("payments", pay_port, db_port)
    colony = procs.colony(tmp_path / "colony")
    procs.agent(
        tmp_path / "agent",
        colony.grpc_port,
        {"payments": f"port:{pay_port}", "db": f"port:{db_port}"},
    )
    url, token = colony.url, colony.token

    def services_up() -> bool:
        listed = api_list(url, token, "services", "services")
        return {s["name"] for s in listed if s["status"] == "up"} == {"payments", "db"}

    wait_for(services_up, 60, "the agent reporting its services")
    return url, token, payments, db


def ask(url: str, token: str, question: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        coral_cmd("ask", question, "--json", "--since", "10m", "--colony", url, "--token", token),
        check=False, capture_output=True, text=True, timeout=60, env=child_env(),
    )  # fmt: skip


def test_ask_what_happened_names_the_crashed_service_with_evidence(
    tmp_path: Path, procs: Processes
) -> None:
    url, token, payments, _ = payments_and_db(tmp_path, procs)
    payments.send_signal(signal.SIGKILL)
    crash = wait_for(
        lambda: api_list(url, token, "events?kinds=crash&start=10m", "events"),
        60,
        "the crash event",
    )[0]
    assert crash["service"] == "payments"

    done = ask(url, token, "what happened?")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["intent"] == "incident"
    result = answer["tools"]["investigate"]
    assert result["outcome"] == "hypotheses", result["summary"]
    top = result["hypotheses"][0]
    assert top["service"] == "payments"
    assert any(e["source"] == "crash" for e in top["evidence"])
    assert "1. payments:" in answer["answer"]


def test_ask_about_a_killed_service_leads_with_its_crash_and_unknown_names_are_said(
    tmp_path: Path, procs: Processes
) -> None:
    url, token, _, db = payments_and_db(tmp_path, procs)
    db.send_signal(signal.SIGKILL)
    wait_for(
        lambda: api_list(url, token, "events?kinds=crash,exit&service=db&start=10m", "events"),
        60,
        "db's crash or exit event",
    )

    done = ask(url, token, "what happened to db?")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)["tools"]["investigate"]
    assert result["service"] == "db"
    top = result["hypotheses"][0]
    assert top["service"] == "db", result["summary"]
    assert top["evidence"][0]["source"] in ("crash", "exit", "oom_kill")
    assert top["confidence"] > 0.3

    unknown = ask(url, token, "why is dbb slow?")
    assert unknown.returncode != 0
    assert "unknown service 'dbb'" in unknown.stderr + unknown.stdout
    assert "db" in (unknown.stderr + unknown.stdout).split("unknown service")[1]
    assert "Traceback" not in unknown.stderr
