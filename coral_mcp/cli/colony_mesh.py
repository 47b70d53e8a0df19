"""`coral colony init` and `coral colony token create|list|revoke`: the mesh's admin."""

from __future__ import annotations

import ipaddress
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from coral_mcp.cli.common import colony_dir as _colony_dir
from coral_mcp.cli.common import data_dir_option
from coral_mcp.config import DEFAULT_JOIN_PORT
from coral_mcp.datadir import ensure_data_dir
from coral_mcp.errors import ConfigError

if TYPE_CHECKING:  # the crypto library loads only for the commands that need it
    from coral_mcp.mesh.keys import ColonyIdentity
    from coral_mcp.mesh.registry import MeshRegistry

DEFAULT_SUBNET = "100.96.0.0/16"


def _load(data_dir: Path | None) -> tuple[Path, ColonyIdentity]:
    from coral_mcp.mesh.keys import ColonyIdentity

    colony_dir = _colony_dir(data_dir)
    identity = ColonyIdentity.load(colony_dir)
    if identity is None:
        raise ConfigError(
            f"no mesh identity in {colony_dir}",
            hint="run `coral colony init` first",
        )
    return colony_dir, identity


@contextmanager
def open_registry(data_dir: Path | None) -> Iterator[tuple[ColonyIdentity, MeshRegistry]]:
    """The colony's identity and its mesh registry (closed after use)."""
    from coral_mcp.mesh.registry import MeshRegistry

    colony_dir, identity = _load(data_dir)
    registry = MeshRegistry(colony_dir, identity.subnet)
    try:
        yield identity, registry
    finally:
        registry.close()


@click.command("init")
@data_dir_option
@click.option("--mesh-id", default=None, help="Name of the mesh [default: random].")
@click.option(
    "--subnet",
    default=DEFAULT_SUBNET,
    show_default=True,
    help="Mesh subnet (CIDR); refused if it overlaps a route of this host.",
)
@click.option(
    "--endpoint",
    "endpoints",
    multiple=True,
    metavar="HOST",
    help="Address agents reach this colony at (repeatable); tokens carry it.",
)
def init(
    data_dir: Path | None, mesh_id: str | None, subnet: str, endpoints: tuple[str, ...]
) -> None:
    """Make the colony's mesh identity: signing, TLS and WireGuard keys, mesh id, subnet."""
    from coral_mcp.mesh.keys import ColonyIdentity
    from coral_mcp.mesh.routes import check_subnet_free, host_routes

    colony_dir = ensure_data_dir(_colony_dir(data_dir))
    if ColonyIdentity.load(colony_dir) is not None:
        raise ConfigError(
            f"{colony_dir} already has a mesh identity",
            hint="keys are never regenerated; see docs/security.md to rotate them",
        )
    try:
        network = ipaddress.IPv4Network(subnet)
    except ValueError as exc:
        raise ConfigError(
            f"invalid --subnet {subnet!r}: {exc}", hint="e.g. 100.96.0.0/16"
        ) from None
    if network.prefixlen > 30:
        raise ConfigError(f"--subnet {subnet} is too small", hint="use /30 or larger")
    check_subnet_free(network, host_routes())
    identity = ColonyIdentity.create(mesh_id or f"mesh-{os.urandom(4).hex()}", network, endpoints)
    path = identity.save(colony_dir)
    click.echo(f"mesh {identity.mesh_id}, subnet {network}, colony address {identity.mesh_address}")
    click.echo(f"colony key {identity.fingerprint}")
    click.echo(f"identity written to {path} (0600)")


@click.command("create")
@data_dir_option
@click.option("--ttl", default="1h", show_default=True, help="How long the token is valid.")
@click.option("--uses", type=int, default=1, show_default=True, help="How many agents may join.")
@click.option(
    "--endpoint",
    "endpoints",
    multiple=True,
    metavar="HOST:PORT",
    help="Join endpoint carried by the token [default: the init endpoints, join port 9001].",
)
def token_create(data_dir: Path | None, ttl: str, uses: int, endpoints: tuple[str, ...]) -> None:
    """Issue a join token: prints it once (the colony keeps only a hash of its secret)."""
    from coral_mcp.mesh.tokens import JoinToken, parse_ttl

    if uses < 1:
        raise ConfigError("--uses must be at least 1")
    ttl_s = parse_ttl(ttl)
    with open_registry(data_dir) as (identity, registry):
        ends = endpoints or tuple(f"{h}:{DEFAULT_JOIN_PORT}" for h in identity.endpoints)
        token = JoinToken.new(identity.mesh_id, identity.colony_key, ends)
        registry.add_token(token.token_id, token.secret, int(time.time() * 1000), ttl_s, uses)
    click.echo(token.encode())


@click.command("list")
@data_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def token_list(data_dir: Path | None, as_json: bool) -> None:
    """List join tokens: id, state, uses, expiry (never their secrets)."""
    with open_registry(data_dir) as (_, registry):
        tokens = registry.tokens()
    now_ms = int(time.time() * 1000)
    rows = [
        {
            "id": t.token_id,
            "state": t.state(now_ms),
            "uses": t.uses,
            "uses_left": max(0, t.uses_left),
            "expires": datetime.fromtimestamp(t.expires_ms / 1000, UTC).isoformat(),
        }
        for t in tokens
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no join tokens (create one with `coral colony token create`)")
    for row in rows:
        click.echo(
            f"{row['id']}  {row['state']:<8}  used {row['uses']}, {row['uses_left']} left"
            f"  expires {row['expires']}"
        )


@click.command("revoke")
@click.argument("token_id", metavar="ID")
@data_dir_option
def token_revoke(token_id: str, data_dir: Path | None) -> None:
    """Revoke join token ID: no agent can join with it any more."""
    with open_registry(data_dir) as (_, registry):
        registry.revoke_token(token_id)
    click.echo(f"token {token_id} revoked")
