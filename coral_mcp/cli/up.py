"""`coral up`: a colony and an agent for this host in one process — the zero-setup start."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import click

from coral_mcp.cli.agent import SERVICE_HELP, build_settings
from coral_mcp.cli.claude_desktop import claude_desktop_snippet
from coral_mcp.cli.colony import port_options
from coral_mcp.cli.common import (
    dashboard_ask,
    data_dir_option,
    data_root,
    echo_err,
    refuse_second_start,
)
from coral_mcp.config import ColonySettings
from coral_mcp.runner import run_daemon


@click.command()
@data_dir_option
@port_options
@click.option("--service", "services", multiple=True, metavar="NAME=SPEC", help=SERVICE_HELP)
@click.option(
    "--interval", type=float, default=10.0, show_default=True, help="Seconds between samples."
)
@click.option("--push", type=float, default=15.0, show_default=True, help="Seconds between pushes.")
@click.option(
    "--config",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Agent config file (health checks, scrapes, services), as `coral agent start` takes.",
)
def up(
    data_dir: Path | None,
    grpc_host: str,
    grpc_port: int,
    http_host: str,
    insecure_no_token: bool,
    http_port: int,
    services: tuple[str, ...],
    interval: float,
    push: float,
    config: Path | None,
) -> None:
    """Start a colony and an agent for this host in one process.

    The agent watches every process listening on a TCP port (plus any --service).
    Prints a one-time dashboard login URL, the MCP endpoint and a Claude Desktop
    configuration. Runs until interrupted.
    """
    from coral_mcp.agent.daemon import AgentDaemon
    from coral_mcp.colony.daemon import ColonyDaemon

    refuse_second_start(data_dir)
    root = data_root(data_dir)
    colony_settings = ColonySettings(
        data_dir=root / "colony",
        grpc_host=grpc_host,
        grpc_port=grpc_port,
        http_host=http_host,
        http_port=http_port,
        require_token=not insecure_no_token,
    )

    where = f" --data-dir {root}" if data_dir else ""
    # the agent's settings (and its config file) are checked before anything starts
    agent_settings = build_settings(config, services, True, root, interval_s=interval, push_s=push)
    ask = dashboard_ask()

    async def main(stop: asyncio.Event) -> None:
        colony = await ColonyDaemon.open(colony_settings, ask=ask)
        try:
            agent = AgentDaemon(replace(agent_settings, colony=colony.grpc_target))
            echo_err(
                f"Coral is up.\n"
                f"  Dashboard (one-time login URL): {colony.login_url()}\n"
                f"  MCP (streamable HTTP): {colony.mcp_url}\n"
                f"  REST API:              {colony.http_url}/api/v1/services\n"
                f"  Agents connect to:     {colony.grpc_target}\n"
                f"  HTTP token:            coral colony token show --mcp{where}\n"
                f"  Ask it:                "
                f'coral ask "what is running?"{where}\n'
                f"\nClaude Desktop (claude_desktop_config.json):\n"
                f"{claude_desktop_snippet(root)}\n"
            )
            await agent.run(stop)
        finally:
            await colony.close()

    run_daemon(main)
