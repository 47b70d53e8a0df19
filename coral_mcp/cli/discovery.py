"""`coral discovery start`: the relay of colonies' signed records."""

from __future__ import annotations

import click

from coral_mcp.config import DEFAULT_DISCOVERY_PORT
from coral_mcp.runner import run_daemon


@click.group()
def discovery() -> None:
    """Run the discovery service (signed colony records, callers' public addresses)."""


@discovery.command("start")
@click.option("--host", default="0.0.0.0", show_default=True, help="Bind address.")
@click.option(
    "--port", type=int, default=DEFAULT_DISCOVERY_PORT, show_default=True, help="gRPC port."
)
def start(host: str, port: int) -> None:
    """Serve mesh id -> signed colony record, and tell callers the address they come from."""
    import asyncio

    from coral_mcp.discovery.service import serve

    def ready(bound: int) -> None:
        click.echo(f"discovery ready on {host}:{bound}")

    async def main(stop: asyncio.Event) -> None:
        await serve(host, port, stop, ready)

    run_daemon(main)
