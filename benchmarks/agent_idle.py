"""The agent's idle footprint while it watches 10 real processes.

Starts a real colony and 10 small real processes (each listening on a TCP port), then
a real agent watching them at the default 10 s interval and 15 s push. After a warm-up
it measures the agent process only: CPU (% of one core, from its CPU times over the
window) and RSS (max and last of samples every second). Appends to RESULTS.md.

    python benchmarks/agent_idle.py [--seconds 120] [--warmup 20]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import append_result, compile_bytecode, free_port, stop_processes

BIN = Path(sys.executable).parent
SERVICE = Path(__file__).resolve().parent.parent / "tests" / "data" / "tcp_service.py"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=120.0, help="measurement window")
    parser.add_argument("--warmup", type=float, default=20.0)
    parser.add_argument("--processes", type=int, default=10)
    args = parser.parse_args()

    compile_bytecode()  # as installed by pip: no compiling at the agent's start
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            grpc_port, http_port = free_port(), free_port()
            procs.append(
                subprocess.Popen(
                    [
                        str(BIN / "coral"),
                        "--log-level",
                        "WARNING",
                        "colony",
                        "start",
                        "--data-dir",
                        tmp,
                        "--grpc-port",
                        str(grpc_port),
                        "--http-port",
                        str(http_port),
                    ],
                )
            )
            services = []
            for i in range(args.processes):
                port = free_port()
                watched = subprocess.Popen(
                    [sys.executable, str(SERVICE), "--listen", str(port)], stdout=subprocess.PIPE
                )
                procs.append(watched)
                assert watched.stdout is not None
                watched.stdout.readline()
                services += ["--service", f"svc{i}=pid:{watched.pid}"]
            agent = subprocess.Popen(
                [
                    str(BIN / "coral"),
                    "--log-level",
                    "WARNING",
                    "agent",
                    "start",
                    "--colony",
                    f"127.0.0.1:{grpc_port}",
                    "--data-dir",
                    tmp,
                    *services,
                ],
            )
            procs.append(agent)
            handle = psutil.Process(agent.pid)
            time.sleep(args.warmup)
            cpu_start = sum(handle.cpu_times()[:2])
            wall_start = time.monotonic()
            rss: list[int] = []
            while time.monotonic() - wall_start < args.seconds:
                rss.append(handle.memory_info().rss)
                time.sleep(1.0)
            cpu_s = sum(handle.cpu_times()[:2]) - cpu_start
            wall_s = time.monotonic() - wall_start
            ring = Path(tmp, "agent", "ring.sqlite")
            ring_bytes = sum(p.stat().st_size for p in ring.parent.glob("ring.sqlite*"))
        finally:
            stop_processes(procs)

    cpu_pct = 100.0 * cpu_s / wall_s
    entry = append_result(
        f"Agent idle footprint, {args.processes} watched processes",
        f"python benchmarks/agent_idle.py --seconds {args.seconds:g} --warmup {args.warmup:g}",
        [
            "setup: real colony + agent subprocesses, interval 10 s, push 15 s,"
            f" {args.processes} watched python processes each listening on a TCP port",
            f"agent CPU: {cpu_pct:.3f} % of one core ({cpu_s:.2f} s CPU over {wall_s:.0f} s)",
            f"agent RSS: max {max(rss) / 2**20:.1f} MiB, last {rss[-1] / 2**20:.1f} MiB",
            f"ring store after {args.warmup + wall_s:.0f} s: {ring_bytes / 1024:.0f} KiB",
        ],
    )
    print(entry)


if __name__ == "__main__":
    main()
