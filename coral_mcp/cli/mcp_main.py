"""`coral-mcp`: Coral's MCP server over stdio, for Claude Desktop and other assistants.

stdout carries only the MCP protocol; every log line goes to stderr.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

import click

from coral_mcp import __version__
from coral_mcp.cli.claude_desktop import (
    claude_desktop_snippet,
    default_config_path,
    merge_into,
)
from coral_mcp.cli.common import (
    CoralGroup,
    colony_dir,
    data_dir_option,
    data_root,
    log_level_option,
)
from coral_mcp.cli.rest import ColonyAccess, colony_options_for, get_json, locate
from coral_mcp.colony.running import read_running
from coral_mcp.log import configure_logging
from coral_mcp.runner import run_daemon

logger = logging.getLogger(__name__)


@click.group(cls=CoralGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="coral-mcp")
@log_level_option("WARNING")
def coral_mcp(log_level: str) -> None:
    """Coral's MCP server for AI assistants (stdio)."""
    configure_logging(log_level)


@coral_mcp.command()
@colony_options_for(
    "the colony running on --data-dir; when none runs there, an embedded colony and an"
    " agent for this host, keeping their data in --data-dir"
)
def serve(colony_url: str | None, token: str | None, data_dir: Path | None) -> None:
    """Serve Coral's MCP tools and resources over stdio.

    With --colony, or when a colony runs on --data-dir, serves that colony (with its
    token); otherwise runs an embedded colony and an agent for this host. A colony that
    does not answer, or refuses the token, is an error at start, not on the first call.
    """
    if colony_url or read_running(colony_dir(data_dir)):
        access = locate(colony_url, token, data_dir)
        get_json(access, "/api/v1/status")  # fails here, with the reason, if it cannot work
        _serve_proxy(access)
    else:
        root = data_root(data_dir)
        run_daemon(lambda stop: _serve_embedded(root, stop))


def _serve_proxy(access: ColonyAccess) -> None:
    from coral_mcp.cli.stdio_proxy import serve_colony

    logger.info("serving %s over stdio", access.named)
    asyncio.run(serve_colony(access.url, access.token, access.named))


async def _serve_embedded(root: Path, stop: asyncio.Event) -> None:
    from coral_mcp.agent.daemon import AgentDaemon
    from coral_mcp.colony.daemon import ColonyDaemon
    from coral_mcp.config import AgentSettings, ColonySettings
    from coral_mcp.server import build_server

    settings = ColonySettings(data_dir=root / "colony", grpc_port=0, http_port=0)
    colony = await ColonyDaemon.open(settings)
    agent = AgentDaemon(
        AgentSettings(data_dir=root / "agent", colony=colony.grpc_target, auto_discover=True)
    )
    server = build_server(colony.queries)
    agent_task = asyncio.create_task(agent.run(stop))
    stdio_task = asyncio.create_task(server.run_async(transport="stdio", show_banner=False))
    stopper = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({stdio_task, stopper, agent_task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.set()
        stdio_task.cancel()
        await asyncio.gather(stdio_task, agent_task, stopper, return_exceptions=True)
        await colony.close()


@coral_mcp.group()
def config() -> None:
    """Configure MCP clients to use Coral."""


@config.command("claude-desktop")
@click.option("--write", is_flag=True, help="Merge into Claude Desktop's config file.")
@click.option(
    "--config-path",
    type=click.Path(path_type=Path),
    default=None,
    help="The config file [default: Claude Desktop's, for this platform].",
)
@data_dir_option
def claude_desktop(write: bool, config_path: Path | None, data_dir: Path | None) -> None:
    """Print the Claude Desktop configuration for this machine (absolute paths), or with
    --write merge it into Claude Desktop's config, keeping every other server."""
    root = data_root(data_dir)
    if not write:
        click.echo(claude_desktop_snippet(root))
        return
    path = config_path or default_config_path(sys.platform, Path.home(), os.environ.get("APPDATA"))
    merge_into(path, root)
    click.echo(f"wrote the coral server into {path}; restart Claude Desktop to load it", err=True)
