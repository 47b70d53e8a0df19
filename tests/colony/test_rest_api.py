"""The colony's REST API and `coral colony status`, against a real colony process."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

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

# One worker runs this module: its module fixture (a colony and an agent) is made once.
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("rest-api")]


@dataclass
class Colony:
    url: str
    data_dir: Path
    token: str


@pytest.fixture(scope="module")
def colony(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Colony]:
    tmp = tmp_path_factory.mktemp("rest")
    (tmp / "logs").mkdir()
    procs = Processes(tmp / "logs")
    svc_port = free_port()
    try:
        procs.tcp_service("web", svc_port)
        running = procs.colony(tmp)
        procs.agent(tmp, running.grpc_port, {"web": f"port:{svc_port}"}, 0.3, 0.6)
        url, token = running.url, running.token

        def has_metrics() -> bool:
            try:
                got = httpx2.get(
                    f"{url}/api/v1/metrics?service=web&metric=rss_bytes",
                    headers=auth(token),
                    timeout=2,
                )
            except httpx2.HTTPError:
                return False
            return got.status_code == 200 and bool(got.json()["points"])

        wait_for(has_metrics, 60, "metrics of web")
        yield Colony(url, tmp, token)
    finally:
        procs.stop_all()


def get(colony: Colony, path: str) -> httpx2.Response:
    return httpx2.get(colony.url + path, headers=auth(colony.token), timeout=5)


def test_status_reports_agents_freshness_ingest_and_storage(colony: Colony) -> None:
    doc = get(colony, "/api/v1/status").json()
    assert doc["agents_by_state"]["online"] == 1
    (agent,) = doc["agents"]
    assert agent["state"] == "online" and agent["committed_seq"] > 0
    assert doc["services"] == 1 and doc["newest_data"]
    assert doc["ingest"]["messages_per_s"] > 0 and doc["ingest"]["points_per_s"] > 0
    assert doc["storage"]["disk_bytes"] > 0
    assert doc["storage"]["raw_retention_days"] == 7


def test_services_topology_metrics_and_events_answer_json(colony: Colony) -> None:
    services = get(colony, "/api/v1/services").json()
    assert [s["name"] for s in services["services"]] == ["web"]
    assert get(colony, "/api/v1/topology").json()["services"] == ["web"]
    series = get(colony, "/api/v1/metrics?service=web&metric=rss_bytes&start=10m&step_s=30").json()
    assert series["step_s"] == 30 and series["points"][0]["avg"] > 1_000_000
    events = get(colony, "/api/v1/events?start=1h&kinds=crash,restart").json()
    assert events["events"] == [] and "No events" in events["hint"]


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("/api/v1/metrics?service=web", "'metric' is required"),
        ("/api/v1/metrics?service=nope&metric=rss_bytes", "unknown service 'nope'"),
        ("/api/v1/metrics?service=web&metric=rss_bytes&start=yesterday", "cannot read time"),
        ("/api/v1/metrics?service=web&metric=rss_bytes&start=now&end=1h", "is not before end"),
        ("/api/v1/services?limit=many", "limit='many' is not an integer"),
        ("/api/v1/services?limit=5000", "limit must be 1-200"),
        ("/api/v1/services?colour=blue", "unknown query parameter 'colour'"),
        ("/api/v1/events?cursor=bogus", "is not one this server gave out"),
    ],
)
def test_bad_requests_get_a_json_reason(colony: Colony, path: str, says: str) -> None:
    response = get(colony, path)
    assert response.status_code == 400
    assert says in response.json()["error"]


def test_investigate_explains_a_symptom_and_names_unknown_services(colony: Colony) -> None:
    response = get(colony, "/api/v1/investigate?service=web&metric=latency&start=10m")
    assert response.status_code == 200, response.text
    doc = response.json()
    assert doc["service"] == "web"
    assert doc["outcome"] in ("hypotheses", "no_significant_anomaly", "no_clear_root_cause")
    unknown = get(colony, "/api/v1/investigate?service=wbe")
    assert unknown.status_code == 400
    assert "unknown service 'wbe'" in unknown.json()["error"]
    assert "web" in unknown.json()["hint"]


@pytest.mark.parametrize(
    ("method", "path", "status", "says"),
    [
        ("GET", "/api/v1/nope", 404, "no route /api/v1/nope"),
        # Outside /api the dashboard answers: without a session, 401 and its login form.
        ("POST", "/api/v1/nope", 404, "no route /api/v1/nope"),
    ],
)
def test_an_unknown_route_answers_json_404(
    colony: Colony, method: str, path: str, status: int, says: str
) -> None:
    response = httpx2.request(method, colony.url + path, headers=auth(colony.token), timeout=5)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"] == says
    assert "/api/v1/openapi.json" in response.json()["hint"]


def test_openapi_document_describes_every_route(colony: Colony) -> None:
    doc = get(colony, "/api/v1/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    gets = ("status", "agents", "services", "topology", "metrics", "events", "service")
    gets += ("investigate", "anomalies", "asks/latest")
    assert set(doc["paths"]) == {f"/api/v1/{name}" for name in (*gets, "asks")}
    for path in doc["paths"].values():
        op = path.get("get") or path["post"]
        ok = op["responses"].get("200") or op["responses"]["201"]
        ref = ok["content"]["application/json"]["schema"].get("$ref", "#/object")
        if ref == "#/object":
            continue
        assert ref.rsplit("/", 1)[-1] in doc["components"]["schemas"]
    metrics = doc["paths"]["/api/v1/metrics"]["get"]["parameters"]
    assert {p["name"] for p in metrics if p["required"]} == {"service", "metric"}


def test_coral_colony_status_prints_text_and_json(colony: Colony) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            coral_cmd("colony", "status", *args),
            check=False,
            capture_output=True,
            text=True,
            timeout=30,
            env=child_env(),
        )

    text = run("--colony", colony.url, "--token", colony.token)
    assert text.returncode == 0, text.stderr
    assert "Agents: 1 (1 online, 0 stale, 0 offline)" in text.stdout
    assert "Storage:" in text.stdout and "on disk" in text.stdout
    # With only the data dir it finds the running colony and its token itself.
    found = run("--data-dir", str(colony.data_dir), "--json")
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)["agents_by_state"]["online"] == 1
    # --agents bounds the list; the count stays whole and says what was left out.
    bounded = run("--data-dir", str(colony.data_dir), "--agents", "0")
    assert bounded.returncode == 0, bounded.stderr
    assert "Agents: 1 (1 online" in bounded.stdout
    assert "... and 1 more (--agents N lists more)" in bounded.stdout
    refused = run("--data-dir", str(colony.data_dir), "--agents", "5000")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr


def test_coral_colony_status_says_when_no_colony_answers() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    done = subprocess.run(
        coral_cmd("colony", "status", "--colony", url),
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
        env=child_env(),
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"Error: cannot reach the colony at {url} (given by --colony)" in done.stderr


@pytest.mark.parametrize("path", ["/api/v1/status", "/api/v1/services", "/mcp"])
def test_requests_without_the_token_are_refused_with_401(colony: Colony, path: str) -> None:
    for headers in ({}, auth("wrong")):
        response = httpx2.get(colony.url + path, headers=headers, timeout=5)
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert httpx2.get(colony.url + "/healthz", timeout=5).json()["status"] == "ok"


def test_token_show_prints_the_token_the_colony_requires(colony: Colony) -> None:
    done = subprocess.run(
        coral_cmd("colony", "token", "show", "--mcp", "--data-dir", str(colony.data_dir)),
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
        env=child_env(),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == colony.token
    assert (colony.data_dir / "colony" / "mcp.token").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("POST", "/api/v1/status", "GET"),
        ("DELETE", "/api/v1/services", "GET"),
        ("GET", "/api/v1/asks", "POST"),
    ],
)
def test_a_route_asked_with_another_method_answers_405_naming_the_allowed_ones(
    colony: Colony, method: str, path: str, allowed: str
) -> None:
    response = httpx2.request(method, colony.url + path, headers=auth(colony.token), timeout=5)
    assert response.status_code == 405, response.text
    assert allowed in response.headers["allow"].split(", ")
    doc = response.json()
    assert doc["error"] == f"{method} is not allowed on {path}"
    assert allowed in doc["hint"]
    unknown = httpx2.request(
        method, colony.url + "/api/v1/nope", headers=auth(colony.token), timeout=5
    )
    assert unknown.status_code == 404 and unknown.json()["error"] == "no route /api/v1/nope"
