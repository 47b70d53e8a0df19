"""`coral agent ...`: run an agent, or look at what it would see, on this host."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from coral_mcp.agent.launch import LAUNCH_ENV, LEAN_ENV, encode_launch
from coral_mcp.cli.background import (
    background_args,
    daemon_option,
    log_file,
    log_says,
    start_in_background,
    stop_command,
)
from coral_mcp.cli.common import default_data_root
from coral_mcp.config import TUNNEL_CHOICES, AgentSettings
from coral_mcp.errors import QueryError
from coral_mcp.models import ServiceSpec, parse_service_spec
from coral_mcp.runner import run_daemon

#: How long `coral agent status` waits for the first look at services' ports.
PROBE_WAIT_S = 10.0
SERVICE_HELP = (
    "A service to watch, NAME=SPEC, repeatable. SPEC is pid:N (that process), port:N "
    "(the process listening on TCP port N) or name:PATTERN (processes whose name or "
    "command line matches the regex)."
)


def parse_specs(texts: tuple[str, ...]) -> tuple[ServiceSpec, ...]:
    return tuple(parse_service_spec(text) for text in texts)


def build_settings(
    config: Path | None,
    services: tuple[str, ...],
    auto: bool | None,
    data_dir: Path | None,
    auto_probe: bool | None = None,
    **flags: Any,
) -> AgentSettings:
    """Settings from the config file, then flags given on the command line over it."""
    fields: dict[str, Any] = {}
    if config is not None:
        from coral_mcp.agent.config_file import load_config_file

        fields = load_config_file(config)
    specs = parse_specs(services)
    if specs:
        fields["services"] = fields.get("services", ()) + specs
    if auto is not None:
        fields["auto_discover"] = auto
    elif "auto_discover" not in fields:
        fields["auto_discover"] = not fields.get("services")
    if auto_probe is not None:
        fields["auto_probe"] = auto_probe
    fields.update({key: value for key, value in flags.items() if value is not None})
    if data_dir is not None:
        fields["data_dir"] = data_dir
    fields.setdefault("data_dir", default_data_root() / "agent")
    return AgentSettings(**fields)


def settings_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Options shared by every `coral agent` command that looks at the host."""
    options = [
        click.option(
            "--config",
            type=click.Path(path_type=Path, dir_okay=False),
            default=None,
            help="Agent config file (TOML, or YAML by .yaml/.yml); flags override it.",
        ),
        click.option(
            "--service", "services", multiple=True, metavar="NAME=SPEC", help=SERVICE_HELP
        ),
        click.option(
            "--auto/--no-auto",
            default=None,
            help="Also watch every process with a listening TCP port "
            "(default: on when no service is given).",
        ),
        click.option(
            "--data-dir",
            type=click.Path(path_type=Path),
            default=None,
            help="Agent state and raw samples [default: ~/.local/share/coral/agent].",
        ),
        click.option(
            "--auto-probe/--no-auto-probe",
            default=None,
            help="Find and poll watched services' HTTP health, metrics and version "
            "endpoints (and gRPC health) without configuration [default: on].",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@click.group()
def agent() -> None:
    """Run the agent that watches components on this host, or look at what it sees."""


@agent.command("start")
@settings_options
@click.option("--colony", default=None, help="Colony gRPC HOST:PORT [default: 127.0.0.1:9000].")
@click.option("--interval", type=float, default=None, help="Seconds between samples [default: 10].")
@click.option("--push", type=float, default=None, help="Seconds between pushes [default: 15].")
@click.option(
    "--socket-scan",
    type=float,
    default=None,
    help="Seconds between full TCP socket scans [default: 30].",
)
@click.option(
    "--join",
    "join_token",
    default=None,
    metavar="TOKEN",
    help="Join the colony's mesh with this token (once: the agent remembers its identity).",
)
@click.option(
    "--tunnel",
    type=click.Choice(TUNNEL_CHOICES),
    default=None,
    help="Mesh transport: WireGuard (kernel or userspace wireguard-go) or none "
    "(gRPC over TLS pinned to the colony key) [default: auto].",
)
@click.option("--discovery", default=None, help="Discovery service HOST:PORT, for the join.")
@click.option(
    "--wg-interface", default=None, help="WireGuard interface name [default: coral-agent]."
)
@click.option("--wg-port", type=int, default=None, help="WireGuard UDP port [default: 51820].")
@click.option(
    "--colony-token-file",
    type=click.Path(path_type=Path),
    default=None,
    help="The colony's token file (mcp.token), shown on its plain gRPC port; not needed"
    " in a mesh [default: colony/mcp.token beside the agent's data dir].",
)
@daemon_option
def start(
    config: Path | None,
    services: tuple[str, ...],
    auto: bool | None,
    data_dir: Path | None,
    auto_probe: bool | None,
    colony: str | None,
    interval: float | None,
    push: float | None,
    socket_scan: float | None,
    join_token: str | None,
    tunnel: str | None,
    discovery: str | None,
    wg_interface: str | None,
    wg_port: int | None,
    colony_token_file: Path | None,
    daemon: bool,
) -> None:
    """Start an agent and stream what it sees to a colony. Runs until interrupted (or in
    the background with --daemon)."""
    settings = build_settings(
        config,
        services,
        auto,
        data_dir,
        auto_probe,
        colony=colony,
        interval_s=interval,
        push_s=push,
        socket_scan_s=socket_scan,
        tunnel=tunnel,
        discovery=discovery,
        wg_interface=wg_interface,
        wg_port=wg_port,
        colony_token_file=colony_token_file,
    )
    if daemon:  # join here (errors show), then run without the token in the background
        _join(settings, join_token)
        ready = log_says(log_file(settings.data_dir, "agent"), "watching")
        start_in_background("agent", settings.data_dir, _without_token(background_args()), ready)
        return
    # Settings are valid: join the mesh if asked, then go on in a lean process, unless
    # the tunnel is the kernel's: pyroute2 needs `ssl`, which the lean process fences off.
    if os.environ.get(LEAN_ENV) is None and _join(settings, join_token) != "kernel":
        log_level = click.get_current_context().find_root().params.get("log_level", "INFO")
        os.environ[LAUNCH_ENV] = encode_launch(settings, log_level)
        args = _without_token(sys.argv[1:])  # joined: the token is not needed, nor shown in ps
        os.execv(sys.executable, [sys.executable, "-m", "coral_mcp.agent", *args])
    from coral_mcp.agent.daemon import AgentDaemon
    from coral_mcp.agent.footprint import limit_malloc_arenas

    limit_malloc_arenas()
    run_daemon(AgentDaemon(settings).run)


def _without_token(args: list[str]) -> list[str]:
    kept: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg == "--join":
            skip = True
        elif not arg.startswith("--join="):
            kept.append(arg)
    return kept


def _join(settings: AgentSettings, token: str | None) -> str | None:
    """Join the mesh before the lean process starts (key making needs a crypto library);
    the tunnel mode the agent will use, or None outside a mesh."""
    import socket

    from coral_mcp.agent.identity import AgentIdentity
    from coral_mcp.datadir import ensure_data_dir
    from coral_mcp.mesh.join import ensure_joined
    from coral_mcp.mesh.tunnel import choose_mode

    data_dir = ensure_data_dir(settings.data_dir)
    hostname = socket.gethostname()
    agent_id = AgentIdentity.load_or_create(data_dir, hostname).agent_id
    state = ensure_joined(data_dir, agent_id, hostname, token, settings.discovery)
    return None if state is None else choose_mode(settings.tunnel_mode)


def _look(settings: AgentSettings, gap_s: float) -> Any:
    """Two looks `gap_s` apart (CPU and rates need two readings); the second."""
    from coral_mcp.agent.sensing import Sensor

    sensor = Sensor(settings, own_pids=frozenset({os.getpid()}))
    started = time.monotonic()
    sensor.observe()
    if sensor.prober is not None:  # let the first probes of listening ports finish
        sensor.prober.wait(PROBE_WAIT_S)
    time.sleep(max(0.0, gap_s - (time.monotonic() - started)))
    return sensor, sensor.observe()


def look_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """`--json` and `--sample` of the commands that look at the host once."""
    command = click.option(
        "--sample",
        "gap_s",
        type=float,
        default=1.0,
        show_default=True,
        help="Seconds between the two readings that CPU and rates need.",
    )(command)
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")(
        command
    )


@agent.command("status")
@settings_options
@look_options
def status(
    config: Path | None,
    services: tuple[str, ...],
    auto: bool | None,
    data_dir: Path | None,
    auto_probe: bool | None,
    as_json: bool,
    gap_s: float,
) -> None:
    """What an agent on this host sees now: services, their resources, the host. No colony."""
    from coral_mcp.agent.report import status_document, status_text

    settings = build_settings(config, services, auto, data_dir, auto_probe, host_metrics=True)
    sensor, observation = _look(settings, gap_s)
    doc = status_document(observation, sensor)
    click.echo(json.dumps(doc, indent=2) if as_json else status_text(doc))


@agent.command("inspect")
@click.argument("service_name", metavar="SERVICE")
@settings_options
@look_options
def inspect(
    service_name: str,
    config: Path | None,
    services: tuple[str, ...],
    auto: bool | None,
    data_dir: Path | None,
    auto_probe: bool | None,
    as_json: bool,
    gap_s: float,
) -> None:
    """Everything the agent sees of one SERVICE now: processes, sockets, cgroup, probes."""
    from coral_mcp.agent.report import inspect_document, inspect_text

    settings = build_settings(config, services, auto, data_dir, auto_probe, host_metrics=False)
    sensor, observation = _look(settings, gap_s)
    names = sorted(s.name for s in observation.batch.services)
    if service_name not in names:
        seen = ", ".join(names) or "none"
        raise QueryError(
            f"no service named {service_name!r} on this host",
            hint=f"services seen: {seen}; or give it with --service {service_name}=port:N",
        )
    doc = inspect_document(service_name, observation, sensor)
    click.echo(json.dumps(doc, indent=2) if as_json else inspect_text(doc))


agent.add_command(stop_command("agent", lambda: default_data_root() / "agent"))
