"""The console scripts `coral` and `coral-mcp`: quiet on Ctrl-C from their first instant.

Importing the commands takes a few hundred milliseconds; an interrupt in that time would
print a KeyboardInterrupt traceback. Until a command installs its own handling (daemons
stop cleanly on SIGINT, see `run_daemon`), Ctrl-C simply ends the process, as it ends any
other program.
"""

from __future__ import annotations

import signal


def _end_quietly_on_interrupt() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def coral() -> None:
    _end_quietly_on_interrupt()
    from coral_mcp.cli.main import coral as command

    command(prog_name="coral")


def coral_mcp() -> None:
    _end_quietly_on_interrupt()
    from coral_mcp.cli.mcp_main import coral_mcp as command

    command(prog_name="coral-mcp")
