"""The Tier 0 live check, as a new user would try it: web -> api -> store, real
processes, one real agent given `--service NAME=port:N` only (no health checks, no
scrape targets), a real colony. The store gets 400 ms slower: latency shows on its
callers' side. `api` is redeployed with a new APP_VERSION (same executable, same
command line): the colony has one `deploy` event with old and new version, and
`coral ask "what happened?"` shows it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.conftest import (
    DATA,
    Processes,
    auth,
    child_env,
    coral_cmd,
    free_port,
    wait_for,
)

pytestmark = pytest.mark.e2e

RR = str(DATA / "rr_service.py")


def _get(url: str, token: str, path: str, **params: str) -> dict[str, Any] | None:
    try:
        response = httpx2.get(f"{url}{path}", params=params, headers=auth(token), timeout=5)
    except httpx2.HTTPError:
        return None
    return dict(response.json()) if response.status_code == 200 else None


def _peak(url: str, token: str, service: str, metric: str) -> float:
    doc = _get(url, token, "/api/v1/metrics", service=service, metric=metric, start="now-10m")
    return max((p["max"] for p in (doc or {}).get("points", [])), default=0.0)


def test_slow_dependency_and_redeploy_are_seen_with_service_flags_only(
    tmp_path: Path, procs: Processes
) -> None:
    delay = tmp_path / "store-delay"
    delay.write_text("0")
    store, api, web = free_port(), free_port(), free_port()
    store_cmd = [sys.executable, RR, "--listen", str(store), "--delay-file", str(delay)]
    procs.start("store", store_cmd, wait_ready=True)

    def start_api(version: str) -> int:
        cmd = ["env", f"APP_VERSION={version}", sys.executable, RR, "--listen", str(api)]
        cmd += ["--call", f"127.0.0.1:{store}", "--connections", "2", "--every", "0.05"]
        return procs.start(f"api-{version}", cmd, wait_ready=True).pid

    first_api = start_api("1.4.0")
    web_cmd = [sys.executable, RR, "--listen", str(web), "--call", f"127.0.0.1:{api}"]
    procs.start("web", [*web_cmd, "--connections", "2", "--every", "0.05"], wait_ready=True)
    colony = procs.colony(tmp_path)
    services = {"web": f"port:{web}", "api": f"port:{api}", "store": f"port:{store}"}
    procs.agent(tmp_path, colony.grpc_port, services, interval_s=1.0, push_s=2.0)
    url, token = colony.url, colony.token

    def up() -> bool:
        doc = _get(url, token, "/api/v1/services")
        return bool(doc) and {s["name"] for s in doc["services"] if s["status"] == "up"} >= {
            "web",
            "api",
            "store",
        }

    wait_for(up, 60, "web, api and store up in the colony")
    wait_for(lambda: _get(url, token, "/api/v1/metrics", service="api", metric="tcp_wait_ms"),
             30, "the caller's wait series")  # fmt: skip
    assert _peak(url, token, "api", "tcp_wait_ms") < 100  # a fast store: no waiting

    delay.write_text("0.4")  # the store answers 400 ms later
    wait_for(lambda: _peak(url, token, "api", "tcp_wait_ms") > 100, 60, "api waiting on store")
    # web calls api, which waits on store: the latency shows on every caller's side
    wait_for(lambda: _peak(url, token, "web", "tcp_wait_ms") > 100, 60, "web waiting on api")

    os.kill(first_api, signal.SIGTERM)  # redeploy api: same program, new version
    procs.reap(first_api)
    start_api("1.5.0")

    def deploys() -> list[dict[str, Any]]:
        doc = _get(
            url,
            token,
            "/api/v1/events",
            service="api",
            kinds="deploy",
            start="now-1h",
            detail="true",
        )
        return list((doc or {}).get("events", []))

    wait_for(deploys, 60, "a deploy event for api")
    (deploy,) = deploys()
    attributes = deploy.get("attributes") or {}
    assert (attributes["old_version"], attributes["new_version"]) == ("1.4.0", "1.5.0")
    restarts = _get(url, token, "/api/v1/events", service="api", kinds="restart", start="now-1h")
    assert (restarts or {}).get("events") == []  # a deploy, not a restart

    asked = subprocess.run(
        coral_cmd("ask", "what happened?", "--json", "--colony", url, "--token", token),
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        env=child_env(),
    )
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)["answer"]
    assert "api deploy: new version deployed (1.4.0 -> 1.5.0" in answer, answer


def test_a_killed_auto_discovered_service_goes_down_with_its_crash_and_stays_down(
    tmp_path: Path, procs: Processes
) -> None:
    name = f"batch-{free_port()}"
    cmd = ["env", f"OTEL_SERVICE_NAME={name}", sys.executable, str(DATA / "tcp_service.py")]
    victim = procs.start("victim", [*cmd, "--listen", str(free_port())], wait_ready=True)
    colony = procs.colony(tmp_path)
    url, token = colony.url, colony.token
    agent_cmd = coral_cmd(
        "agent", "start", "--colony", f"127.0.0.1:{colony.grpc_port}", "--interval", "0.5",
        "--push", "1", "--data-dir", str(tmp_path), "--no-auto-probe",
    )  # fmt: skip
    procs.start("agent", agent_cmd)  # auto-discovery: no --service at all

    def status() -> str | None:
        doc = _get(url, token, "/api/v1/services")
        found = [s["status"] for s in (doc or {}).get("services", []) if s["name"] == name]
        return found[0] if found else None

    wait_for(lambda: status() == "up", 60, f"{name} up")
    os.kill(victim.pid, signal.SIGKILL)
    wait_for(lambda: status() == "down", 10, f"{name} down within a few push intervals")
    crashes = _get(
        url, token, "/api/v1/events", service=name, kinds="crash", start="now-1h", detail="true"
    )
    (crash,) = (crashes or {})["events"]
    assert crash["attributes"]["signal_name"] == "SIGKILL"

    os.kill(colony.pid, signal.SIGTERM)  # the colony restarts; the agent (alive) reconnects
    procs.reap(colony.pid)
    again = ["--grpc-port", str(colony.grpc_port), "--http-port", url.rsplit(":", 1)[1]]
    back = procs.start(
        "colony-again", coral_cmd("colony", "start", "--data-dir", str(tmp_path), *again)
    )
    procs.wait_colony(back, tmp_path, "colony-again")
    wait_for(lambda: _get(url, token, "/api/v1/agents"), 60, "the colony back")
    wait_for(
        lambda: any(
            a["state"] == "online" for a in (_get(url, token, "/api/v1/agents") or {})["agents"]
        ),
        60,
        "the agent reconnected",
    )

    def committed() -> int:
        agents = (_get(url, token, "/api/v1/agents") or {}).get("agents", [])
        return max((int(a["committed_seq"]) for a in agents), default=0)

    # a few more messages from the agent: the dead service must not come back up
    since = committed()
    wait_for(lambda: committed() >= since + 3, 30, "three more messages from the agent")
    assert status() == "down"
