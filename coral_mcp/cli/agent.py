"""`coral agent ...`: run an agent that watches this host's components."""

from __future__ import annotations

from pathlib import Path

import click

from coral_mcp.cli.common import default_data_root, run_daemon
from coral_mcp.config import AgentSettings
from coral_mcp.models import ServiceSpec, parse_service_spec

SERVICE_HELP = (
    "A service to watch, NAME=SPEC, repeatable. SPEC is pid:N (that process), port:N "
    "(the process listening on TCP port N) or name:PATTERN (processes whose name or "
    "command line matches the regex)."
)


def parse_specs(texts: tuple[str, ...]) -> tuple[ServiceSpec, ...]:
    return tuple(parse_service_spec(text) for text in texts)


@click.group()
def agent() -> None:
    """Run the agent that watches components on this host."""


@agent.command("start")
@click.option(
    "--colony", default="127.0.0.1:9000", show_default=True, help="Colony gRPC HOST:PORT."
)
@click.option("--service", "services", multiple=True, metavar="NAME=SPEC", help=SERVICE_HELP)
@click.option(
    "--auto/--no-auto",
    default=None,
    help="Also watch every process with a listening TCP port (default: on when no --service).",
)
@click.option(
    "--interval", type=float, default=10.0, show_default=True, help="Seconds between samples."
)
@click.option("--push", type=float, default=15.0, show_default=True, help="Seconds between pushes.")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Agent state and raw samples [default: ~/.local/share/coral/agent].",
)
def start(
    colony: str,
    services: tuple[str, ...],
    auto: bool | None,
    interval: float,
    push: float,
    data_dir: Path | None,
) -> None:
    """Start an agent and stream what it sees to a colony. Runs until interrupted."""
    from coral_mcp.agent.daemon import AgentDaemon

    specs = parse_specs(services)
    settings = AgentSettings(
        data_dir=data_dir or default_data_root() / "agent",
        colony=colony,
        services=specs,
        auto_discover=auto if auto is not None else not specs,
        interval_s=interval,
        push_s=push,
    )
    daemon = AgentDaemon(settings)
    run_daemon(daemon.run)
