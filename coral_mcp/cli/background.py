"""`--daemon` and `stop`: the colony and the agent as background processes.

`coral colony start --daemon` starts the same command again as a detached child (its
own session, stdin closed, stdout and stderr appended to `<data-dir>/colony.log`),
writes the child's pid to `<data-dir>/colony.pid`, waits until it is ready (the colony:
its HTTP port answers; the agent: it logged that it is watching) and returns. If the
child dies first, its last log lines are shown and the command fails. `coral colony
stop` sends SIGTERM to the pid in the file (after checking that it is a Coral process
of that role, so a reused pid is never signalled) and waits for the clean exit.

Under systemd or Kubernetes, run in the foreground instead (see docs/deploy.md).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import click
import psutil
from click.decorators import FC

from coral_mcp.datadir import ensure_data_dir
from coral_mcp.errors import ConfigError

#: Whether the background process with this pid is ready to serve.
Ready = Callable[[int], bool]
READY_TIMEOUT_S = 60.0
_TAIL_LINES = 15


def daemon_option(func: FC) -> FC:
    return click.option(
        "--daemon",
        is_flag=True,
        help="Run in the background: pid and log files in the data directory;"
        " stop it with the matching `stop` command.",
    )(func)


def pid_file(data_dir: Path, role: str) -> Path:
    return data_dir / f"{role}.pid"


def log_file(data_dir: Path, role: str) -> Path:
    return data_dir / f"{role}.log"


def running_pid(data_dir: Path, role: str) -> int | None:
    """The pid in the role's pid file when that process is alive and is Coral's `role`."""
    try:
        pid = int(pid_file(data_dir, role).read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        cmdline = psutil.Process(pid).cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None
    text = " ".join(cmdline)
    return pid if "coral" in text and role in cmdline else None


def start_in_background(role: str, data_dir: Path, args: list[str], ready: Ready) -> None:
    """Run `python -m coral_mcp *args` detached; return once `ready()` holds."""
    ensure_data_dir(data_dir)
    pid = running_pid(data_dir, role)
    if pid is not None:
        raise ConfigError(
            f"the {role} is already running as pid {pid} (data dir {data_dir})",
            hint=f"stop it first: coral {role} stop --data-dir {data_dir}",
        )
    log = log_file(data_dir, role)
    with open(log, "ab") as out:
        child = subprocess.Popen(
            [sys.executable, "-m", "coral_mcp", *args],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    pid_file(data_dir, role).write_text(f"{child.pid}\n")
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not ready(child.pid):
        if child.poll() is not None:
            pid_file(data_dir, role).unlink(missing_ok=True)
            raise ConfigError(
                f"the {role} exited at start (code {child.returncode}); its log {log} ends:\n"
                + _tail(log),
                hint="fix the cause above and start again",
            )
        if time.monotonic() > deadline:
            raise ConfigError(
                f"the {role} (pid {child.pid}) is not ready after {READY_TIMEOUT_S:.0f} s",
                hint=f"see {log}; stop it with: coral {role} stop --data-dir {data_dir}",
            )
        time.sleep(0.1)
    click.echo(f"{role} started in the background: pid {child.pid}, log {log}")


def stop(role: str, data_dir: Path, timeout_s: float) -> None:
    """SIGTERM the role's background process and wait for it to end."""
    path = pid_file(data_dir, role)
    pid = running_pid(data_dir, role)
    if pid is None:
        stale = path.exists()
        path.unlink(missing_ok=True)
        click.echo(f"the {role} is not running" + (" (stale pid file removed)" if stale else ""))
        return
    os.kill(pid, signal.SIGTERM)
    try:
        psutil.Process(pid).wait(timeout_s)
    except psutil.TimeoutExpired:
        raise ConfigError(
            f"the {role} (pid {pid}) is still running {timeout_s:.0f} s after SIGTERM",
            hint=f"wait longer (--timeout) or end it with: kill -KILL {pid}",
        ) from None
    except psutil.NoSuchProcess:
        pass
    path.unlink(missing_ok=True)
    click.echo(f"{role} (pid {pid}) stopped")


def log_says(log: Path, text: str) -> Ready:
    """Ready once `text` appears in the log after this moment."""
    start = log.stat().st_size if log.exists() else 0

    def check(pid: int) -> bool:
        try:
            with log.open("rb") as handle:
                handle.seek(start)
                return text.encode() in handle.read()
        except OSError:
            return False

    return check


def background_args() -> list[str]:
    """This command's arguments, without --daemon."""
    return [arg for arg in sys.argv[1:] if arg != "--daemon"]


def stop_command(role: str, role_dir: Callable[[Path | None], Path]) -> click.Command:
    """`coral ROLE stop [--data-dir D]`: D is Coral's data directory, as everywhere."""

    @click.command("stop")
    @click.option(
        "--data-dir",
        type=click.Path(path_type=Path),
        default=None,
        help=f"Coral's data directory; the {role} keeps its files in DIR/{role}"
        " [default: ~/.local/share/coral].",
    )
    @click.option(
        "--timeout",
        type=float,
        default=30.0,
        show_default=True,
        help="Seconds to wait for a clean exit.",
    )
    def command(data_dir: Path | None, timeout: float) -> None:
        stop(role, role_dir(data_dir), timeout)

    command.help = f"Stop the {role} started with `coral {role} start --daemon`."
    return command


def _tail(log: Path) -> str:
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(lines[-_TAIL_LINES:])
