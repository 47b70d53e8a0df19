"""The dashboard overview's page weight and first render, in Debian's headless Chromium.

Starts a real colony on a data dir holding the browser test's sample incident (four
services, two edges, anomalies, investigations; tests/dashboard/sample_data.py), logs
in with the printed one-time URL, then loads the overview `--runs` times, each in a
fresh browser context (cold cache: the page, its script and its style all transfer).
Page weight is the bytes transferred for the page and everything it loads; first
render is the browser's first-contentful-paint. The reference, measured in the same
run and browser, is the login page (a static 1 KB page with inline style). Then it
times the ask box (builtin provider, "what happened?"): to the first text of the
streamed answer, and to the whole answer.

    python benchmarks/dashboard_overview.py [--runs 20] [--asks 5]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import append_result, free_port, stop_processes
from playwright.sync_api import Browser, sync_playwright

from tests.dashboard.sample_data import data_root_with_incident

BIN = Path(sys.executable).parent
MEASURE = """() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const res = performance.getEntriesByType("resource");
  const paint = performance.getEntriesByName("first-contentful-paint")[0];
  return {bytes: [nav, ...res].reduce((n, e) => n + e.transferSize, 0),
          resources: res.length + 1, fcp_ms: paint ? paint.startTime : null,
          server_ms: nav.responseStart - nav.requestStart};
}"""


# Submit the ask box; resolve with the time to the first answer text and to the whole
# answer (its link), as the page saw them.
ASK = """() => new Promise(resolve => {
  const out = document.getElementById("answer");
  const t0 = performance.now();
  let first = null;
  const seen = new MutationObserver(() => {
    if (first === null && out.textContent) first = performance.now() - t0;
    if (out.querySelector("a")) {
      seen.disconnect();
      resolve({first_ms: first, done_ms: performance.now() - t0});
    }
  });
  seen.observe(out, {childList: true, characterData: true, subtree: true});
  document.querySelector("#ask button").click();
})"""


def ask_times(browser: Browser, url: str, session: list[Any], runs: int) -> list[dict[str, Any]]:
    """`runs` asks of "what happened?" in the ask box of the investigations page."""
    context = browser.new_context()
    context.add_cookies(session)
    page = context.new_page()
    page.goto(url, wait_until="load")
    times = []
    for _ in range(runs):
        page.fill("input[name=question]", "what happened?")
        times.append(dict(page.evaluate(ASK)))
    context.close()
    return times


def load(browser: Browser, url: str, session: list[Any] | None) -> dict[str, Any]:
    context = browser.new_context()
    if session:
        context.add_cookies(session)
    page = context.new_page()
    page.goto(url, wait_until="load")
    page.wait_for_function("performance.getEntriesByName('first-contentful-paint').length > 0")
    got = dict(page.evaluate(MEASURE))
    context.close()
    return got


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--asks", type=int, default=5, help="ask box questions to time")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = data_root_with_incident(Path(tmp))
        http_port = free_port()
        err = Path(tmp) / "colony.err"
        command = [
            *(str(BIN / "coral"), "colony", "start", "--data-dir", str(data_dir)),
            *("--grpc-port", str(free_port()), "--http-port", str(http_port)),
            *("--offline-after", "3600"),
        ]
        with err.open("wb") as stderr:
            procs = [subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)]
        try:
            deadline = time.monotonic() + 60
            while not (found := re.search(rb"login URL\): (\S+)", err.read_bytes())):
                if time.monotonic() > deadline:
                    sys.exit(f"the colony printed no login URL:\n{err.read_text()}")
                time.sleep(0.2)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(
                    executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
                )
                context = browser.new_context()
                page = context.new_page()
                page.goto(found.group(1).decode())
                session = context.cookies()
                context.close()
                base = f"http://127.0.0.1:{http_port}"
                load(browser, base + "/", session)  # warm the colony's caches once
                overview = [load(browser, base + "/", session) for _ in range(args.runs)]
                login = [load(browser, base + "/login", None) for _ in range(args.runs)]
                asked = ask_times(browser, base + "/investigations", session, args.asks)
                browser.close()
        finally:
            stop_processes(procs)

    def p50_max(values: list[float]) -> str:
        return f"p50 {statistics.median(values):.0f} ms, max {max(values):.0f} ms"

    lines = []
    for name, runs in (("overview", overview), ("reference: login page", login)):
        fcp = [r["fcp_ms"] for r in runs]
        server = statistics.median(r["server_ms"] for r in runs)
        lines.append(
            f"{name}: {runs[0]['bytes'] / 1024:.1f} KiB in {runs[0]['resources']} requests;"
            f" first render {p50_max(fcp)};"
            f" server time p50 {server:.0f} ms ({len(runs)} cold loads)"
        )
    first = [a["first_ms"] for a in asked]
    whole = [a["done_ms"] for a in asked]
    lines.append(
        f"ask box, builtin provider, 'what happened?' (streamed): first answer text"
        f" {p50_max(first)}; whole answer {p50_max(whole)} ({len(asked)} asks)"
    )
    print(
        append_result(
            "Dashboard overview: page weight and first render (headless Chromium)",
            f"python benchmarks/dashboard_overview.py --runs {args.runs} --asks {args.asks}",
            lines,
        )
    )


if __name__ == "__main__":
    main()
