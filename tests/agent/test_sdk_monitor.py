"""A service with the SDK, watched by a real agent streaming to a real colony.

The colony, the agent and the SDK'd app are processes; what the operator sees comes
through the colony's MCP endpoint (`get_service`) and REST API (events).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp
import pytest
from mcp.client.streamable_http import streamable_http_client
from mcp.types import TextContent

from coral_mcp.agent.collectors.sdk import SdkProbe
from coral_mcp.agent.sdk_monitor import SdkMonitor
from coral_mcp.models import EventKind
from tests.conftest import DATA, MCP_TIMEOUT_S, Processes, auth, free_port, wait_for
from tests.sdk.apps import serve

pytestmark = pytest.mark.e2e


def _get_service(url: str, token: str, name: str, tool: str = "get_service") -> dict[str, Any]:
    async def call() -> dict[str, Any]:
        async with httpx2.AsyncClient(headers=auth(token), timeout=MCP_TIMEOUT_S) as http:
            transport = streamable_http_client(f"{url}/mcp", http_client=http)
            async with mcp.Client(transport) as client:  # type: ignore[arg-type]
                key = "service" if tool == "list_metrics" else "name"
                result = await client.call_tool(tool, {key: name})
                if result.is_error:
                    return {}
                # Coral's tools answer once, as compact JSON text (docs/mcp.md)
                text = "".join(c.text for c in result.content if isinstance(c, TextContent))
                return dict(json.loads(text))

    return anyio.run(call)


def _events(url: str, token: str, kinds: str) -> list[dict[str, Any]]:
    answer = httpx2.get(
        f"{url}/api/v1/events",
        params={"service": "app", "kinds": kinds, "start": "1h", "detail": "true"},
        headers=auth(token),
        timeout=5,
    )
    return list(answer.json().get("events", [])) if answer.status_code == 200 else []


def test_sdk_version_build_and_component_health_reach_get_service(
    tmp_path: Path, procs: Processes, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    control = tmp_path / "control"
    app_cmd = [sys.executable, str(DATA / "sdk_app.py"), "--port", str(port)]
    app_cmd += ["--control", str(control)]
    monkeypatch.setenv("CORAL_GIT_COMMIT", "1111111aaaa")
    monkeypatch.setenv("CORAL_GIT_BRANCH", "main")
    app = procs.start("app-v1", [*app_cmd, "--version", "1.4.0"], wait_ready=True)
    # One data root for both: the colony keeps its files in ROOT/colony, the agent in
    # ROOT/agent and reads the colony's token from ROOT/colony/mcp.token.
    colony = procs.colony(tmp_path / "coral")
    url, token = colony.url, colony.token
    procs.agent(tmp_path / "coral", colony.grpc_port, {"app": f"port:{port}"})

    def reported() -> dict[str, Any] | None:
        doc = _get_service(url, token, "app")
        return doc if doc.get("version") and doc.get("components") else None

    doc = wait_for(reported, 60, "version and components in get_service")
    assert doc["version"] == "1.4.0"
    assert doc["build"]["commit"] == "1111111aaaa" and doc["build"]["branch"] == "main"
    assert doc["build"]["language"].startswith("cpython 3.")
    assert doc["components"] == {"db": True, "cache": True}
    series = {m["metric"] for m in _get_service(url, token, "app", "list_metrics")["metrics"]}
    assert {"component_health:db", "component_health:cache"} <= series

    control.write_text("db down")
    flips = wait_for(lambda: _events(url, token, "health_flip"), 60, "a component health_flip")
    flip = flips[0]
    assert flip["attributes"]["component"] == "db" and flip["attributes"]["healthy"] == "false"
    assert "component db is now unhealthy" in flip["message"]
    assert "connection refused" in flip["attributes"]["detail"]
    unhealthy = wait_for(
        lambda: (
            (d := _get_service(url, token, "app")).get("health", {}).get("healthy") is False and d
        ),
        30,
        "get_service to show the unhealthy component",
    )
    assert unhealthy["health"]["check"] == "component db"

    app.terminate()
    app.wait(10)
    monkeypatch.setenv("CORAL_GIT_COMMIT", "2222222bbbb")
    procs.start("app-v2", [*app_cmd, "--version", "1.5.0"], wait_ready=True)

    def sdk_deploy() -> list[dict[str, Any]]:
        deploys = _events(url, token, "deploy")
        return [e for e in deploys if e["attributes"].get("source") == "sdk"]

    deploy = wait_for(sdk_deploy, 60, "a deploy event from the SDK")[0]
    assert deploy["attributes"]["old_version"] == "1.4.0"
    assert deploy["attributes"]["new_version"] == "1.5.0"
    assert deploy["attributes"]["new_commit"] == "2222222bbbb"
    assert deploy["attributes"]["old_commit"] == "1111111aaaa"
    doc = _get_service(url, token, "app")
    assert doc["version"] == "1.5.0" and doc["build"]["commit"] == "2222222bbbb"
    assert doc["last_deploy"] is not None


def test_tier_1_in_five_minutes_the_documented_fastapi_lines_are_get_service_api(
    tmp_path: Path, procs: Processes
) -> None:
    """docs/sdk.md's two lines in a FastAPI app, and an agent told no service (`--auto`,
    as `coral up` runs it; its HTTP probing off, which would knock on every port of this
    shared machine): the service is there under the SDK's name with its version, build
    and component health."""
    _, port = serve(procs, tmp_path, "FastAPI")
    colony = procs.colony(tmp_path / "coral")
    procs.agent(tmp_path / "coral", colony.grpc_port, {}, 0.5, 1.0, "agent", "--auto",
                "--no-auto-probe")  # fmt: skip

    def reported() -> dict[str, Any] | None:
        doc = _get_service(colony.url, colony.token, "api")
        return doc if doc.get("version") and doc.get("components") else None

    doc = wait_for(reported, 60, "service api with its version and components")
    assert doc["version"] == "2.1.0" and doc["components"] == {"db": True}
    assert doc["build"]["language"].startswith("cpython 3.")
    assert any(f":{port}" in endpoint for endpoint in doc["listen"]), doc["listen"]


def _declaring_app(procs: Processes, *extra: str) -> int:
    port = free_port()
    cmd = [sys.executable, str(DATA / "declaring_app.py"), "--port", str(port), *extra]
    return procs.start("declaring", cmd, wait_ready=True).pid


def _first_look(monitor: SdkMonitor, pid: int) -> dict[str, float]:
    """What the look that first hears the SDK gives (its endpoint starts with the app)."""

    def look() -> tuple[dict[str, float]] | None:
        samples, events = monitor.observe(time.time(), {"shop": [pid]})
        if not any(e.kind == EventKind.SERVICE_INFO for e in events):
            return None
        return ({s.metric: s.value for s in samples if s.service == "shop"},)

    return wait_for(look, 30, "the app's SDK")[0]


def test_the_metrics_and_health_endpoints_an_sdk_declares_are_scraped_and_polled(
    procs: Processes,
) -> None:
    pid = _declaring_app(procs)
    monitor = SdkMonitor(SdkProbe(timeout_s=5), interval_s=1.0)
    values = _first_look(monitor, pid)
    assert values["scrape_up"] == 1 and values["prom:shop_queue_depth"] == 7
    assert values["health_up"] == 1
    assert monitor.following == {"shop"}  # so auto-probing leaves the service to it


@pytest.mark.parametrize(
    ("declared_host", "configured"), [("shop.invalid", set()), ("127.0.0.1", {"shop"})]
)
def test_declared_endpoints_off_loopback_or_of_configured_services_are_not_followed(
    procs: Processes, declared_host: str, configured: set[str]
) -> None:
    pid = _declaring_app(procs, "--declare-host", declared_host)
    monitor = SdkMonitor(SdkProbe(timeout_s=5), interval_s=1.0, skip=configured)
    values = _first_look(monitor, pid)
    assert "scrape_up" not in values and "health_up" not in values
    assert monitor.following == frozenset()
