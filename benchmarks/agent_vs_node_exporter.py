"""The agent beside Debian's prometheus-node-exporter, one run, same host, same load.

Starts a real colony, N watched processes (tests/data/tcp_service.py, each listening,
each holding C connections to the previous one: about N*C open connections), a real
agent (auto-discovery, default 10 s interval and 15 s push) and node_exporter scraped
every 10 s by this script. After a warm-up it measures, over the same window, for both:
CPU (% of one core, from CPU times), RSS (max and last, sampled every second), and
bytes sent: the agent's bytes acknowledged by the colony on its gRPC connection (from
`ss -ti`), node_exporter's bytes per scrape. Also the ring store's size. Appends to
RESULTS.md.

    make bench-agent-compare      # installs prometheus-node-exporter first
    python benchmarks/agent_vs_node_exporter.py [--seconds 120] [--warmup 30]

`make bench-agent-compare` runs it (as root) in a network namespace of its own
(`unshare -n`, loopback up), so that only its own processes listen there: on a shared
machine, other users' listening processes would otherwise become services too.

node_exporter listens too, so the agent discovers it as a service like any other, but is
told (config file: `auto_probe = false` for it) not to scrape its `/metrics`: each side is
measured doing its own job, not the other's (a scrape costs both). The colony is
discovered and probed (HTTP `/healthz`, gRPC health) as any service would be.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import append_result, compile_bytecode, free_port, stop_processes

BIN = Path(sys.executable).parent
SERVICE = Path(__file__).resolve().parent.parent / "tests" / "data" / "tcp_service.py"
NODE_EXPORTER = "prometheus-node-exporter"
#: The agent's config: node_exporter (auto-named after its program) is not probed.
AGENT_CONFIG = f'[[service]]\nname = "{NODE_EXPORTER}"\nauto_probe = false\n'


def private_mib(pid: int) -> float:
    """Anonymous (private, unreclaimable) memory of a process, MiB."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Anonymous:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def agent_bytes_acked(agent_pid: int, colony_port: int) -> int:
    """Bytes the colony acknowledged on the agent's TCP connections to it."""
    out = subprocess.run(
        ["ss", "-tinpH", "dst", f"127.0.0.1:{colony_port}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    total = 0
    # one connection is two lines: addresses + process, then TCP info
    blocks = re.split(r"\n(?=ESTAB|SYN|FIN|CLOSE|TIME|LAST)", out)
    for block in blocks:
        if f"pid={agent_pid}," in block:
            match = re.search(r"bytes_acked:(\d+)", block)
            total += int(match.group(1)) if match else 0
    return total


class Meter:
    """CPU and RSS of one process over the measurement window."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.rss: list[int] = []
        self.cpu0 = self.cpu1 = 0.0

    def start(self) -> None:
        self.cpu0 = sum(self.proc.cpu_times()[:2])

    def stop(self) -> None:
        self.cpu1 = sum(self.proc.cpu_times()[:2])

    def tick(self) -> None:
        self.rss.append(self.proc.memory_info().rss)

    def cpu_s(self) -> float:
        return self.cpu1 - self.cpu0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=120.0, help="measurement window")
    parser.add_argument("--warmup", type=float, default=30.0)
    parser.add_argument("--processes", type=int, default=50)
    parser.add_argument("--connections", type=int, default=4, help="per process, to the previous")
    args = parser.parse_args()
    if shutil.which(NODE_EXPORTER) is None:
        sys.exit(f"{NODE_EXPORTER} is not installed: run `make bench-agent-compare`")

    compile_bytecode()  # as installed by pip: no compiling at the agent's start
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            grpc_port, http_port, node_port = free_port(), free_port(), free_port()
            procs.append(
                subprocess.Popen(
                    [
                        str(BIN / "coral"), "--log-level", "WARNING", "colony", "start",
                        "--data-dir", tmp,
                        "--grpc-port", str(grpc_port), "--http-port", str(http_port),
                    ]
                )
            )  # fmt: skip
            previous = 0
            for i in range(args.processes):
                port = free_port()
                cmd = [sys.executable, str(SERVICE), "--listen", str(port)]
                if previous:
                    cmd += [
                        "--connect", f"127.0.0.1:{previous}",
                        "--connections", str(args.connections),
                    ]  # fmt: skip
                # a service name per process (as an SDK or OpenTelemetry would set it):
                # N services for the agent to track and summarize, not one of N workers
                env = {**os.environ, "OTEL_SERVICE_NAME": f"svc{i:02d}"}
                watched = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env)
                procs.append(watched)
                assert watched.stdout is not None
                watched.stdout.readline()  # "ready"
                previous = port
            node = subprocess.Popen(
                [NODE_EXPORTER, f"--web.listen-address=127.0.0.1:{node_port}"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            procs.append(node)
            deadline = time.monotonic() + 20
            while True:  # node_exporter takes a moment to listen
                try:
                    socket.create_connection(("127.0.0.1", node_port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or node.poll() is not None:
                        raise
                    time.sleep(0.1)
            config = Path(tmp, "agent.toml")
            config.write_text(AGENT_CONFIG)
            agent = subprocess.Popen(
                [
                    str(BIN / "coral"), "--log-level", "WARNING", "agent", "start",
                    "--colony", f"127.0.0.1:{grpc_port}", "--data-dir", tmp,
                    "--config", str(config),
                ]
            )  # fmt: skip
            procs.append(agent)
            meters = {"agent": Meter(agent.pid), "node_exporter": Meter(node.pid)}
            scrape_bytes: list[int] = []

            def scrape() -> None:
                url = f"http://127.0.0.1:{node_port}/metrics"
                with urllib.request.urlopen(url, timeout=10) as response:
                    scrape_bytes.append(len(response.read()))

            warm_end = time.monotonic() + args.warmup
            next_scrape = time.monotonic()
            while time.monotonic() < warm_end:
                if time.monotonic() >= next_scrape:
                    scrape()
                    next_scrape += 10
                time.sleep(0.2)
            scrape_bytes.clear()
            for meter in meters.values():
                meter.start()
            acked0 = agent_bytes_acked(agent.pid, grpc_port)
            wall0 = time.monotonic()
            while time.monotonic() - wall0 < args.seconds:
                if time.monotonic() >= next_scrape:
                    scrape()
                    next_scrape += 10
                for meter in meters.values():
                    meter.tick()
                time.sleep(1.0)
            wall_s = time.monotonic() - wall0
            for meter in meters.values():
                meter.stop()
            acked = agent_bytes_acked(agent.pid, grpc_port) - acked0
            private = {name: private_mib(meter.proc.pid) for name, meter in meters.items()}
            threads = {name: meter.proc.num_threads() for name, meter in meters.items()}
            watched_pids = {p.pid for p in procs[1 : 1 + args.processes]}
            connections = sum(
                1
                for c in psutil.net_connections("tcp")
                if c.status == psutil.CONN_ESTABLISHED and c.pid in watched_pids
            )
            ring = Path(tmp, "agent", "ring.sqlite")
            ring_bytes = sum(p.stat().st_size for p in ring.parent.glob("ring.sqlite*"))
        finally:
            stop_processes(procs)

    lines = [
        f"setup: real colony; {args.processes} watched python processes (one service each, "
        "named by OTEL_SERVICE_NAME), each listening, "
        f"{connections} established TCP sockets among them ({connections // 2} connections); "
        "agent (bytecode compiled, as pip installs it) auto-discovering at interval 10 s, "
        "push 15 s (node_exporter discovered, "
        "not probed); node_exporter scraped every 10 s",
    ]
    for name, meter in meters.items():
        cpu = 100.0 * meter.cpu_s() / wall_s
        lines.append(
            f"{name}: CPU {cpu:.3f} % of one core ({meter.cpu_s():.2f} s over {wall_s:.0f} s), "
            f"RSS max {max(meter.rss) / 2**20:.1f} MiB, last {meter.rss[-1] / 2**20:.1f} MiB "
            f"(anonymous {private[name]:.1f} MiB), {threads[name]} threads"
        )
    node_rate = sum(scrape_bytes) / wall_s
    agent_m, node_m = meters["agent"], meters["node_exporter"]
    cpu_ratio = agent_m.cpu_s() / node_m.cpu_s() if node_m.cpu_s() > 0 else float("inf")
    lines.append(
        f"ratio agent / node_exporter, same run: CPU {cpu_ratio:.1f}x (target <= 2x), "
        f"RSS max {max(agent_m.rss) / max(node_m.rss):.2f}x "
        f"({max(agent_m.rss) / 2**20:.1f} MiB, target <= 36 MiB)"
    )
    lines += [
        f"agent -> colony: {acked / wall_s:.0f} B/s ({acked} bytes acknowledged on its gRPC "
        "connection, all framing included)",
        f"node_exporter -> scraper: {node_rate:.0f} B/s "
        f"({len(scrape_bytes)} scrapes, {max(scrape_bytes, default=0)} bytes each)",
        f"agent ring store after {args.warmup + wall_s:.0f} s: {ring_bytes / 2**20:.2f} MiB",
    ]
    entry = append_result(
        f"Agent beside node_exporter, {args.processes} processes",
        f"python benchmarks/agent_vs_node_exporter.py --seconds {args.seconds:g} "
        f"--warmup {args.warmup:g} --processes {args.processes}",
        lines,
    )
    print(entry)


if __name__ == "__main__":
    main()
