"""What the SDK costs the application it is in.

1. One health evaluation of three trivial checks (`Components.evaluate()` with no
   reuse window): the time the SDK's endpoint thread spends per agent request.
   Reference in the same run: calling the three checks directly, one after another.
2. One full request as the agent makes it: connect to the Unix socket, GET the info
   document, read and parse it (the same three checks evaluated).
3. The request path: calls of a trivial ASGI app through `CoralMiddleware` against
   calls of the same app bare (the WSGI helper returns the app itself: nothing added).
4. Memory: RSS of a bare interpreter against one that imported and started the SDK.
5. Where the slow evaluations' time went: a second pass of evaluations, each with the
   CPU time this process used (all threads), the time its threads spent runnable but
   waiting for a CPU (run-queue wait, `/proc/self/task/*/schedstat`, read between
   evaluations) and whether the garbage collector ran. An evaluation that is slow while
   its CPU time is small and its run-queue wait fills the gap waited for the machine,
   not for the SDK.

    python benchmarks/sdk_overhead.py [--evaluations 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import append_result

from coral_mcp import sdk
from coral_mcp.agent.collectors.sdk import SdkProbe
from coral_mcp.sdk.asgi import CoralMiddleware
from coral_mcp.sdk.components import Components

CHECKS: dict[str, Callable[[], object]] = {
    "db": lambda: True,
    "cache": lambda: None,
    "queue": lambda: (True, "3 consumers"),
}


COMMON = "import logging, json, dataclasses, typing, concurrent.futures"
STARTED = (
    "from coral_mcp import sdk; sdk.init(service='x', components={'a': lambda: 1}); sdk.info()"
)


def timed_us(call: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        out.append((time.perf_counter() - start) * 1e6)
    return out


def describe(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[int(len(ordered) * 0.99) - 1]
    return f"median {statistics.median(ordered):.1f} µs, p99 {p99:.1f} µs"


def runqueue_wait_ns() -> int:
    """Time this process's threads have spent runnable but not running, summed."""
    total = 0
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/schedstat") as stats:
                total += int(stats.read().split()[1])
        except (FileNotFoundError, ProcessLookupError):
            continue  # a thread that ended meanwhile
    return total


@dataclass(frozen=True, slots=True)
class Attributed:
    wall_us: float
    cpu_us: float
    runqueue_us: float
    collected: bool


def attributed(call: Callable[[], object], n: int) -> list[Attributed]:
    collections = [0]

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections[0] += 1

    gc.callbacks.append(count)
    out = []
    try:
        for _ in range(n):
            waited, gcs, cpu = runqueue_wait_ns(), collections[0], time.process_time_ns()
            start = time.perf_counter_ns()
            call()
            wall = time.perf_counter_ns() - start
            cpu = time.process_time_ns() - cpu
            out.append(
                Attributed(wall / 1e3, cpu / 1e3, (runqueue_wait_ns() - waited) / 1e3,
                           collections[0] > gcs)
            )  # fmt: skip
    finally:
        gc.callbacks.remove(count)
    return out


def where_the_tail_went(samples: list[Attributed], over_us: float = 1000) -> list[str]:
    slow = [s for s in samples if s.wall_us > over_us]
    cpu = sorted(s.cpu_us for s in samples)
    wall = sorted(s.wall_us for s in samples)
    unwaited = sorted(max(s.wall_us - s.runqueue_us, s.cpu_us) for s in samples)
    lines = [
        f"attribution pass ({len(samples)} evaluations): wall {describe(wall)};"
        f" CPU time of the whole process per evaluation {describe(cpu)}; wall less the"
        f" threads' run-queue wait (never below the CPU time) {describe(unwaited)}",
    ]
    if not slow:
        return [*lines, f"no evaluation over {over_us:.0f} µs in this pass"]
    waited = [s for s in slow if s.wall_us - s.runqueue_us < over_us]
    costly = [s for s in slow if s.cpu_us >= over_us]
    collected = [s for s in slow if s.collected]
    worst = max(slow, key=lambda s: s.wall_us)
    lines.append(
        f"of its {len(slow)} evaluations over {over_us:.0f} µs: {len(waited)} are under"
        f" {over_us:.0f} µs once their threads' run-queue wait is taken out (they waited"
        f" for a CPU); {len(costly)} used ≥ {over_us:.0f} µs of CPU; {len(collected)} had a"
        f" garbage collection; slowest {worst.wall_us:.0f} µs wall = {worst.cpu_us:.0f} µs"
        f" CPU, {worst.runqueue_us:.0f} µs run-queue wait"
    )
    return lines


def rss_kib(code: str) -> int:
    probe = code + "\nprint(open('/proc/self/status').read())"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    line = next(x for x in out.stdout.splitlines() if x.startswith("VmRSS:"))
    return int(line.split()[1])


def request_path(n: int) -> tuple[list[float], list[float]]:
    async def app(scope: object, receive: object, send: object) -> None:
        return None

    wrapped = CoralMiddleware(app, service="bench")  # type: ignore[arg-type]
    scope = {"type": "http", "path": "/"}

    async def measure(target: Callable[..., object]) -> list[float]:
        out = []
        for _ in range(n):
            start = time.perf_counter()
            await target(scope, None, None)  # type: ignore[misc]
            out.append((time.perf_counter() - start) * 1e9)
        return out

    async def both() -> tuple[list[float], list[float]]:
        return await measure(app), await measure(wrapped)

    return asyncio.run(both())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--evaluations", type=int, default=5000)
    args = parser.parse_args()
    n = args.evaluations
    load = os.getloadavg()[0]

    direct = timed_us(lambda: [check() for check in CHECKS.values()], n)
    with ThreadPoolExecutor(3) as pool:
        pool.submit(int).result()
        handoff = timed_us(lambda: [f.result() for f in [pool.submit(int) for _ in CHECKS]], n)
        single = timed_us(lambda: pool.submit(int).result(), n)
    components = Components(CHECKS, min_interval_s=0)
    components.evaluate()  # threads started once, as after the first agent request
    evaluations = timed_us(components.evaluate, n)
    tail = where_the_tail_went(attributed(components.evaluate, n))
    components.close()

    sdk.init(service="bench", version="1", components=CHECKS, min_interval_s=0)
    probe = SdkProbe()
    probe.read(os.getpid())
    requests = timed_us(lambda: probe.read(os.getpid()), n // 5)
    sdk.shutdown()

    bare_ns, wrapped_ns = request_path(n * 10)
    rss_bare = rss_kib("import sys")
    rss_common = rss_kib(COMMON)
    rss_sdk = rss_kib(f"{COMMON}; {STARTED}")

    lines = [
        f"health evaluation of three trivial checks: {describe(evaluations)}"
        f" ({n} evaluations; target < 1 ms)",
        f"reference, the three checks called directly: {describe(direct)}",
        "reference, three no-op tasks handed to three waiting threads (the machine's"
        f" thread wake-up cost, a floor for any timeout-bounded check): {describe(handoff)}",
        f"reference, one no-op task handed to one waiting thread: {describe(single)}",
        f"share of evaluations under 1 ms: {sum(e < 1000 for e in evaluations) / n:.1%}",
        f"full agent request over the Unix socket (connect, GET, parse): {describe(requests)}"
        f" ({n // 5} requests)",
        "request path, trivial ASGI app through CoralMiddleware: median"
        f" {statistics.median(wrapped_ns):.0f} ns per call, bare app"
        f" {statistics.median(bare_ns):.0f} ns ({n * 10} calls each);"
        " WSGI helper: returns the app itself, 0 added",
        *tail,
        f"machine load (1-min load average at start, 2 cores shared): {load:.1f}",
        f"memory: SDK imported, started and asked once {rss_sdk / 1024:.1f} MiB RSS against"
        f" {rss_common / 1024:.1f} MiB for the same interpreter with only `{COMMON}`"
        f" (bare interpreter {rss_bare / 1024:.1f} MiB)",
    ]
    print(
        append_result(
            "SDK overhead",
            f"python benchmarks/sdk_overhead.py --evaluations {n}",
            lines,
        )
    )


if __name__ == "__main__":
    main()
