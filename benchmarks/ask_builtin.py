"""`coral ask` end to end with the builtin provider, against a colony of 100 services.

Usage: python benchmarks/ask_builtin.py [--services 100] [--hours 24] [--runs 10]

Builds the analysis benchmark's colony (a 3-ary tree of services, 5 metrics each, one
summary a minute, a latency fault in one leaf 30 minutes before the end), registers the
services, starts a real colony (ColonyDaemon: DuckDB, REST, MCP) on it, then times the
installed `coral ask "what happened?" --json` as a fresh process, end to end: Python
start, imports, MCP session, the investigation, rendering, storing the conversation.
References measured in the same run: `coral --version` (the process floor) and the
investigate tool alone over MCP. Also times `coral-mcp serve` start-up (spawn to an
answered tools/list) as installed, where the LLM SDKs are never imported, against the
same with `anthropic` and `openai` imported first, as an eager import would. Appends to
RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import mcp
from analysis_investigate import build
from common import append_result
from mcp.client.stdio import StdioServerParameters

from coral_mcp.colony.daemon import ColonyDaemon
from coral_mcp.config import ColonySettings
from coral_mcp.models.topology import ServiceState
from coral_mcp.storage import analysis_store as st
from coral_mcp.storage.ops import RegisterAgent
from coral_mcp.storage.store import ColonyStore
from coral_mcp.storage.writer import Writer

BIN = Path(sys.executable).parent
EAGER = (
    "import sys, anthropic, openai; from coral_mcp.cli.mcp_main import coral_mcp;"
    " sys.argv[0] = 'coral-mcp'; coral_mcp()"
)


async def load(data_dir: Path, services: int, hours: int) -> tuple[float, str]:
    ops, edges, root = build(services, hours * 60)
    end_s = 1_767_225_600 + hours * 3600
    store = ColonyStore(data_dir)
    writer = Writer(store)
    writer.start()
    try:
        await asyncio.gather(*(writer.write(op) for op in ops))
        names = sorted({a for e in edges for a in e})
        states = tuple(ServiceState(n, f"name:{n}", (1000 + i,), ()) for i, n in enumerate(names))
        await writer.write(RegisterAgent("bench", "bench", "bench", 1, "", states, end_s * 1000))
        await writer.run(lambda: st.upsert_edges(store.reader(), edges, _at(end_s)))
    finally:
        await writer.close()
        store.close()
    return end_s, root


def _at(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, UTC)


def serve_colony(data_dir: Path, end_s: float) -> tuple[str, Callable[[], None]]:
    ready, holder = threading.Event(), {}

    async def main() -> None:
        stop = asyncio.Event()
        settings = ColonySettings(data_dir, grpc_port=0, http_port=0, require_token=False)
        daemon = await ColonyDaemon.open(settings, clock=lambda: end_s)
        holder.update(url=daemon.http_url, stop=stop, loop=asyncio.get_running_loop())
        ready.set()
        await stop.wait()
        await daemon.close()

    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    thread.start()
    ready.wait(120)

    def close() -> None:
        holder["loop"].call_soon_threadsafe(holder["stop"].set)  # type: ignore[attr-defined]
        thread.join(30)

    return str(holder["url"]), close


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    t = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    return (time.perf_counter() - t) * 1000, done.stdout


async def tool_alone(url: str, runs: int) -> list[float]:
    times = []
    async with mcp.Client(url + "/mcp") as client:
        for _ in range(runs):
            t = time.perf_counter()
            await client.call_tool("investigate", {"question": "what happened?", "start": "1h"})
            times.append((time.perf_counter() - t) * 1000)
    return times


async def serve_startup(url: str, eager: bool) -> float:
    args = ["-c", EAGER, "serve", "--colony", url] if eager else []
    command = sys.executable if eager else str(BIN / "coral-mcp")
    params = StdioServerParameters(
        command=command, args=args or ["serve", "--colony", url], env={"CORAL_HOME": "/nonexistent"}
    )
    t = time.perf_counter()
    async with mcp.Client(params) as client:
        await client.list_tools()
        return (time.perf_counter() - t) * 1000


def summary(label: str, times: list[float]) -> str:
    return (
        f"{label}: median {statistics.median(times):.0f} ms, min {min(times):.0f} ms,"
        f" max {max(times):.0f} ms over {len(times)} runs"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--services", type=int, default=100)
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "colony"
        data.mkdir()
        t = time.perf_counter()
        end_s, root = asyncio.run(load(data, args.services, args.hours))
        load_s = time.perf_counter() - t
        url, close = serve_colony(data, end_s)
        env = {"CORAL_CONFIG": str(Path(tmp) / "none.toml"), "PATH": str(BIN), "HOME": tmp}
        try:
            floor = [timed([str(BIN / "coral"), "--version"], env)[0] for _ in range(args.runs)]
            ask, top = [], ""
            for _ in range(args.runs):
                ms, out = timed(
                    [str(BIN / "coral"), "ask", "what happened?", "--json", "--colony", url], env
                )
                ask.append(ms)
                top = json.loads(out)["hypotheses"][0]["service"]
            alone = asyncio.run(tool_alone(url, args.runs))
            lazy = [asyncio.run(serve_startup(url, False)) for _ in range(args.runs)]
            eager = [asyncio.run(serve_startup(url, True)) for _ in range(args.runs)]
        finally:
            close()
    lines = [
        f"colony: {args.services} services x 5 metrics x {args.hours} h of 1-minute summaries"
        f" (loaded in {load_s:.0f} s)",
        summary('`coral ask "what happened?" --json` (fresh process, end to end)', ask)
        + f"; top hypothesis {top} (injected: {root}); target <= 1000 ms",
        summary("reference, `coral --version` (fresh process)", floor),
        summary("reference, the investigate tool alone over MCP (warm client)", alone),
        summary(
            "`coral-mcp serve` start-up to tools/list, as installed (no LLM SDK imported)", lazy
        ),
        summary("same with anthropic + openai imported first (what eager imports cost)", eager),
        f"machine load (1-minute average) {load_before:.1f} at the start,"
        f" {os.getloadavg()[0]:.1f} at the end (2 cores; other work on the machine counts)",
    ]
    command = (
        f"python benchmarks/ask_builtin.py --services {args.services} --hours {args.hours}"
        f" --runs {args.runs}"
    )
    print(append_result("coral ask, builtin provider, end to end", command, lines))


if __name__ == "__main__":
    main()
