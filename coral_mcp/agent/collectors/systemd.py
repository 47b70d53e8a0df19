"""How a systemd unit's main process ended, from `systemctl show`.

The `systemctl` command is the seam (tests pass a fake script). Called only when a
watched process has gone and its exit status was not visible in `/proc`; a missing
`systemctl`, a timeout or an unknown unit yields None.
"""

from __future__ import annotations

import logging
import subprocess

from coral_mcp.agent.collectors.procfs import ExitStatus

logger = logging.getLogger(__name__)

_PROPERTIES = "ExecMainCode,ExecMainStatus,Result"
# siginfo si_code values systemd reports in ExecMainCode
_CLD_EXITED = 1
_CLD_KILLED = 2
_CLD_DUMPED = 3


class SystemdUnits:
    def __init__(self, systemctl: str = "systemctl", timeout_s: float = 2.0) -> None:
        self._systemctl = systemctl
        self._timeout_s = timeout_s

    def exit_status(self, unit: str) -> ExitStatus | None:
        """The exit code or signal of the unit's last main process, if systemd knows it."""
        try:
            done = subprocess.run(
                [self._systemctl, "show", unit, f"--property={_PROPERTIES}"],
                capture_output=True,
                text=True,
                timeout=self._timeout_s,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            logger.debug("systemctl show %s failed: %s", unit, exc)
            return None
        if done.returncode != 0:
            return None
        props = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
        try:
            code = int(props.get("ExecMainCode", "0"))
            status = int(props.get("ExecMainStatus", "0"))
        except ValueError:
            return None
        if code == _CLD_EXITED:
            return ExitStatus(code=status, signal=None, source="systemd")
        if code in (_CLD_KILLED, _CLD_DUMPED):
            return ExitStatus(code=None, signal=status, source="systemd")
        return None
