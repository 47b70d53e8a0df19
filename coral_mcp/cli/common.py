"""What every command shares: error display, default paths, running a daemon."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from click.decorators import FC

from coral_mcp.errors import CoralError


class CoralGroup(click.Group):
    """A click group that shows a CoralError as one line (with its hint) and exits 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CoralError as exc:
            raise click.ClickException(error_line(exc)) from None
        except KeyboardInterrupt:
            raise SystemExit(130) from None


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


def script_path(name: str) -> str:
    """Absolute path of a console script installed beside this Python, else its name."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def echo_err(text: str) -> None:
    click.echo(text, err=True)
