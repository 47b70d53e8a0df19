"""What every command shares: error display, default paths, running a daemon."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from click.decorators import FC

from coral_mcp.errors import AlreadyRunningError, CoralError

if TYPE_CHECKING:
    from coral_mcp.investigate.ask_settings import AskSettings


class CoralGroup(click.Group):
    """A click group that shows a CoralError as one line (with its hint) and exits 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CoralError as exc:
            raise click.ClickException(error_line(exc)) from None
        except KeyboardInterrupt:
            raise SystemExit(130) from None


class LazyGroup(CoralGroup):
    """A CoralGroup whose subcommands, given as {name: "module:attribute"}, are imported
    only when run, listed or helped: `coral ask` does not pay for the agent's imports."""

    def __init__(self, *args: Any, lazy: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy and cmd_name not in self.commands:
            import importlib

            module, attribute = self.lazy[cmd_name].split(":")
            self.add_command(getattr(importlib.import_module(module), attribute), cmd_name)
        return super().get_command(ctx, cmd_name)


def log_level_option(default: str) -> Callable[[FC], FC]:
    """--log-level for a top-level command; logs always go to stderr."""
    return click.option(
        "--log-level",
        type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
        default=default,
        show_default=True,
        help="How much to log (always to stderr).",
    )


def error_line(exc: CoralError) -> str:
    line = exc.message if exc.hint is None else f"{exc.message} ({exc.hint})"
    return terminal_safe(line)


#: Control characters (but newline and tab) and bidirectional overrides: text from
#: agents, colonies or LLMs shows them escaped, so none can drive the terminal.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def terminal_safe(text: str) -> str:
    """`text` with every character that could drive a terminal shown escaped."""
    return _UNSAFE.sub(lambda m: ascii(m.group())[1:-1], text)


def echo_text(text: str) -> None:
    """Print human-readable text that carries data from elsewhere (never raw escapes)."""
    click.echo(terminal_safe(text))


def default_data_root() -> Path:
    """$CORAL_HOME, else $XDG_DATA_HOME/coral, else ~/.local/share/coral."""
    if home := os.environ.get("CORAL_HOME"):
        return Path(home)
    xdg = os.environ.get("XDG_DATA_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "share") / "coral"


#: The one meaning of --data-dir, for every command that has it.
DATA_DIR_HELP = (
    "Coral's data directory: the colony keeps its files in DIR/colony, the agent in"
    " DIR/agent [default: $CORAL_HOME, else ~/.local/share/coral]."
)


def data_dir_option(func: FC) -> FC:
    """--data-dir, meaning Coral's data directory (see DATA_DIR_HELP) wherever it appears."""
    return click.option(
        "--data-dir", type=click.Path(path_type=Path), default=None, help=DATA_DIR_HELP
    )(func)


def data_root(data_dir: Path | None) -> Path:
    """--data-dir if given, else the default data directory."""
    return data_dir or default_data_root()


def colony_dir(data_dir: Path | None) -> Path:
    """Where the colony of this data directory keeps its files."""
    return data_root(data_dir) / "colony"


def refuse_second_start(data_dir: Path | None) -> None:
    """AlreadyRunningError when a colony already runs on this data directory."""
    from coral_mcp.colony.running import read_running

    running = read_running(colony_dir(data_dir))
    if running is not None:
        raise AlreadyRunningError(
            f"Coral is already running (pid {running.pid}, data dir {data_root(data_dir)})",
            hint=f"it answers at {running.http_url}; stop it first (kill -INT {running.pid}),"
            " or give this one its own --data-dir",
        )


def agent_dir(data_dir: Path | None) -> Path:
    """Where the agent of this data directory keeps its files."""
    return data_root(data_dir) / "agent"


def script_path(name: str) -> str:
    """Absolute path of a console script installed beside this Python, else its name."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def echo_err(text: str) -> None:
    click.echo(text, err=True)


def dashboard_ask() -> AskSettings | None:
    """The LLM of Coral's config file (its `[ask]` table, read as `coral ask` reads it)
    for the dashboard's ask box; None (the builtin provider) when it names none. A
    config that cannot be used is said on stderr; the builtin provider answers then."""
    from coral_mcp.investigate.ask_settings import default_config_path, load

    path = default_config_path(os.environ, Path.home())
    try:
        settings = load(path, os.environ)
    except CoralError as exc:
        echo_err(f"warning: the dashboard's ask box answers offline: {error_line(exc)}")
        return None
    return None if settings.provider == "builtin" else settings
