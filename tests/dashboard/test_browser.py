"""The dashboard in a real browser: Debian's headless Chromium driven by Playwright,
against a real colony (subprocess) holding a recent incident (tests/dashboard/sample_data).

Screenshots go to test-artifacts/dashboard/ (gitignored); with CORAL_DASHBOARD_DOCS=1
they are also written to docs/images/ for docs/dashboard.md. The overview's page weight
and first render are written to test-artifacts/dashboard/overview.json
(benchmarks/dashboard_overview.py reports them).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.conftest import (
    ROOT,
    Processes,
    RunningColony,
    auth,
    coral_cmd,
    free_port,
    wait_for,
)
from tests.dashboard.sample_data import ANOMALOUS_METRIC, ROOT_SERVICE, data_root_with_incident
from tests.fakes.llm_servers import FakeOpenAI, Held

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "dashboard"
DOCS_IMAGES = ROOT / "docs" / "images"

if not CHROMIUM.exists():  # `make test` installs it (Debian package `chromium`)
    pytest.skip(
        "no /usr/bin/chromium: run `make test` as root to install it", allow_module_level=True
    )

from playwright.sync_api import Browser, Page, Request, sync_playwright  # noqa: E402


def login_url(procs: Processes, name: str = "colony") -> str:
    pattern = re.compile(rb"Dashboard \(one-time login URL\): (\S+)")
    found = wait_for(lambda: pattern.search(procs.stderr(name)), 60, "the login URL")
    return found.group(1).decode()


@pytest.fixture
def incident_root(tmp_path: Path) -> Path:
    """A data root with the sample incident (made before the browser's event loop runs)."""
    return data_root_with_incident(tmp_path)


@pytest.fixture
def colony(incident_root: Path, procs: Processes) -> RunningColony:
    return procs.colony(incident_root, "colony", "--offline-after", "3600")


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
        )
        yield chromium
        chromium.close()


def shot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if os.environ.get("CORAL_DASHBOARD_DOCS") == "1":
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, DOCS_IMAGES / f"dashboard-{name}.png")
    return path


def watch(page: Page, errors: list[str]) -> None:
    """Collect the page's script errors and failed requests into `errors`."""

    def failed(request: Request) -> None:
        # Chromium reports a fetch whose body a script read to its end in several
        # chunks with getReader() as aborted (microsoft/playwright#42742): the ask
        # box's stream. The tests check that the page read that answer to its end.
        if request.url.endswith("/ask") and request.failure == "net::ERR_ABORTED":
            return
        errors.append(f"failed: {request.url} ({request.failure})")

    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("requestfailed", failed)


def logged_in(browser: Browser, procs: Processes, colony: RunningColony) -> tuple[Page, list[str]]:
    """A page logged in with the colony's one-time URL; and the errors it will see."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    watch(page, errors)
    page.goto(login_url(procs))
    assert page.url == colony.url + "/"
    return page, errors


def overview_cost(page: Page, url: str) -> dict[str, Any]:
    """Bytes the overview transfers (document + scripts + styles) and its first render."""
    page.goto(url + "/", wait_until="load")
    return dict(
        page.evaluate(
            """() => {
            const nav = performance.getEntriesByType("navigation")[0];
            const res = performance.getEntriesByType("resource");
            const paint = performance.getEntriesByName("first-contentful-paint")[0];
            const bytes = [nav, ...res].reduce((n, e) => n + (e.transferSize || e.encodedBodySize || 0), 0);
            return {bytes, resources: res.length + 1,
                    first_render_ms: paint ? paint.startTime : nav.domContentLoadedEventEnd,
                    load_ms: nav.loadEventEnd};
        }"""
        )
    )


def test_without_a_session_every_page_answers_401_and_the_api_keeps_its_token(
    colony: RunningColony,
) -> None:
    wait_for(lambda: httpx2.get(colony.url + "/healthz", timeout=2).status_code == 200, 30)
    for path in ("/", "/services/api", "/timeline", "/investigations", "/static/app.js"):
        got = httpx2.get(colony.url + path, timeout=5)
        assert got.status_code == 401, path
        assert 'action="/login"' in got.text
    assert httpx2.post(colony.url + "/ask", json={"question": "x"}, timeout=5).status_code == 401
    assert httpx2.get(colony.url + "/api/v1/services", timeout=5).status_code == 401
    assert httpx2.get(colony.url + "/login", timeout=5).status_code == 200
    # The login form carries its own token (double submit): a form posted from
    # elsewhere, even with the right colony token, logs nobody in.
    forged = httpx2.post(colony.url + "/login", data={"token": colony.token}, timeout=5)
    assert forged.status_code == 403 and "coral_session" not in forged.headers.get("set-cookie", "")
    api = httpx2.get(colony.url + "/api/v1/services", headers=auth(colony.token), timeout=5)
    assert api.status_code == 200 and api.json()["total"] == 4


def test_a_logged_in_browser_walks_every_page_and_sees_the_incident(
    colony: RunningColony, procs: Processes, browser: Browser
) -> None:
    url = login_url(procs)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    watch(page, errors)
    requested: list[str] = []
    page.on("request", lambda req: requested.append(req.url))

    # The one-time URL logs in and lands on the overview; the cookie is HttpOnly, Strict.
    page.goto(url)
    assert page.url == colony.url + "/"
    (cookie,) = [c for c in context.cookies() if c["name"] == "coral_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"

    # Overview: the map shows the known edges with their connection counts, the
    # faulty service coloured as anomalous, and the latest investigation's headline.
    web_api = page.locator('svg.map g.edge[data-edge="web->api"]')
    assert web_api.locator("text").text_content() == "4"
    assert page.locator('svg.map g.edge[data-edge="api->db"] text').text_content() == "7"
    assert "anomaly" in (page.locator('g.node[data-service="api"]').get_attribute("class") or "")
    assert "bad_deploy in api" in page.locator("p.headline").inner_text()
    # Times are shown in the browser's zone, UTC on hover.
    first_time = page.locator("time").first
    assert (first_time.get_attribute("title") or "").endswith("Z (UTC)")
    shot(page, "overview")

    # Service: a chart of the anomalous metric marks the anomaly over a baseline band.
    page.click('g.node[data-service="api"]')
    page.wait_for_url(colony.url + f"/services/{ROOT_SERVICE}")
    chart = page.locator(f'svg.chart[data-metric="{ANOMALOUS_METRIC}"]')
    assert chart.locator("g.anomaly circle").count() >= 1
    assert chart.locator("rect.band").count() == 1
    assert chart.locator("line.event").count() >= 1  # the deploy
    assert "deploy" in page.locator("table").last.inner_text()
    # The version its deploy named (the replayed deploy says version=2.3.0).
    assert "version 2.3.0" in page.locator("p.facts").inner_text()
    assert page.get_by_role("link", name="db").count() >= 1  # its dependency
    shot(page, "service")

    # A range in the tools' relative form.
    page.fill("form.range input[name=range]", "now-15m")
    page.click("form.range button")
    page.wait_for_url(re.compile(r"range=now-15m"))
    assert page.locator("svg.chart").count() >= 1

    # Timeline, filtered to anomalies of one service.
    page.click("nav >> text=Timeline")
    page.select_option("select[name=kind]", "anomaly")
    page.wait_for_url(re.compile(r"kind=anomaly"))
    rows = page.locator("tr.anomaly-row")
    assert rows.count() >= 1 and "error_rate" in page.locator("table").inner_text()
    # An anomaly lasting longer than detection looks back (the incident's 20 minutes)
    # is one row, not one per detection run.
    cells = [row.split("\t") for row in rows.all_inner_texts()]
    per_series = [(c[1].strip(), c[3].split(":")[0].strip()) for c in cells]
    assert (ROOT_SERVICE, ANOMALOUS_METRIC) in per_series
    assert len(per_series) == len(set(per_series)), per_series
    assert page.locator("tr.warning, tr.critical, tr.info").count() == 0
    shot(page, "timeline")

    # Investigations: the ask box runs the builtin investigation on the colony.
    page.click("nav >> text=Investigations")
    page.fill("input[name=question]", "what happened?")
    page.click("#ask button")
    page.wait_for_function(
        "document.getElementById('answer').textContent.includes('Open this investigation')",
        timeout=60_000,
    )
    page.wait_for_function("!document.querySelector('#ask button').disabled")  # stream ended
    answer = page.locator("#answer").inner_text()
    assert ROOT_SERVICE in answer and "bad_deploy" in answer
    assert "Answered by builtin" in page.locator("#ask-status").inner_text()
    shot(page, "ask")
    page.click("#answer a")
    page.wait_for_url(re.compile(r"/investigations/inv-"))
    assert page.locator("section.hypothesis").count() >= 1
    top = page.locator("section.hypothesis").first.inner_text()
    for part in ("confidence", "Evidence", "Counter-evidence", "Recommendation"):
        assert part in top, part
    shot(page, "investigation")
    # The question is stored as a conversation, listed beside the investigations.
    page.click("nav >> text=Investigations")
    asked = page.locator("tr.conversation", has_text="what happened?").first
    assert "asked · builtin" in asked.inner_text()
    asked.locator("a").click()
    page.wait_for_url(re.compile(r"/investigations/ask-"))
    assert "bad_deploy" in page.locator("pre.answer").inner_text()

    # A POST without the CSRF token is refused, even from the logged-in page.
    status = page.evaluate(
        """() => fetch("/ask", {method: "POST", headers: {"Content-Type": "application/json"},
                  body: JSON.stringify({question: "what happened?"})}).then(r => r.status)"""
    )
    assert status == 403
    logout = page.evaluate('() => fetch("/logout", {method: "POST"}).then(r => r.status)')
    assert logout == 403
    # The login URL worked once only.
    assert httpx2.get(url, timeout=5).status_code == 401

    cost = overview_cost(page, colony.url)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "overview.json").write_text(json.dumps(cost))
    assert cost["bytes"] > 0 and cost["first_render_ms"] > 0

    # Logging out ends the session.
    page.click("header .logout button")
    page.wait_for_url(colony.url + "/login")
    assert page.request.get(colony.url + "/").status == 401
    assert errors == []
    # Air-gapped: every script, style and page came from the colony itself.
    assert requested and all(u.startswith(colony.url + "/") for u in requested), requested
    context.close()


def test_the_overview_shows_new_data_by_itself_without_a_reload(
    colony: RunningColony, procs: Processes, browser: Browser
) -> None:
    page, errors = logged_in(browser, procs, colony)
    page.goto(colony.url + "/?refresh=1")  # live refresh each second instead of 15
    page.evaluate("window.notReloaded = true")
    before = page.locator("p.headline a").get_attribute("href")
    # New data: an investigation, run over the REST API as an assistant would.
    got = httpx2.get(
        colony.url + "/api/v1/investigate",
        params={"question": "why is web slow?", "service": "web"},
        headers=auth(colony.token),
        timeout=60,
    )
    assert got.status_code == 200, got.text
    new_id = got.json()["id"]
    assert before != f"/investigations/{new_id}"
    page.wait_for_function(
        "id => document.querySelector('p.headline a').getAttribute('href')"
        " === '/investigations/' + id",
        arg=new_id,
        timeout=15_000,
    )
    assert page.evaluate("window.notReloaded") is True
    assert errors == []


def test_the_ask_box_shows_a_models_answer_while_it_streams(
    tmp_path: Path,
    incident_root: Path,
    procs: Processes,
    browser: Browser,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gate = threading.Event()
    opening = "Most likely the deploy of api (2.3.0) raised its error rate,"
    closing = "so roll api back to 2.2.5 and watch web recover."
    with FakeOpenAI([Held(f"{opening} {closing}", gate)]) as fake:
        config = tmp_path / "config.toml"
        config.write_text(f'[ask]\nprovider = "openai"\nbase_url = "{fake.base_url}"\n')
        monkeypatch.setenv("CORAL_CONFIG", str(config))
        monkeypatch.setenv("OPENAI_API_KEY", fake.key)
        colony = procs.colony(incident_root, "colony", "--offline-after", "3600")
        page, errors = logged_in(browser, procs, colony)
        page.click("nav >> text=Investigations")
        page.fill("input[name=question]", "what happened?")
        page.click("#ask button")

        # The first half of the model's answer shows while the model still writes.
        answer = page.locator("#answer")
        page.wait_for_function(
            "t => document.getElementById('answer').textContent.includes(t)",
            arg="Most likely",
            timeout=60_000,
        )
        partial = answer.inner_text()
        assert "recover." not in partial and "Open this" not in partial
        assert page.locator("#ask button").is_disabled()
        shot(page, "ask-streaming")
        gate.set()
        page.wait_for_function(
            "document.getElementById('answer').textContent.includes('Open this investigation')",
            timeout=60_000,
        )
        page.wait_for_function("!document.querySelector('#ask button').disabled")
        assert f"{opening} {closing}" in answer.inner_text()
        assert "Answered by openai" in page.locator("#ask-status").inner_text()
        # The model started from Coral's own investigation, read over the colony's MCP.
        (request,) = fake.requests
        first_result = next(m for m in request.body["messages"] if m["role"] == "tool")
        assert "bad_deploy" in first_result["content"]

        page.reload()
        asked = page.locator("tr.conversation", has_text="what happened?").first
        assert "asked · openai" in asked.inner_text()
        assert errors == []


def test_a_newcomer_opens_the_url_coral_up_prints_and_sees_this_hosts_services_in_a_minute(
    tmp_path: Path, procs: Processes, browser: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    name = f"shop-{port}"
    with monkeypatch.context() as env:  # a service of this host, listening on a port
        env.setenv("CORAL_SERVICE_NAME", name)
        procs.tcp_service("shop", port)
    procs.start(
        "up",
        coral_cmd(
            "up", "--data-dir", str(tmp_path / "coral"),
            "--grpc-port", str(free_port()), "--http-port", str(free_port()),
        ),
    )  # fmt: skip
    url = login_url(procs, "up")
    opened = time.monotonic()
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(url)
    # Default intervals (samples every 10 s, pushes every 15 s, the page refreshing
    # itself every 15 s): the service shows on the map by itself, with no reload.
    page.wait_for_selector(f'svg.map g.node[data-service="{name}"]', timeout=60_000)
    # The services come with the agent's registration, its stream a moment later (the
    # agent is "stale" in between): online within the same minute, with no reload.
    left_ms = max(1.0, 60 - (time.monotonic() - opened)) * 1000
    page.wait_for_function(
        "document.querySelector('p.counts').innerText.startsWith('1 online')", timeout=left_ms
    )
    assert time.monotonic() - opened < 60
    shot(page, "first-minute")
