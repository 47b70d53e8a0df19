"""`coral mesh ...`: the colony's view of its mesh — peers, handshakes, reachability."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from coral_mcp.cli.colony_mesh import DATA_DIR_HELP, _colony_dir, open_registry
from coral_mcp.cli.common import echo_text
from coral_mcp.errors import QueryError


@click.group()
def mesh() -> None:
    """Look at the colony's encrypted mesh: peers, handshakes, bytes; ping or revoke agents."""


def _tunnel_state(colony_dir: Path) -> dict[str, Any]:
    try:
        state = json.loads((colony_dir / "colony.json").read_text())
    except (OSError, ValueError):
        return {}
    found = state.get("mesh")
    return found if isinstance(found, dict) else {}


def status_document(data_dir: Path | None) -> dict[str, Any]:
    from coral_mcp.mesh.tunnel import make_tunnel

    with open_registry(data_dir) as (identity, registry):
        peers = registry.peers()
    running = _tunnel_state(_colony_dir(data_dir))
    wg: dict[str, Any] = {}
    if running.get("interface"):
        for peer in make_tunnel(running["tunnel"], running["interface"]).status():
            wg[peer.public_key] = peer
    rows = []
    for p in peers:
        live = wg.get(p.wg_public_key)
        rows.append(
            {
                "agent_id": p.agent_id,
                "hostname": p.hostname,
                "address": p.address,
                "revoked": p.revoked,
                "endpoint": live.endpoint if live else None,
                "last_handshake": (
                    datetime.fromtimestamp(live.last_handshake_s, UTC).isoformat()
                    if live and live.last_handshake_s
                    else None
                ),
                "rx_bytes": live.rx_bytes if live else 0,
                "tx_bytes": live.tx_bytes if live else 0,
            }
        )
    return {
        "mesh_id": identity.mesh_id,
        "subnet": str(identity.subnet),
        "colony_address": identity.mesh_address,
        "colony_key": identity.fingerprint,
        "running": bool(running),
        "tunnel": running.get("tunnel"),
        "interface": running.get("interface"),
        "peers": rows,
    }


@mesh.command("status")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None, help=DATA_DIR_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(data_dir: Path | None, as_json: bool) -> None:
    """Peers of the colony's mesh: addresses, last handshake, bytes in and out."""
    doc = status_document(data_dir)
    if as_json:
        click.echo(json.dumps(doc, indent=2))
        return
    state = f"tunnel {doc['tunnel']} on {doc['interface']}" if doc["running"] else "not running"
    click.echo(f"mesh {doc['mesh_id']} {doc['subnet']}, colony {doc['colony_address']}, {state}")
    for p in doc["peers"]:
        flag = " REVOKED" if p["revoked"] else ""
        echo_text(
            f"  {p['agent_id']:<24} {p['address']:<15} handshake {p['last_handshake'] or 'never'}"
            f"  rx {p['rx_bytes']} B  tx {p['tx_bytes']} B  from {p['endpoint'] or '-'}{flag}"
        )
    if not doc["peers"]:
        click.echo("  no agents joined (issue a token: `coral colony token create`)")


@mesh.command("ping")
@click.argument("agent_id", metavar="AGENT")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None, help=DATA_DIR_HELP)
@click.option("--count", type=int, default=3, show_default=True, help="Echo requests to send.")
def ping(agent_id: str, data_dir: Path | None, count: int) -> None:
    """Ping AGENT at its mesh address, through the tunnel."""
    from coral_mcp.mesh.errors import MeshError
    from coral_mcp.mesh.ping import echo

    with open_registry(data_dir) as (_, registry):
        peer = registry.peer(agent_id)
    if peer is None:
        raise QueryError(f"no agent {agent_id!r} in the mesh", hint="see `coral mesh status`")
    answered = 0
    for seq in range(1, count + 1):
        rtt = echo(peer.address, seq)
        if rtt is None:
            click.echo(f"{peer.address}: seq {seq} no answer")
        else:
            answered += 1
            click.echo(f"{peer.address}: seq {seq} {rtt * 1000:.2f} ms")
    if answered == 0:
        raise MeshError(
            f"agent {agent_id} at {peer.address} did not answer",
            hint="is the agent running with its tunnel up? see `coral mesh status`",
        )


@mesh.command("revoke")
@click.argument("agent_id", metavar="AGENT")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None, help=DATA_DIR_HELP)
def revoke(agent_id: str, data_dir: Path | None) -> None:
    """Revoke AGENT: its tunnel peer is removed and its streams are refused."""

    with open_registry(data_dir) as (_, registry):
        registry.revoke_agent(agent_id, int(time.time() * 1000))
    click.echo(f"agent {agent_id} revoked")
