"""Investigation time for 100 services x 24 h of 1-minute summaries.

Usage: python benchmarks/analysis_investigate.py [--services 100] [--hours 24] [--runs 15]

Builds a fan-out tree of services (5 metrics each, one summary a minute), injects a
latency fault into one leaf 30 minutes before the end (its callers slow down a minute
later), imports it through the colony's write path, then times `Intelligence.investigate`
over the last hour (the default), over the whole 24 h, and over the whole 24 h with the
symptom given (the root of the tree's latency: "why is svc000 slow?"): end to end
through the facade (recording included) and the engine's own time (reading and
analysis), with the process's CPU time beside the wall-clock time (on a shared machine
the CPU time is what the investigation itself costs). Reference, same run: reading the
range's series alone (no analysis).
Appends to RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from common import append_result

from coral_mcp.intelligence.facade import Intelligence
from coral_mcp.models import MetricSummary, SummaryWindow
from coral_mcp.storage import analysis_store as st
from coral_mcp.storage.ops import RegisterAgent, StoreSummaries, WriteOp
from coral_mcp.storage.store import ColonyStore
from coral_mcp.storage.writer import Writer

METRICS = ("cpu_percent", "rss_bytes", "fds", "latency_ms", "error_rate")
LEVELS = np.array([20.0, 2e8, 50.0, 40.0, 0.01])
T0 = 1_767_225_600
#: The top of the tree: every fault on the injected chain reaches it.
ROOT_NAME = "svc000"


def build(
    services: int, minutes: int, seed: int = 7
) -> tuple[list[WriteOp], list[tuple[str, str]], str]:
    rng = np.random.default_rng(seed)
    names = [f"svc{i:03d}" for i in range(services)]
    edges = [(names[(i - 1) // 3], names[i]) for i in range(1, services)]  # a 3-ary tree
    root = names[-1]
    chain = {root}
    node = services - 1
    while node > 0:
        node = (node - 1) // 3
        chain.add(names[node])
    values = LEVELS * (1 + 0.03 * rng.standard_normal((minutes, services, len(METRICS))))
    fault_at = minutes - 30
    for i, name in enumerate(names):
        if name in chain:
            lag = 0 if name == root else 1
            values[fault_at + lag :, i, 3] *= 4 if name == root else 2
    ops: list[WriteOp] = [RegisterAgent("bench", "bench", "bench", 1, "", (), T0 * 1000)]
    for m in range(minutes):
        start_ms = (T0 + m * 60) * 1000
        summaries = tuple(
            MetricSummary(name, metric, v, v, v, v, v, 1)
            for i, name in enumerate(names)
            for j, metric in enumerate(METRICS)
            for v in (float(values[m, i, j]),)
        )
        ops.append(
            StoreSummaries("bench", m + 1, SummaryWindow(start_ms, start_ms + 60_000, summaries))
        )
    return ops, edges, root


def read_only(store: ColonyStore, start: datetime, end: datetime) -> int:
    cur = store.reader()
    try:
        return len(st.load_series(cur, start, end))
    finally:
        cur.close()


async def measure(services: int, hours: int, runs: int) -> list[str]:
    minutes = hours * 60
    ops, edges, root = build(services, minutes)
    end_s = T0 + minutes * 60
    with tempfile.TemporaryDirectory() as tmp:
        store = ColonyStore(Path(tmp))
        writer = Writer(store)
        writer.start()
        try:
            started = time.perf_counter()
            await asyncio.gather(*(writer.write(op) for op in ops))
            seen = datetime.fromtimestamp(end_s, UTC)
            await writer.run(lambda: st.upsert_edges(store.reader(), edges, seen))
            load_s = time.perf_counter() - started
            intel = Intelligence(store, writer, clock=lambda: end_s)
            lines = [
                f"{services} services x {len(METRICS)} metrics x {minutes} min = "
                f"{services * len(METRICS) * minutes:,} summaries (import {load_s:.1f} s)"
            ]
            whole = datetime.fromtimestamp(T0, UTC)
            for label, start, service in (
                ("last hour", None, None),
                (f"whole {hours} h", whole, None),
                (f"whole {hours} h, symptom {ROOT_NAME} latency", whole, ROOT_NAME),
            ):
                times, engine_ms, cpu_ms, top = [], [], [], ""
                for _ in range(runs):
                    t, cpu = time.perf_counter(), time.process_time()
                    result = await intel.investigate(
                        start=start, service=service, metric="latency" if service else None
                    )
                    times.append((time.perf_counter() - t) * 1000)
                    cpu_ms.append((time.process_time() - cpu) * 1000)
                    engine_ms.append(result.duration_ms)
                    top = result.hypotheses[0].service if result.hypotheses else "none"
                lines.append(
                    f"investigate ({label}): median {statistics.median(times):.0f} ms, "
                    f"min {min(times):.0f} ms, max {max(times):.0f} ms over {runs} runs "
                    f"(engine alone: median {statistics.median(engine_ms):.0f} ms, max "
                    f"{max(engine_ms):.0f} ms; CPU time of the process: median "
                    f"{statistics.median(cpu_ms):.0f} ms); top hypothesis {top} (injected: {root})"
                )
            reads, read_cpu = [], []
            for _ in range(runs):
                t, cpu = time.perf_counter(), time.process_time()
                await asyncio.to_thread(read_only, store, whole, datetime.fromtimestamp(end_s, UTC))
                reads.append((time.perf_counter() - t) * 1000)
                read_cpu.append((time.process_time() - cpu) * 1000)
            lines.append(
                f"reference, reading the whole {hours} h of series alone: median "
                f"{statistics.median(reads):.0f} ms, min {min(reads):.0f} ms, max "
                f"{max(reads):.0f} ms over {runs} runs (CPU time median "
                f"{statistics.median(read_cpu):.0f} ms)"
            )
        finally:
            await writer.close()
            store.close()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--services", type=int, default=100)
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    lines = asyncio.run(measure(args.services, args.hours, args.runs))
    print(
        append_result(
            "Investigation time (analysis)",
            "python benchmarks/analysis_investigate.py"
            f" --services {args.services} --hours {args.hours} --runs {args.runs}",
            lines,
        )
    )


if __name__ == "__main__":
    main()
