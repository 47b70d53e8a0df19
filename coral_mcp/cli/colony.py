"""`coral colony ...`: run the colony that collects, stores and answers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click
from click.decorators import FC

from coral_mcp.cli.common import default_data_root, run_daemon
from coral_mcp.config import DEFAULT_GRPC_PORT, DEFAULT_HTTP_PORT, ColonySettings


def data_dir_option(default_leaf: str) -> Callable[[FC], FC]:
    return click.option(
        "--data-dir",
        type=click.Path(path_type=Path),
        default=None,
        help=f"Where data is kept [default: ~/.local/share/coral/{default_leaf}].",
    )


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


@click.group()
def colony() -> None:
    """Run and inspect the colony."""


@colony.command("start")
@data_dir_option("colony")
@port_options
def start(
    data_dir: Path | None, grpc_host: str, grpc_port: int, http_host: str, http_port: int
) -> None:
    """Start a colony: gRPC for agents, REST and MCP (/mcp) over HTTP. Runs until interrupted."""
    from coral_mcp.colony.daemon import ColonyDaemon

    settings = ColonySettings(
        data_dir=data_dir or default_data_root() / "colony",
        grpc_host=grpc_host,
        grpc_port=grpc_port,
        http_host=http_host,
        http_port=http_port,
    )
    run_daemon(ColonyDaemon(settings).run)
