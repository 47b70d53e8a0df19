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


def test_ask_what_happened_names_the_crashed_service_with_evidence(
    tmp_path: Path, procs: Processes
) -> None:
    pay_port, db_port = free_port(), free_port()
    procs.tcp_service("db", db_port)
    payments = procs.tcp_service("payments", pay_port, db_port)
    colony = procs.colony(tmp_path)
    procs.agent(
        tmp_path,
        colony.grpc_port,
        {"payments": f"port:{pay_port}", "db": f"port:{db_port}"},
    )
    url, token = colony.url, colony.token

    def events(kind: str) -> list[dict[str, Any]]:
        try:
            got = httpx2.get(
                f"{url}/api/v1/events?kinds={kind}&start=10m", headers=auth(token), timeout=2
            )
        except httpx2.HTTPError:
            return []
        return list(got.json().get("events", []))

    def services_up() -> bool:
        try:
            got = httpx2.get(f"{url}/api/v1/services", headers=auth(token), timeout=2)
        except httpx2.HTTPError:
            return False
        up = {s["name"] for s in got.json().get("services", []) if s["status"] == "up"}
        return up == {"payments", "db"}

    wait_for(services_up, 60, "the agent reporting its services")
    payments.send_signal(signal.SIGKILL)
    crash = wait_for(lambda: events("crash"), 60, "the crash event")[0]
    assert crash["service"] == "payments"

    done = subprocess.run(
        coral_cmd(
            "ask", "what happened?", "--json", "--since", "10m",
            "--colony", url, "--token", token,
        ),
        check=False, capture_output=True, text=True, timeout=60, env=child_env(),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["intent"] == "incident"
    result = answer["tools"]["investigate"]
    assert result["outcome"] == "hypotheses", result["summary"]
    top = result["hypotheses"][0]
    assert top["service"] == "payments"
    assert any(e["source"] == "crash" for e in top["evidence"])
    assert "1. payments:" in answer["answer"]
