"""`coral`: the one command for colony, agent, embedded mode and questions."""

from __future__ import annotations

import click

from coral_mcp import __version__
from coral_mcp.cli.agent import agent
from coral_mcp.cli.ask import ask
from coral_mcp.cli.colony import colony
from coral_mcp.cli.common import CoralGroup, log_level_option
from coral_mcp.cli.demo import demo
from coral_mcp.cli.discovery import discovery
from coral_mcp.cli.eval import eval_cases
from coral_mcp.cli.investigate import investigate
from coral_mcp.cli.mesh import mesh
from coral_mcp.cli.up import up
from coral_mcp.log import configure_logging


@click.group(cls=CoralGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="coral")
@log_level_option("INFO")
def coral(log_level: str) -> None:
    """Coral: an observability brain for your distributed application.

    Agents watch each component where it runs; a colony collects what they see and
    answers questions about it, over MCP and from `coral ask`.
    """
    configure_logging(log_level)


coral.add_command(up)
coral.add_command(colony)
coral.add_command(agent)
coral.add_command(ask)
coral.add_command(investigate)
coral.add_command(eval_cases)
coral.add_command(mesh)
coral.add_command(discovery)
coral.add_command(demo)
