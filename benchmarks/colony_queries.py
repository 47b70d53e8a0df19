"""Summary-query latency on a colony holding days of history for many services.

Fills a fresh colony store the way ingestion lays it out (time-ordered raw summaries:
services x 20 metrics, one window per 15 s), registers the services, their sockets and
a dependency graph, rolls up hourly as the colony's maintenance does, then times the
queries behind the MCP tools (through the same store code the colony runs):

- query_metrics: one series over the last hour (60 s buckets), the last 24 h and the
  last 7 days (both hourly, served by roll-ups plus the raw tail);
- get_topology and list_services;

then the tools themselves as the colony runs them (StoreQueries over the same store,
the colony's clock at the end of the history): colony_status, get_service,
get_topology around a service and whole, list_services, list_metrics; with the size of
each result as sent (compact JSON).

    python benchmarks/colony_queries.py [--services 1000] [--days 7] [--runs 50]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
from pydantic import BaseModel

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import append_result

from coral_mcp.colony.ingest import Ingest
from coral_mcp.colony.queries import StoreQueries
from coral_mcp.intelligence.facade import Intelligence
from coral_mcp.models import Endpoint, Peer, ServiceBatch, ServiceState
from coral_mcp.storage.ops import RegisterAgent, StoreServices
from coral_mcp.storage.retention import Retention
from coral_mcp.storage.store import ColonyStore
from coral_mcp.storage.writer import Writer
from coral_mcp.tools import colony, service_detail, topology
from coral_mcp.tools import services as services_tool
from coral_mcp.tools.catalog import as_json

METRICS = 20
WINDOW_S = 15
END = datetime(2026, 11, 8, tzinfo=UTC)


def fill(data_dir: Path, services: int, days: float) -> float:
    """Write the history; return seconds taken."""
    store = ColonyStore(data_dir)
    store.close()
    conn = duckdb.connect(str(data_dir / "colony.duckdb"))
    start = END - timedelta(days=days)
    windows = int(days * 86400 / WINDOW_S)
    # About 30 M rows per statement, in time order as ingested.
    chunk = max(1, 30_000_000 // (services * METRICS))
    began = time.monotonic()
    for first in range(0, windows, chunk):
        last = min(windows, first + chunk)
        conn.execute(
            f"""
            INSERT INTO metric_summaries
            SELECT 'agent-' || (svc // 10), 'svc-' || svc, 'm' || m,
                   ?::TIMESTAMP + to_seconds(w * {WINDOW_S}),
                   ?::TIMESTAMP + to_seconds(w * {WINDOW_S} + {WINDOW_S}),
                   v - 1, v + 1, v, v, v + 0.5, 15
            FROM (SELECT w, svc, m, (svc * 7 + m * 3 + (w % 240))::DOUBLE AS v
                  FROM range({first}, {last}) r(w), range({services}) s(svc),
                       range({METRICS}) mm(m))
            ORDER BY w, svc, m
            """,
            [start.replace(tzinfo=None)] * 2,
        )
        print(f"  filled {last}/{windows} windows", file=sys.stderr, flush=True)
    tables = {row[0] for row in conn.execute("SHOW TABLES").fetchall()}
    if "series_latest" in tables:  # what ingestion keeps up to date as it writes
        conn.execute(LATEST_OF_HISTORY, [(END - timedelta(days=1)).replace(tzinfo=None)])
    conn.close()
    return time.monotonic() - began


#: series_latest for the filled history, as the colony would have left it (a fresh
#: store: the table is empty).
LATEST_OF_HISTORY = """
INSERT INTO series_latest
WITH hours AS (
    SELECT service, metric, date_trunc('hour', window_start) AS hour,
           arg_max(last, window_end) AS last, max(window_end) AS window_end,
           sum(avg * count) AS weighted, sum(count)::BIGINT AS count,
           min(min) AS min, max(max) AS max
    FROM metric_summaries WHERE window_end >= ? GROUP BY ALL
), newest AS (SELECT service, metric, max(hour) AS hour FROM hours GROUP BY ALL)
SELECT h.service, h.metric, h.last, h.window_end, h.hour, h.weighted, h.count, h.min, h.max,
       coalesce(p.weighted, 0), coalesce(p.count, 0), p.min, p.max
FROM newest n
JOIN hours h USING (service, metric, hour)
LEFT JOIN hours p ON p.service = n.service AND p.metric = n.metric
                 AND p.hour = n.hour - INTERVAL 1 HOUR
"""


def register(store: ColonyStore, services: int) -> None:
    """Services with listening sockets and ~2 dependencies each (a layered graph)."""
    now_ms = int(END.timestamp() * 1000)
    rng = random.Random(7)
    by_agent: dict[int, list[ServiceState]] = {}
    for svc in range(services):
        callees = {rng.randrange(svc + 1, services) for _ in range(2) if svc + 1 < services}
        peers = tuple(Peer(Endpoint(f"10.0.{c // 250}.{c % 250}", 8000), 3) for c in callees)
        state = ServiceState(
            f"svc-{svc}",
            "auto",
            (1000 + svc,),
            (Endpoint(f"10.0.{svc // 250}.{svc % 250}", 8000),),
            peers,
        )
        by_agent.setdefault(svc // 10, []).append(state)
    ops = []
    for agent, states in by_agent.items():
        ops.append(
            RegisterAgent(f"agent-{agent}", f"host-{agent}", "bench", 1, "bench", (), now_ms)
        )
        ops.append(StoreServices(f"agent-{agent}", 1, ServiceBatch(now_ms, tuple(states))))
    store.apply(ops)


def timed(fn: object, runs: int) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        fn()  # type: ignore[operator]
        samples.append((time.perf_counter() - began) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(0.95 * (len(samples) - 1))]


def time_tools(store: ColonyStore, services: int, runs: int) -> list[str]:
    """Each tool's latency (p50, p95) and result size, through the colony's read side."""
    writer = Writer(store)
    clock = END.timestamp
    queries = StoreQueries(
        store,
        Ingest(store, writer, 30, 120, clock=clock),
        Retention(),
        Intelligence(store, writer, clock=clock),
        clock=clock,
    )
    rng = random.Random(2)

    def svc() -> str:
        return f"svc-{rng.randrange(services)}"

    calls: dict[str, Callable[[], Awaitable[BaseModel]]] = {
        "colony_status": lambda: colony.colony_status(queries),
        "get_service": lambda: service_detail.get_service(queries, svc()),
        "get_topology around a service (depth 1)": lambda: topology.get_topology(queries, svc(), 1),
        "get_topology whole": lambda: topology.get_topology(queries),
        "list_services (limit 50)": lambda: services_tool.list_services(queries, 50),
        "list_metrics (24 h)": lambda: service_detail.list_metrics(queries, svc()),
    }

    async def measure() -> list[str]:
        lines = []
        for label, call in calls.items():
            samples, size = [], 0
            for _ in range(runs):
                began = time.perf_counter()
                result = await call()
                samples.append((time.perf_counter() - began) * 1000)
                size = max(size, len(as_json(result).encode()))
            samples.sort()
            p50, p95 = statistics.median(samples), samples[int(0.95 * (len(samples) - 1))]
            lines.append(
                f"tool {label}: p50 {p50:.1f} ms, p95 {p95:.1f} ms; result {size / 1024:.1f} KiB"
            )
            print(lines[-1], file=sys.stderr, flush=True)
        return lines

    return asyncio.run(measure())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--tool-runs", type=int, default=20, help="calls per tool")
    parser.add_argument("--keep", type=Path, help="fill into this directory and keep it")
    parser.add_argument(
        "--reuse", action="store_true", help="with --keep: use the history already there"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=args.keep.parent if args.keep else None) as tmp:
        data_dir = args.keep or Path(tmp)
        data_dir.mkdir(parents=True, exist_ok=True)
        reuse = args.reuse and (data_dir / "colony.duckdb").exists()
        fill_s = 0.0 if reuse else fill(data_dir, args.services, args.days)
        store = ColonyStore(data_dir)
        if not reuse:
            register(store, args.services)
        began = time.monotonic()
        store.maintain(END - timedelta(minutes=30), Retention(raw_days=args.days + 1))
        rollup_s = time.monotonic() - began
        rows = store.reader().execute("SELECT count(*) FROM metric_summaries").fetchone()
        disk = store.disk_bytes()

        def series_queries(seed: int) -> dict[str, tuple[float, float]]:
            rng = random.Random(seed)

            def series(span: timedelta, step: int) -> None:
                svc = rng.randrange(args.services)
                points = store.metric_series(
                    f"svc-{svc}", f"m{rng.randrange(METRICS)}", END - span, END, step
                )
                assert points

            return {
                "query_metrics 1 h, 60 s buckets": timed(
                    lambda: series(timedelta(hours=1), 60), args.runs
                ),
                "query_metrics 24 h, hourly": timed(
                    lambda: series(timedelta(hours=24), 3600), args.runs
                ),
                "query_metrics 7 d, hourly": timed(
                    lambda: series(timedelta(days=7), 3600), args.runs
                ),
            }

        # The same queries on the rows as ingestion laid them out, then after the
        # colony's compaction has rewritten them in series order (same data, same run).
        as_ingested = series_queries(1)
        began = time.monotonic()
        compacted = store.compact(END, since=END - timedelta(days=args.days))
        compact_s = time.monotonic() - began
        after = series_queries(1)
        results = {
            "get_topology": timed(lambda: store.topology(END), args.runs),
            "list_services": timed(lambda: store.services(END), args.runs),
        }
        tools = time_tools(store, args.services, args.tool_runs)
        store.close()

    lines = [
        f"data: {args.services} services x {METRICS} metrics x {args.days:g} days of 15 s"
        f" summaries = {rows[0] if rows else 0:,} raw rows, {disk / 2**30:.2f} GiB on disk"
        f" (filled in {fill_s:.0f} s; hourly roll-up of it all {rollup_s:.1f} s;"
        f" compaction of it all {compact_s:.1f} s, {compacted:,} rows rewritten)",
        *(
            f"{name}: as ingested p50 {a[0]:.1f} ms, p95 {a[1]:.1f} ms;"
            f" compacted p50 {after[name][0]:.1f} ms, p95 {after[name][1]:.1f} ms"
            for name, a in as_ingested.items()
        ),
        *(f"{name}: p50 {p50:.1f} ms, p95 {p95:.1f} ms" for name, (p50, p95) in results.items()),
        *tools,
        "target: summary queries p95 <= 100 ms",
    ]
    print(
        append_result(
            "Colony summary queries",
            f"python benchmarks/colony_queries.py --services {args.services} --days {args.days:g}"
            f" --runs {args.runs} --tool-runs {args.tool_runs}",
            lines,
        )
    )


if __name__ == "__main__":
    main()
