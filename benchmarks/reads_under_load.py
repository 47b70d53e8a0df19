"""MCP tool latency while 1,000 agents push: reads must not queue behind ingestion.

One process tree: a real colony process, and this process running N simulated agents
(the real gRPC protocol, as in `colony_load.py`: 10 services x 20 series each, a summary
batch plus a service batch every 15 s, staggered) and a real MCP client (fastmcp over
streamable HTTP, with the colony's token) that calls every read tool in turn. Each tool's
latency is measured under load, then — same run, same data — after the agents fall
quiet (the reference).

    python benchmarks/reads_under_load.py [--agents 1000] [--warmup 30] [--measure 60]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc
import psutil
from fastmcp import Client

sys.path.insert(0, str(Path(__file__).resolve().parent))
from colony_load import CHANNELS, SimAgent, Stats
from common import append_result, running_colony

#: The read tools and their arguments (query_agent needs a live agent: not here).
CALLS: dict[str, dict[str, Any]] = {
    "list_services": {"limit": 10},
    "get_service": {"name": "a7-svc3"},
    "list_metrics": {"service": "a7-svc3"},
    "query_metrics": {"service": "a7-svc3", "metric": "m5", "start": "10m"},
    "get_events": {"start": "1h"},
    "get_topology": {"service": "a7-svc3", "depth": 1},
    "colony_status": {},
    "find_anomalies": {"start": "1h"},
    "get_baselines": {},
    "get_correlations": {},
}
#: The one analysis tool: seconds, not milliseconds, on a colony this size; timed apart
#: (in the loop it would take most of the time and starve the other samples).
INVESTIGATE = {"question": "what happened?", "start": "10m"}


class LoopLag:
    """How late this process's own event loop wakes (ms): the reader shares its loop with
    the simulated agents, so its figures are the colony's only while this stays small."""

    def __init__(self) -> None:
        self.late_ms: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            began = time.perf_counter()
            await asyncio.sleep(0.01)
            self.late_ms.append((time.perf_counter() - began - 0.01) * 1000)

    def start(self) -> None:
        self.late_ms = []
        self._task = asyncio.create_task(self._run())

    def stop(self) -> str:
        if self._task is not None:
            self._task.cancel()
        late = sorted(self.late_ms) or [float("nan")]
        p99 = late[int(0.99 * (len(late) - 1))]
        return f"p50 {statistics.median(late):.1f} ms, p99 {p99:.1f} ms"


def phase(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


async def read_for(client: Client, seconds: float) -> dict[str, list[float]]:
    """Call every tool in turn for `seconds`; latencies in ms per tool."""
    times: dict[str, list[float]] = {name: [] for name in CALLS}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for name, arguments in CALLS.items():
            began = time.perf_counter()
            await client.call_tool(name, arguments, raise_on_error=False)
            times[name].append((time.perf_counter() - began) * 1000)
    return times


async def cpu_per_call(client: Client, colony: psutil.Process, calls: int) -> dict[str, float]:
    """The colony's CPU time (user + system, ms) per call of each tool, quiet: what a
    call costs the colony whatever else runs on the machine."""
    spent = {}
    for name, arguments in CALLS.items():
        before = sum(colony.cpu_times()[:2])
        for _ in range(calls):
            await client.call_tool(name, arguments, raise_on_error=False)
        spent[name] = (sum(colony.cpu_times()[:2]) - before) * 1000 / calls
    return spent


def p95(values: list[float]) -> float:
    """Nearest-rank 95th percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


async def investigate_ms(client: Client, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        await client.call_tool("investigate", INVESTIGATE, raise_on_error=False)
        times.append((time.perf_counter() - began) * 1000)
    return times


def table(
    loaded: dict[str, list[float]], idle: dict[str, list[float]], cpu: dict[str, float]
) -> list[str]:
    lines = []
    for name in CALLS:
        a, b = loaded[name], idle[name]
        lines.append(
            f"{name}: under load p50 {statistics.median(a):.1f} ms, p95 {p95(a):.1f} ms"
            f" ({len(a)} calls); quiet p50 {statistics.median(b):.1f} ms, p95 {p95(b):.1f} ms;"
            f" p95 ratio {p95(a) / p95(b):.2f}; colony CPU per call {cpu[name]:.1f} ms"
        )
    return lines


async def run(
    args: argparse.Namespace, grpc_port: int, mcp_url: str, token: str, colony: psutil.Process
) -> list[str]:
    channels = [grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") for _ in range(CHANNELS)]
    stats, stop = Stats(), asyncio.Event()
    agents, tasks = [], []
    for i in range(args.agents):
        agent = SimAgent(i, channels[i % CHANNELS], stats, token)
        ready = asyncio.Event()
        agents.append(agent)
        tasks.append(asyncio.create_task(agent.run(stop, ready)))
        await ready.wait()
    phase(f"{args.agents} agents connected; warming up {args.warmup:g} s")
    await asyncio.sleep(args.warmup)
    lag = LoopLag()
    async with Client(mcp_url, auth=token) as client:
        phase("reading under load")
        stats.reset()
        began = time.monotonic()
        lag.start()
        loaded = await read_for(client, args.measure)
        lag_loaded = lag.stop()
        points_per_s = stats.points / (time.monotonic() - began)
        lat = sorted(stats.latencies_ms) or [float("nan")]
        analysis_loaded = await investigate_ms(client, args.investigate)
        for agent in agents:
            agent.interval_s = 3600.0  # quiet after their current push
        phase("agents falling quiet")
        await asyncio.sleep(20)
        phase("reading quiet")
        lag.start()
        idle = await read_for(client, args.measure / 2)
        lag_idle = lag.stop()
        cpu = await cpu_per_call(client, colony, 20)
        analysis_idle = await investigate_ms(client, args.investigate)
        phase("done")
    stop.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for channel in channels:
        await channel.close()
    worst = max(p95(loaded[name]) for name in CALLS)
    return [
        f"{args.agents} agents every 15 s: committed {points_per_s:,.0f} points/s while"
        f" reading; push-to-commit p50 {statistics.median(lat):.1f} ms,"
        f" p99 {lat[int(0.99 * (len(lat) - 1))]:.1f} ms",
        *table(loaded, idle, cpu),
        f"investigate ({args.investigate} calls each): under load"
        f" {statistics.median(analysis_loaded or [math.nan]):.0f} ms median,"
        f" quiet {statistics.median(analysis_idle or [math.nan]):.0f} ms",
        f"the reader's own event loop (shared with the simulated agents) woke late by"
        f" {lag_loaded} under load; {lag_idle} quiet",
        f"worst p95 under load, every tool but investigate: {worst:.1f} ms (target <= 100 ms)",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--warmup", type=float, default=30.0)
    parser.add_argument("--measure", type=float, default=60.0)
    parser.add_argument("--investigate", type=int, default=3, help="investigate calls per phase")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, running_colony(tmp) as colony:
        process = psutil.Process(colony.proc.pid)
        cpu0 = sum(process.cpu_times()[:2])
        began = time.monotonic()
        mcp_url = f"http://127.0.0.1:{colony.http_port}/mcp"
        lines = asyncio.run(run(args, colony.grpc_port, mcp_url, colony.token, process))
        cpu = 100 * (sum(process.cpu_times()[:2]) - cpu0) / (time.monotonic() - began)
        lines.append(f"colony CPU over the whole run: {cpu:.0f} % of one core")
    print(
        append_result(
            "MCP reads under write load",
            f"python benchmarks/reads_under_load.py --agents {args.agents}"
            f" --warmup {args.warmup:g} --measure {args.measure:g}"
            f" --investigate {args.investigate}",
            lines,
        )
    )


if __name__ == "__main__":
    main()
