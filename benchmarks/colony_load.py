"""Colony ingestion under load: simulated agents speaking the real gRPC protocol.

Starts a real colony process, then N simulated agents (each: Register, one Connect
stream, 10 services x 20 series) that push a summary batch plus a service batch every
15 s, staggered. Phases add agents (100 -> 1000 -> 3000); each is measured after a
warm-up: series points committed per second, the colony's CPU (% of one core) and
RSS, and push-to-commit latency (send -> acknowledgement) p50/p99. A last phase makes
1000 agents push every second to find the sustained ceiling.

    python benchmarks/colony_load.py [--phases 100,1000,3000] [--measure 60] [--warmup 20]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import append_result, running_colony

from coral_mcp.proto import coral_pb2 as pb
from coral_mcp.proto import coral_pb2_grpc as pb_grpc

SERVICES = 10
SERIES = 20
CHANNELS = 16


@dataclass
class Stats:
    points: int = 0
    latencies_ms: list[float] = field(default_factory=list)

    def reset(self) -> None:
        self.points = 0
        self.latencies_ms = []


def summary_batch(agent: int) -> pb.SummaryBatch:
    return pb.SummaryBatch(
        summaries=[
            pb.MetricSummary(
                service=f"a{agent}-svc{s}",
                metric=f"m{m}",
                min=1,
                max=3,
                avg=2,
                last=2,
                p95=2.9,
                count=15,
            )
            for s in range(SERVICES)
            for m in range(SERIES)
        ]
    )


def service_batch(agent: int) -> pb.ServiceBatch:
    return pb.ServiceBatch(
        services=[
            pb.ServiceState(
                service=pb.Service(
                    name=f"a{agent}-svc{s}",
                    spec="auto",
                    pids=[1000 + s],
                    listen=[pb.Endpoint(ip=f"10.{agent // 250}.{agent % 250}.1", port=8000 + s)],
                ),
                peers=[
                    pb.Peer(
                        remote=pb.Endpoint(
                            ip=f"10.{agent // 250}.{agent % 250}.1", port=8000 + (s + 1) % SERVICES
                        ),
                        connections=2,
                    )
                ],
            )
            for s in range(SERVICES)
        ]
    )


class SimAgent:
    def __init__(
        self, index: int, channel: grpc.aio.Channel, stats: Stats, token: str | None = None
    ) -> None:
        self.index = index
        #: The colony's token: its plain gRPC port wants it.
        self._metadata = (("authorization", f"Bearer {token}"),) if token else None
        self.agent_id = f"sim-{index}"
        self._stub = pb_grpc.ColonyStub(channel)
        self._stats = stats
        self._summaries = summary_batch(index)
        self._services = service_batch(index)
        self._sent: dict[int, float] = {}
        self._seq = 0
        self.interval_s = 15.0

    async def run(self, stop: asyncio.Event, ready: asyncio.Event) -> None:
        await self._stub.Register(
            pb.RegisterRequest(agent_id=self.agent_id, hostname=self.agent_id, protocol_version=1),
            metadata=self._metadata,
        )
        call = self._stub.Connect(metadata=self._metadata)
        await call.write(pb.AgentMessage(hello=pb.Hello(agent_id=self.agent_id)))
        reader = asyncio.create_task(self._read(call))
        ready.set()
        await asyncio.sleep(random.uniform(0, self.interval_s))
        while not stop.is_set():
            started = time.monotonic()
            now_ms = int(time.time() * 1000)
            self._summaries.window_start_ms = now_ms - int(self.interval_s * 1000)
            self._summaries.window_end_ms = now_ms
            self._services.observed_ms = now_ms
            for body in ("summaries", "services"):
                self._seq += 1
                self._sent[self._seq] = time.monotonic()
                if body == "summaries":
                    msg = pb.AgentMessage(seq=self._seq, summaries=self._summaries)
                else:
                    msg = pb.AgentMessage(seq=self._seq, services=self._services)
                await call.write(msg)
            delay = self.interval_s - (time.monotonic() - started)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=max(0.0, delay))
        reader.cancel()
        call.cancel()

    async def _read(
        self, call: grpc.aio.StreamStreamCall[pb.AgentMessage, pb.ColonyMessage]
    ) -> None:
        async for message in call:
            acked = message.ack.committed_seq
            now = time.monotonic()
            for seq in [s for s in self._sent if s <= acked]:
                sent = self._sent.pop(seq)
                self._stats.latencies_ms.append((now - sent) * 1000)
                if seq % 2 == 1:  # summaries messages carry the points
                    self._stats.points += SERVICES * SERIES


def measure(proc: psutil.Process, stats: Stats, seconds: float) -> dict[str, float]:
    """Called in a thread: sample the colony for `seconds`."""
    stats.reset()
    cpu0 = sum(proc.cpu_times()[:2])
    me = psutil.Process()
    me_cpu0 = sum(me.cpu_times()[:2])
    began = time.monotonic()
    rss = []
    while time.monotonic() - began < seconds:
        rss.append(proc.memory_info().rss)
        time.sleep(1.0)
    wall = time.monotonic() - began
    lat = sorted(stats.latencies_ms) or [float("nan")]
    return {
        "points_per_s": stats.points / wall,
        "cpu_pct": 100 * (sum(proc.cpu_times()[:2]) - cpu0) / wall,
        "rss_mib": max(rss) / 2**20,
        "p50_ms": statistics.median(lat),
        "p99_ms": lat[int(0.99 * (len(lat) - 1))],
        "gen_cpu_pct": 100 * (sum(me.cpu_times()[:2]) - me_cpu0) / wall,
    }


async def run(
    args: argparse.Namespace, grpc_port: int, colony: psutil.Process, token: str | None
) -> list[str]:
    channels = [grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") for _ in range(CHANNELS)]
    stats = Stats()
    stop = asyncio.Event()
    agents: list[SimAgent] = []
    tasks = []
    lines = []
    for target in [int(n) for n in args.phases.split(",")]:
        while len(agents) < target:
            agent = SimAgent(len(agents), channels[len(agents) % CHANNELS], stats, token)
            ready = asyncio.Event()
            agents.append(agent)
            tasks.append(asyncio.create_task(agent.run(stop, ready)))
            await ready.wait()
        await asyncio.sleep(args.warmup)
        m = await asyncio.to_thread(measure, colony, stats, args.measure)
        offered = target * SERVICES * SERIES / 15
        lines.append(
            f"{target} agents every 15 s (offered {offered:,.0f} points/s): committed"
            f" {m['points_per_s']:,.0f} points/s; colony CPU {m['cpu_pct']:.1f} % of one core,"
            f" RSS {m['rss_mib']:.0f} MiB; push-to-commit p50 {m['p50_ms']:.1f} ms,"
            f" p99 {m['p99_ms']:.1f} ms (load generator CPU {m['gen_cpu_pct']:.0f} %)"
        )
        print(lines[-1], flush=True)
    if args.saturate:
        fast = agents[: args.saturate]
        for agent in fast:
            agent.interval_s = 1.0
        for extra in agents[args.saturate :]:
            extra.interval_s = 3600.0  # quiet: only the fast ones push
        await asyncio.sleep(args.warmup)
        m = await asyncio.to_thread(measure, colony, stats, args.measure)
        lines.append(
            f"saturation, {args.saturate} agents every 1 s (offered"
            f" {args.saturate * SERVICES * SERIES:,} points/s): committed"
            f" {m['points_per_s']:,.0f} points/s; colony CPU {m['cpu_pct']:.1f} %, RSS"
            f" {m['rss_mib']:.0f} MiB; push-to-commit p50 {m['p50_ms']:.1f} ms, p99"
            f" {m['p99_ms']:.1f} ms (load generator CPU {m['gen_cpu_pct']:.0f} %)"
        )
        print(lines[-1], flush=True)
    stop.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for channel in channels:
        await channel.close()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--phases", default="100,1000,3000")
    parser.add_argument("--warmup", type=float, default=20.0)
    parser.add_argument("--measure", type=float, default=60.0)
    parser.add_argument("--saturate", type=int, default=1000, help="0 to skip")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, running_colony(tmp) as colony:
        process = psutil.Process(colony.proc.pid)
        lines = asyncio.run(run(args, colony.grpc_port, process, colony.token))
        disk = sum(p.stat().st_size for p in Path(tmp).glob("**/colony.duckdb*"))
    lines.append(f"colony DuckDB after the run: {disk / 2**20:.0f} MiB")
    lines.append(
        "targets: >= 100,000 points/s sustained; 1,000 agents <= 50 % of one core;"
        " push-to-commit p99 <= 1 s"
    )
    print(
        append_result(
            "Colony ingestion under load",
            f"python benchmarks/colony_load.py --phases {args.phases} --warmup {args.warmup:g}"
            f" --measure {args.measure:g} --saturate {args.saturate}",
            lines,
        )
    )


if __name__ == "__main__":
    main()
