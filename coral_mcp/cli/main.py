"""`coral`: the one command for colony, agent, embedded mode and questions.

Each subcommand's module is imported only when that subcommand runs (see `LazyGroup`):
`coral ask` starts without the agent's, the colony's or the demo's imports.
"""

from __future__ import annotations

import click

from coral_mcp import __version__
from coral_mcp.cli.common import LazyGroup, log_level_option
from coral_mcp.log import configure_logging

SUBCOMMANDS = {
    "up": "coral_mcp.cli.up:up",
    "colony": "coral_mcp.cli.colony:colony",
    "agent": "coral_mcp.cli.agent:agent",
    "ask": "coral_mcp.cli.ask:ask",
    "investigate": "coral_mcp.cli.investigate:investigate",
    "eval": "coral_mcp.cli.eval:eval_cases",
    "mesh": "coral_mcp.cli.mesh:mesh",
    "discovery": "coral_mcp.cli.discovery:discovery",
    "demo": "coral_mcp.cli.demo:demo",
}


@click.group(
    cls=LazyGroup,
    lazy=SUBCOMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, prog_name="coral")
@log_level_option("INFO")
def coral(log_level: str) -> None:
    """Coral: an observability brain for your distributed application.

    Agents watch each component where it runs; a colony collects what they see and
    answers questions about it, over MCP and from `coral ask`.
    """
    configure_logging(log_level)
