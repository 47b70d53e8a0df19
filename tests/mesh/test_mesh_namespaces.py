"""The mesh for real: colony, discovery and agents in their own network namespaces.

One agent sits behind a NAT namespace (masquerade) and finds the colony through the
discovery service. Tunnels are wireguard-go (this machine has no WireGuard module).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.colony.test_resilience import sent
from tests.conftest import wait_for
from tests.mesh.conftest import Lab

# Namespaces and wireguard-go share the machine: these run one at a time (pytest-xdist).
pytestmark = pytest.mark.xdist_group("netns")

IMPERSONATE = """
import json, sys, grpc
from coral_mcp import PROTOCOL_VERSION
from coral_mcp.mesh.tls import CLIENT_OPTIONS, client_credentials
from coral_mcp.proto import coral_pb2 as pb, coral_pb2_grpc as pb_grpc
me = json.load(open(sys.argv[2]))
creds = client_credentials(me["colony"]["colony_cert_pem"].encode(),
    me["tls_key_pem"].encode(), me["agent_cert_pem"].encode())
with grpc.secure_channel("100.96.0.1:9000", creds, options=CLIENT_OPTIONS) as channel:
    try:
        pb_grpc.ColonyStub(channel).Register(pb.RegisterRequest(
            agent_id=sys.argv[1], hostname="x", protocol_version=PROTOCOL_VERSION), timeout=10)
        print("ACCEPTED")
    except grpc.RpcError as exc:
        print(exc.code().name)
"""
AGENT_FLAGS = ("--interval", "0.3", "--push", "0.5", "--no-auto")


def _agents(lab: Lab, colony_dir: Path) -> dict[str, Any]:
    try:
        doc = lab.json("colony", "colony", "status", "--json", "--data-dir", str(colony_dir.parent))
    except RuntimeError:
        return {}
    return {a["agent_id"]: a for a in doc["agents"]}


def _mesh(lab: Lab, colony_dir: Path) -> dict[str, Any]:
    doc = lab.json("colony", "mesh", "status", "--json", "--data-dir", str(colony_dir.parent))
    return {p["agent_id"]: p for p in doc["peers"]}


def _agent_id(data_dir: Path) -> str:
    return str(json.loads((data_dir / "agent.json").read_text())["agent_id"])


def _sent(lab: Lab, name: str) -> int:
    """The last sequence number the agent gave a message (its ring store records them)."""
    return sent(lab.root / name / "agent")


def _delivered(lab: Lab, colony_dir: Path, name: str, agent_id: str, at_least: int) -> bool:
    last = _sent(lab, name)
    found = _agents(lab, colony_dir).get(agent_id, {})
    return last >= at_least and found.get("committed_seq") == last


def _wait_agent_id(lab: Lab, name: str) -> str:
    path = lab.root / name / "agent" / "agent.json"
    wait_for(path.exists, 30, f"{name} identity")
    return _agent_id(lab.root / name / "agent")


def _start_colony(lab: Lab, colony_dir: Path, name: str) -> None:
    net = lab.net
    lab.start(
        name,
        "colony",
        "colony",
        "start",
        "--data-dir",
        str(colony_dir.parent),
        "--wg-interface",
        f"wgc{net.tag}",
        "--discovery",
        f"{net.ip('disc')}:9020",
    )
    wait_for(
        lambda: (colony_dir / "colony.json").exists() or lab.procs.stderr(name).count(b"Error") > 0,
        30,
        "colony start",
    )
    assert (colony_dir / "colony.json").exists(), lab.procs.stderr(name).decode()
    # No --tunnel: auto-detection picks wireguard-go (this machine has no WireGuard module).
    assert b"tunnel userspace" in lab.procs.stderr(name)


def _start_agent(lab: Lab, name: str, where: str, token: str | None, *extra: str) -> None:
    join = ("--join", token) if token else ()
    lab.start(
        name,
        where,
        "agent",
        "start",
        "--data-dir",
        str(lab.root / where),
        "--wg-interface",
        f"wg{where}{lab.net.tag}",
        "--tunnel",
        "userspace",
        *join,
        *AGENT_FLAGS,
        *extra,
    )


def test_agents_join_through_tunnels_nat_and_discovery_and_survive_restarts(lab: Lab) -> None:
    net = lab.net
    net.build(["colony", "disc", "a1", "a2", "nat"], nat={"a3": "nat"})
    colony_dir = lab.root / "colony"
    lab.start("discovery", "disc", "discovery", "start", "--port", "9020")
    wait_for(lambda: b"ready" in lab.procs.stdout("discovery"), 20, "discovery")
    lab.coral(
        "colony",
        "colony",
        "init",
        "--data-dir",
        str(colony_dir.parent),
        "--mesh-id",
        f"m{net.tag}",
        "--endpoint",
        net.ip("colony"),
    )
    assert oct((colony_dir / "mesh" / "colony-identity.json").stat().st_mode & 0o777) == "0o600"
    tokens = {
        name: lab.coral(
            "colony", "colony", "token", "create", "--data-dir", str(colony_dir.parent)
        ).strip()
        for name in ("a1", "a2")
    }
    # a3's token names an endpoint nobody answers at: it must ask discovery.
    tokens["a3"] = lab.coral(
        "colony",
        "colony",
        "token",
        "create",
        "--data-dir",
        str(colony_dir.parent),
        "--endpoint",
        "10.254.254.254:9001",
    ).strip()
    _start_colony(lab, colony_dir, "colony")
    _start_agent(lab, "a1", "a1", tokens["a1"])
    _start_agent(lab, "a2", "a2", tokens["a2"])
    _start_agent(lab, "a3", "a3", tokens["a3"], "--discovery", f"{net.ip('disc')}:9020")
    ids = {name: _wait_agent_id(lab, name) for name in ("a1", "a2", "a3")}

    def flowing() -> dict[str, Any] | None:
        seen = _agents(lab, colony_dir)
        ok = all(ids[n] in seen and seen[ids[n]]["committed_seq"] >= 2 for n in ("a1", "a2", "a3"))
        return seen if ok else None

    seen = wait_for(flowing, 60, "summaries from the three agents")
    mesh = _mesh(lab, colony_dir)
    for name in ("a1", "a2", "a3"):
        peer = mesh[ids[name]]
        # The colony saw the agent's mesh address as the source: it came through the tunnel.
        assert seen[ids[name]]["address"].startswith(f"ipv4:{peer['address']}:"), seen[ids[name]]
        assert peer["address"].startswith("100.96.")
        assert peer["last_handshake"] is not None and peer["rx_bytes"] > 0, peer
    # The plain gRPC port is not on the colony's public address, only on the mesh one.
    probe = "import socket,sys; s=socket.socket(); s.settimeout(5); print(s.connect_ex((sys.argv[1], 9000)))"
    refused = lab.net.exec("a1", sys.executable, "-c", probe, net.ip("colony")).strip()
    assert refused == "111", refused  # ECONNREFUSED
    # a3 is behind the NAT: discovery and the colony see the NAT's public address.
    assert f"sees this agent as {net.ip('nat')}:".encode() in lab.procs.stderr("a3")
    assert mesh[ids["a3"]]["endpoint"].startswith(net.ip("nat") + ":"), mesh[ids["a3"]]
    assert "seq 1" in lab.coral(
        "colony", "mesh", "ping", ids["a1"], "--count", "1", "--data-dir", str(colony_dir.parent)
    )

    # Inside a1's tunnel, with a1's own certificate, a Register naming a2 is refused:
    # identity is the certificate, not the agent_id field.
    a1_identity = str(lab.root / "a1" / "agent" / "mesh-identity.json")
    impersonation = lab.net.exec("a1", sys.executable, "-c", IMPERSONATE, ids["a2"], a1_identity)
    assert impersonation.strip() == "PERMISSION_DENIED"
    wait_for(
        lambda: (
            f"agent {ids['a1']} tried to speak as '{ids['a2']}'".encode()
            in lab.procs.stderr("colony")
        ),
        10,
        "the refusal logged",
    )

    # Restart a1 and the colony: same keys, same address, data flows again, no token,
    # and nothing is lost: a3 (behind the NAT) keeps running and holds its messages
    # while the colony is down; every sequence number ends up committed.
    before = json.loads((lab.root / "a1" / "agent" / "mesh-identity.json").read_text())
    lab.stop("a1")
    lab.stop("colony")
    wait_for(lambda: b"cannot reach colony" in lab.procs.stderr("a3"), 30, "a3 noticing")
    held_a1, held_a3 = _sent(lab, "a1"), _sent(lab, "a3")
    _start_colony(lab, colony_dir, "colony2")
    _start_agent(lab, "a1-again", "a1", None)
    for name, held in (("a1", held_a1), ("a3", held_a3)):
        wait_for(
            lambda n=name, h=held: _delivered(lab, colony_dir, n, ids[n], h + 2),
            60,
            f"{name}'s backlog and new data after the restarts",
        )
    for log in ("colony", "colony2"):
        assert b"messages were lost" not in lab.procs.stderr(log)
    after = json.loads((lab.root / "a1" / "agent" / "mesh-identity.json").read_text())
    assert after == before
    assert _agents(lab, colony_dir)[ids["a1"]]["address"].startswith(
        f"ipv4:{before['mesh_address']}:"
    )

    # Revoke a2: its tunnel peer goes, its stream is refused; a1 carries on.
    lab.coral("colony", "mesh", "revoke", ids["a2"], "--data-dir", str(colony_dir.parent))
    wait_for(lambda: b"removed (agent revoked)" in lab.procs.stderr("colony2"), 20, "revocation")
    a2_seq = _agents(lab, colony_dir)[ids["a2"]]["committed_seq"]
    a1_seq = _agents(lab, colony_dir)[ids["a1"]]["committed_seq"]
    wait_for(lambda: _agents(lab, colony_dir)[ids["a1"]]["committed_seq"] > a1_seq + 3, 30, "a1")
    assert _agents(lab, colony_dir)[ids["a2"]]["committed_seq"] == a2_seq
    assert _mesh(lab, colony_dir)[ids["a2"]]["revoked"]
