"""A network attacker cannot speak for a joined agent: identity is the client
certificate pinned at join, never a source address; the join port answers only joins.

Real processes in network namespaces. The attacker sits on the router between agent
and colony (the hub namespace) and forges the victim's mesh address as its source,
exactly as a compromised router or a LAN neighbour could.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import duckdb

from coral_mcp.config import DEFAULT_JOIN_PORT, DEFAULT_TLS_PORT
from tests.conftest import wait_for
from tests.mesh.conftest import Lab
from tests.mesh.test_mesh_namespaces import AGENT_FLAGS, _agents

ATTACKER = str(Path(__file__).with_name("attacker.py"))


def _attack(lab: Lab, target: str, victim: str, cert: Path | None) -> dict[str, str]:
    tls = ("--tls", str(cert)) if cert else ()
    out = lab.net.exec("hub", sys.executable, ATTACKER, target, victim, *tls)
    return dict(json.loads(out))


def _join_agent(lab: Lab, colony_dir: Path, tunnel: str) -> tuple[str, dict[str, Any]]:
    """Start an agent in namespace "agent", joined to the colony; its id and mesh state."""
    token = lab.coral("colony", "colony", "token", "create", "--data-dir", str(colony_dir))
    agent_dir = lab.root / "agent"
    lab.start(
        "agent", "agent", "agent", "start", "--data-dir", str(agent_dir),
        "--tunnel", tunnel, "--wg-interface", f"wga{lab.net.tag}",
        "--join", token.strip(), *AGENT_FLAGS,
    )  # fmt: skip
    identity = agent_dir / "mesh-identity.json"
    wait_for(lambda: identity.exists() and json.loads(identity.read_text())["colony"], 40, "join")
    state = json.loads(identity.read_text())
    agent_id = str(state["agent_id"])
    wait_for(
        lambda: _agents(lab, colony_dir).get(agent_id, {}).get("committed_seq", 0) >= 2,
        60,
        "the victim's summaries",
    )
    return agent_id, state


def _init_colony(lab: Lab, colony_dir: Path, *start: str) -> None:
    lab.coral(
        "colony", "colony", "init", "--data-dir", str(colony_dir),
        "--mesh-id", f"m{lab.net.tag}", "--endpoint", lab.net.ip("colony"),
    )  # fmt: skip
    lab.start(
        "colony", "colony", "colony", "start", "--data-dir", str(colony_dir),
        "--wg-interface", f"wgc{lab.net.tag}", *start,
    )  # fmt: skip
    wait_for((colony_dir / "colony.json").exists, 30, "colony start")


def _forge_source(lab: Lab, address: str) -> None:
    """The hub sends to the colony from `address` (the victim's mesh address)."""
    hub_if = f"h1-{lab.net.tag}"  # the hub's veth toward the first leaf, the colony
    lab.net.exec("hub", "ip", "addr", "add", f"{address}/32", "dev", hub_if)
    lab.net.exec(
        "hub", "ip", "route", "replace", f"{lab.net.ip('colony')}/32",
        "dev", hub_if, "src", address,
    )  # fmt: skip


def _assert_untouched(lab: Lab, colony_dir: Path, victim: str) -> None:
    """The victim's host is not renamed and no forged event is stored."""
    assert _agents(lab, colony_dir)[victim]["hostname"] != "owned-by-attacker"
    lab.stop("colony")
    conn = duckdb.connect(str(colony_dir / "colony.duckdb"), read_only=True)
    try:
        forged = conn.execute("SELECT count(*) FROM events WHERE message = 'forged crash'")
        assert forged.fetchone() == (0,)
    finally:
        conn.close()


def test_with_tunnel_none_a_router_forging_the_victims_address_cannot_speak_for_it(
    lab: Lab,
) -> None:
    lab.net.build(["colony", "agent"])
    colony_dir = lab.root / "colony"
    _init_colony(lab, colony_dir, "--tunnel", "none")
    victim, state = _join_agent(lab, colony_dir, "none")
    _forge_source(lab, state["mesh_address"])
    cert = lab.root / "colony-cert.pem"
    cert.write_text(state["colony"]["colony_cert_pem"])  # public: anyone can fetch it
    colony_ip = lab.net.ip("colony")

    # The join port (TLS without a client certificate) answers only Mesh.Join.
    on_join = _attack(lab, f"{colony_ip}:{DEFAULT_JOIN_PORT}", victim, cert)
    assert on_join == {"register": "UNIMPLEMENTED", "connect": "UNIMPLEMENTED"}, on_join
    # The mutual-TLS port wants a certificate the attacker does not have.
    on_tls = _attack(lab, f"{colony_ip}:{DEFAULT_TLS_PORT}", victim, cert)
    assert on_tls == {"register": "UNAVAILABLE", "connect": "UNAVAILABLE"}, on_tls
    _assert_untouched(lab, colony_dir, victim)


def test_a_lan_host_routing_to_the_mesh_address_cannot_speak_for_a_tunnelled_agent(
    lab: Lab,
) -> None:
    lab.net.build(["colony", "agent"])
    colony_dir = lab.root / "colony"
    _init_colony(lab, colony_dir, "--tunnel", "userspace")
    victim, state = _join_agent(lab, colony_dir, "userspace")
    mesh = json.loads((colony_dir / "colony.json").read_text())["mesh"]
    # A LAN neighbour routes the colony's mesh address to the colony's LAN address: its
    # packets arrive outside the tunnel, and the colony's host accepts them (the mesh
    # address is local to it). (Forging the victim's address as well gets nowhere: the
    # answers go into the tunnel, to the real agent.)
    lab.net.exec(
        "hub", "ip", "route", "replace", f"{mesh['mesh_address']}/32", "via", lab.net.ip("colony")
    )
    probe = "import socket,sys; s=socket.socket(); s.settimeout(5); print(s.connect_ex((sys.argv[1], 9000)))"
    reached = lab.net.exec("hub", sys.executable, "-c", probe, mesh["mesh_address"]).strip()
    assert reached == "0", reached  # the TCP port answers: only TLS stands in the way
    target = f"{mesh['mesh_address']}:9000"
    plain = _attack(lab, target, victim, None)
    assert plain == {"register": "UNAVAILABLE", "connect": "UNAVAILABLE"}, plain
    cert = lab.root / "colony-cert.pem"
    cert.write_text(state["colony"]["colony_cert_pem"])
    with_tls = _attack(lab, target, victim, cert)
    assert with_tls == {"register": "UNAVAILABLE", "connect": "UNAVAILABLE"}, with_tls
    _assert_untouched(lab, colony_dir, victim)
