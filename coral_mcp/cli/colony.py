"""`coral colony ...`: run the colony that collects, stores and answers."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import click
from click.decorators import FC

from coral_mcp.cli.background import (
    background_args,
    daemon_option,
    start_in_background,
    stop_command,
)
from coral_mcp.cli.colony_mesh import init, token_create, token_list, token_revoke
from coral_mcp.cli.common import (
    colony_dir,
    dashboard_ask,
    data_dir_option,
    echo_err,
    echo_text,
    refuse_second_start,
)
from coral_mcp.cli.rest import colony_options, get_json, locate
from coral_mcp.colony.auth import read_token
from coral_mcp.colony.running import read_running
from coral_mcp.config import (
    DEFAULT_COLONY_WG_PORT,
    DEFAULT_GRPC_PORT,
    DEFAULT_HTTP_PORT,
    DEFAULT_JOIN_PORT,
    DEFAULT_TLS_PORT,
    TUNNEL_CHOICES,
    ColonySettings,
)
from coral_mcp.errors import ColonyUnreachableError, ConfigError
from coral_mcp.investigate.render import human_bytes
from coral_mcp.runner import run_daemon


def port_options(func: FC) -> FC:
    for decorator in reversed(
        [
            click.option(
                "--grpc-host",
                default="127.0.0.1",
                show_default=True,
                help="Agent-facing gRPC bind address.",
            ),
            click.option(
                "--grpc-port",
                type=int,
                default=DEFAULT_GRPC_PORT,
                show_default=True,
                help="Agent-facing gRPC port.",
            ),
            click.option(
                "--http-host",
                default="127.0.0.1",
                show_default=True,
                help="REST + MCP bind address.",
            ),
            click.option(
                "--insecure-no-token",
                is_flag=True,
                help="Serve HTTP without the bearer token (refused unless on loopback).",
            ),
            click.option(
                "--http-port",
                type=int,
                default=DEFAULT_HTTP_PORT,
                show_default=True,
                help="REST + MCP port.",
            ),
        ]
    ):
        func = decorator(func)
    return func


def mesh_options(func: FC) -> FC:
    """Options of the mesh, used once `coral colony init` has made an identity."""
    for decorator in reversed(
        [
            click.option(
                "--tunnel",
                type=click.Choice(TUNNEL_CHOICES),
                default="auto",
                show_default=True,
                help="Mesh tunnel: kernel or userspace WireGuard, or none (mutual TLS only).",
            ),
            click.option(
                "--join-host",
                default="0.0.0.0",
                show_default=True,
                help="Address of the TLS join and mutual-TLS ports.",
            ),
            click.option(
                "--join-port",
                type=int,
                default=DEFAULT_JOIN_PORT,
                show_default=True,
                help="TLS port where agents redeem join tokens.",
            ),
            click.option(
                "--tls-port",
                type=int,
                default=DEFAULT_TLS_PORT,
                show_default=True,
                help="Mutual-TLS gRPC port for agents without a tunnel.",
            ),
            click.option(
                "--wg-port",
                type=int,
                default=DEFAULT_COLONY_WG_PORT,
                show_default=True,
                help="WireGuard UDP port.",
            ),
            click.option(
                "--wg-interface",
                default="coral0",
                show_default=True,
                help="WireGuard interface name (unique on the machine).",
            ),
            click.option(
                "--discovery",
                default=None,
                help="Discovery service HOST:PORT to publish the colony's signed record to.",
            ),
        ]
    ):
        func = decorator(func)
    return func


@click.group()
def colony() -> None:
    """Run and inspect the colony."""


@colony.command("start")
@data_dir_option
@port_options
@click.option(
    "--stale-after",
    type=float,
    default=30.0,
    show_default=True,
    help="Seconds of silence before an agent shows as stale.",
)
@click.option(
    "--offline-after",
    type=float,
    default=120.0,
    show_default=True,
    help="Seconds of silence before an agent shows as offline.",
)
@click.option(
    "--raw-retention-days",
    type=float,
    default=7.0,
    show_default=True,
    help="Days raw summaries are kept (after their hourly roll-up).",
)
@click.option(
    "--hourly-retention-days",
    type=float,
    default=90.0,
    show_default=True,
    help="Days hourly roll-ups are kept.",
)
@click.option(
    "--events-retention-days",
    type=float,
    default=180.0,
    show_default=True,
    help="Days events are kept.",
)
@click.option(
    "--maintenance-interval",
    type=float,
    default=600.0,
    show_default=True,
    help="Seconds between roll-up and retention runs.",
)
@mesh_options
@daemon_option
def start(
    data_dir: Path | None,
    grpc_host: str,
    grpc_port: int,
    http_host: str,
    insecure_no_token: bool,
    http_port: int,
    stale_after: float,
    offline_after: float,
    raw_retention_days: float,
    hourly_retention_days: float,
    events_retention_days: float,
    maintenance_interval: float,
    tunnel: str,
    join_host: str,
    join_port: int,
    tls_port: int,
    wg_port: int,
    wg_interface: str,
    discovery: str | None,
    daemon: bool,
) -> None:
    """Start a colony: gRPC for agents; REST, MCP (/mcp) and the dashboard (/) over HTTP.
    Prints a one-time dashboard login URL. The dashboard's ask box asks the LLM of
    Coral's config file (its [ask] table, as `coral ask` reads it) when it names one.
    Runs until interrupted (or in the background with --daemon)."""
    from coral_mcp.colony.daemon import ColonyDaemon

    refuse_second_start(data_dir)
    settings = ColonySettings(
        data_dir=colony_dir(data_dir),
        grpc_host=grpc_host,
        grpc_port=grpc_port,
        http_host=http_host,
        http_port=http_port,
        stale_after_s=stale_after,
        offline_after_s=offline_after,
        raw_retention_days=raw_retention_days,
        hourly_retention_days=hourly_retention_days,
        events_retention_days=events_retention_days,
        maintenance_interval_s=maintenance_interval,
        require_token=not insecure_no_token,
        tunnel=tunnel,
        join_host=join_host,
        join_port=join_port,
        tls_port=tls_port,
        wg_port=wg_port,
        wg_interface=wg_interface,
        discovery=discovery,
    )
    if daemon:

        def ready(pid: int) -> bool:
            """The colony wrote its state file: it does once it serves, its token made
            (its HTTP port listens earlier, from the start of its opening)."""
            running = read_running(settings.data_dir)
            return running is not None and running.pid == pid

        start_in_background("colony", settings.data_dir, background_args(), ready)
        return
    ask = dashboard_ask()

    async def main(stop: asyncio.Event) -> None:
        colony = await ColonyDaemon.open(settings, ask=ask)
        try:
            echo_err(f"Dashboard (one-time login URL): {colony.login_url()}")
            await stop.wait()
        finally:
            await colony.close()

    run_daemon(main)


@colony.command("status")
@colony_options
@click.option("--json", "as_json", is_flag=True, help="Print the status document as JSON.")
@click.option(
    "--agents",
    "agents",
    type=click.IntRange(0, 1000),
    default=20,
    show_default=True,
    help="Agents listed at most; those not online come first.",
)
def status(
    colony_url: str | None, token: str | None, data_dir: Path | None, as_json: bool, agents: int
) -> None:
    """Show agents and their state, data freshness, ingestion rate and storage."""
    access = locate(colony_url, token, data_dir)
    doc = get_json(access, f"/api/v1/status?limit={agents}")
    if as_json:
        click.echo(json.dumps(doc, indent=2))
        return
    try:
        echo_text(render_status(access.url, doc))
    except (KeyError, TypeError, ValueError):
        raise ColonyUnreachableError(
            f"{access.url} answered, but not with a Coral colony's status",
            hint="check that --colony points at a Coral colony's HTTP port",
        ) from None


@colony.group("token")
def token_group() -> None:
    """Show the colony's HTTP credential; create, list and revoke mesh join tokens."""


colony.add_command(init)
colony.add_command(stop_command("colony", colony_dir))
token_group.add_command(token_create)
token_group.add_command(token_list)
token_group.add_command(token_revoke)


@token_group.command("show")
@click.option("--mcp", "mcp", is_flag=True, required=True, help="The HTTP (MCP and REST) token.")
@data_dir_option
def token_show(mcp: bool, data_dir: Path | None) -> None:
    """Print the bearer token that MCP and REST clients of this colony need."""
    home = colony_dir(data_dir)
    found = read_token(home)
    if found is None:
        raise ConfigError(
            f"no token in {home}",
            hint="start the colony once (`coral colony start`); it makes the token",
        )
    click.echo(found)


def render_status(base: str, doc: dict[str, Any]) -> str:
    states = doc["agents_by_state"]
    storage = doc["storage"]
    lines = [
        f"Colony {doc['version']} at {base}, up {human_duration(doc['uptime_s'])}",
        f"Agents: {sum(states.values())} ({states['online']} online, {states['stale']} stale,"
        f" {states['offline']} offline)",
    ]
    for agent in doc["agents"]:
        lines.append(
            f"  {agent['agent_id']:<24} {agent['hostname']:<16} {agent['state']:<8}"
            f" last seen {agent['last_seen']}"
        )
    if doc.get("agents_left_out"):
        lines.append(f"  ... and {doc['agents_left_out']} more (--agents N lists more)")
    lines += [
        f"Services: {doc['services']}; newest data {doc['newest_data'] or 'none yet'}",
        f"Ingest: {doc['ingest']['messages_per_s']:.2f} messages/s,"
        f" {doc['ingest']['points_per_s']:.1f} series points/s (last minute)",
        f"Storage: {human_bytes(storage['disk_bytes'])} on disk; hourly roll-ups up to"
        f" {storage['rolled_up_to'] or 'none yet'}; kept: raw {storage['raw_retention_days']:g} d,"
        f" hourly {storage['hourly_retention_days']:g} d,"
        f" events {storage['events_retention_days']:g} d",
    ]
    if storage.get("failing"):
        lines.append(
            f"WARNING: storage failing: {storage['failing']} (nothing is acknowledged; agents keep"
            " their backlog until it clears)"
        )
    return "\n".join(lines)


def human_duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {secs}s"
