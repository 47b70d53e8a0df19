"""The floor under the agent's memory and CPU on gRPC: what a process costs that does
nothing but hold Coral's stream to a colony.

Measures, each in a fresh Python process like the lean agent's (no `ssl`), for both gRPC
clients side by side - grpcio (what the agent used before) and grpclib (what it uses
now: `coral_mcp.rpc.grpclib_client`): the bare interpreter's RSS; after importing the
client (with asyncio); after Coral's protobuf module; and a process that registers with
a real colony, opens the Connect stream and sends a heartbeat every 5 s and nothing
else: its RSS, anonymous memory, threads and CPU over the window. The agent itself is
measured by `agent_vs_node_exporter.py`; the difference is what the agent's own work
costs.

    python benchmarks/agent_grpc_floor.py [--seconds 60]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import append_result, running_colony

CHILD = r"""
import os, sys
sys.modules["ssl"] = None  # as in the lean agent

def memory():
    found = {}
    for name in ("status", "smaps_rollup"):
        for line in open(f"/proc/self/{name}"):
            key, _, value = line.partition(":")
            if key in ("VmRSS", "Anonymous"):
                found[key] = int(value.split()[0]) / 1024
    return f"rss={found['VmRSS']:.1f} anon={found['Anonymous']:.1f}"

step, target, token, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
if step == "bare":
    print(memory()); sys.exit()
import asyncio, time
"""
#: The stream held with a heartbeat every 5 s, measured: `send` writes one message.
HOLD = r"""
async def hold(send):
    await asyncio.sleep(10)  # settled
    start, cpu0 = time.monotonic(), sum(os.times()[:2])
    while time.monotonic() - start < seconds:
        await asyncio.sleep(5)
        await send(pb.AgentMessage(heartbeat=pb.Heartbeat()))
    cpu = 100 * (sum(os.times()[:2]) - cpu0) / (time.monotonic() - start)
    threads = len(os.listdir("/proc/self/task"))
    print(f"{memory()} threads={threads} cpu={cpu:.3f}")
"""


def child(client_import: str, proto_import: str, stream: str) -> str:
    """A child process's script: the steps up to `step`, then `stream` held."""
    steps = f"""
{client_import}
if step == "grpc":
    print(memory()); sys.exit()
{proto_import}
if step == "proto":
    print(memory()); sys.exit()
"""
    return CHILD + steps + HOLD + stream + "\nasyncio.run(stream())\n"


CHILD_GRPCIO = child(
    "import grpc",
    "from coral_mcp.proto import coral_pb2 as pb, coral_pb2_grpc as pb_grpc",
    r"""
async def stream():
    metadata = (("authorization", f"Bearer {token}"),)
    async with grpc.aio.insecure_channel(target) as channel:
        stub = pb_grpc.ColonyStub(channel)
        await stub.Register(pb.RegisterRequest(agent_id="floor-1", hostname="floor",
            agent_version="0", protocol_version=1), metadata=metadata, timeout=10)
        call = stub.Connect(metadata=metadata)
        await call.write(pb.AgentMessage(hello=pb.Hello(agent_id="floor-1")))
        await hold(call.write)
        call.cancel()
""",
)
CHILD_GRPCLIB = child(
    "from coral_mcp.rpc import grpclib_client as rpc",
    "from coral_mcp.proto import coral_pb2 as pb",
    r"""
async def stream():
    metadata = (("authorization", f"Bearer {token}"),)
    channel = rpc.open_channel(target)
    await rpc.unary(channel, "/coral.v1.Colony/Register", pb.RegisterRequest(
        agent_id="floor-1", hostname="floor", agent_version="0", protocol_version=1),
        pb.RegisterResponse, timeout_s=10, max_message_bytes=1 << 20, metadata=metadata)
    call = rpc.request(channel, "/coral.v1.Colony/Connect", rpc.Cardinality.STREAM_STREAM,
        pb.AgentMessage, pb.ColonyMessage, max_message_bytes=1 << 20, metadata=metadata)
    async with call:
        await call.send_message(pb.AgentMessage(hello=pb.Hello(agent_id="floor-1")))
        await call.recv_message()
        await hold(call.send_message)
        await call.cancel()
    channel.close()
""",
)
CHILDREN = {"grpcio": CHILD_GRPCIO, "grpclib": CHILD_GRPCLIB}


def measure(
    client: str, step: str, target: str = "-", token: str = "-", seconds: float = 0.0
) -> str:
    out = subprocess.run(
        [sys.executable, "-c", CHILDREN[client], step, target, token, str(seconds)],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 120,
    )
    return out.stdout.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0, help="stream measurement window")
    args = parser.parse_args()
    lines = [f"bare interpreter (no ssl): {measure('grpcio', 'bare')} MiB"]
    imports = {"grpcio": "import grpc (asyncio, grpc.aio)", "grpclib": "grpclib (asyncio, h2)"}
    with tempfile.TemporaryDirectory() as tmp, running_colony(tmp) as colony:
        for client, imported in imports.items():
            held = measure(
                client, "stream", f"127.0.0.1:{colony.grpc_port}", colony.token, args.seconds
            )
            lines += [
                f"{client}: + {imported}: {measure(client, 'grpc')} MiB",
                f"{client}: + Coral's protobuf module: {measure(client, 'proto')} MiB",
                f"{client}: holding Coral's stream to a real colony (Register, Connect, a"
                f" heartbeat every 5 s, nothing else) over {args.seconds:g} s: {held} (MiB, %"
                " of one core)",
            ]
    entry = append_result(
        "The agent's floor on gRPC",
        f"python benchmarks/agent_grpc_floor.py --seconds {args.seconds:g}",
        lines,
    )
    print(entry)


if __name__ == "__main__":
    main()
