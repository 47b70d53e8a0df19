"""A network attacker's gRPC client: speaks as another agent, any way it can.

Run as a script inside a network namespace: `attacker.py TARGET VICTIM_ID [--tls CERT]`.
Tries Register (renaming the victim's host), then Connect with a forged critical event.
Prints one JSON object: the gRPC status code name of each call, "OK" when accepted.
`--tls CERT` dials with server-side TLS trusting CERT (the colony's public certificate,
which anyone can fetch) but without a client certificate: the attacker has none.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import grpc

from coral_mcp import PROTOCOL_VERSION
from coral_mcp.mesh.tls import CLIENT_OPTIONS
from coral_mcp.proto import coral_pb2 as pb
from coral_mcp.proto import coral_pb2_grpc as pb_grpc

FORGED_HOST = "owned-by-attacker"


def _code(exc: grpc.RpcError) -> str:
    return str(exc.code().name)


def attack(channel: grpc.Channel, victim: str) -> dict[str, str]:
    stub = pb_grpc.ColonyStub(channel)
    result: dict[str, str] = {}
    try:
        answer = stub.Register(
            pb.RegisterRequest(
                agent_id=victim, hostname=FORGED_HOST, protocol_version=PROTOCOL_VERSION
            ),
            timeout=10,
        )
        result["register"] = "OK" if answer.accepted else f"REFUSED {answer.reason}"
    except grpc.RpcError as exc:
        result["register"] = _code(exc)
    forged = pb.AgentMessage(
        seq=1 << 40,
        events=pb.EventBatch(
            events=[
                pb.Event(
                    ts_ms=int(time.time() * 1000),
                    service="victim",
                    kind="crash",
                    severity="critical",
                    message="forged crash",
                )
            ]
        ),
    )
    messages = [pb.AgentMessage(hello=pb.Hello(agent_id=victim)), forged]
    try:
        replies = stub.Connect(iter(messages), timeout=5)
        acks = [m.ack.committed_seq for m in replies if m.WhichOneof("body") == "ack"]
        result["connect"] = f"OK acks={acks}"
    except grpc.RpcError as exc:
        result["connect"] = _code(exc)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("target")
    parser.add_argument("victim")
    parser.add_argument("--tls", default=None)
    args = parser.parse_args()
    if args.tls:
        with open(args.tls, "rb") as f:
            creds = grpc.ssl_channel_credentials(root_certificates=f.read())
        channel = grpc.secure_channel(args.target, creds, options=CLIENT_OPTIONS)
    else:
        channel = grpc.insecure_channel(args.target)
    with channel:
        json.dump(attack(channel, args.victim), sys.stdout)


if __name__ == "__main__":
    main()
