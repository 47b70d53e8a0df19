"""`coral demo`: its options, and Ctrl-C at any point leaving nothing behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from click.testing import CliRunner

from coral_mcp.cli.main import coral
from coral_mcp.demo.scenarios import SCENARIOS
from coral_mcp.demo.stores import check_installed
from coral_mcp.errors import ConfigError
from tests.conftest import ROOT, as_a_terminal_job, child_env


def test_demo_lists_every_scenario_with_its_root_cause() -> None:
    result = CliRunner().invoke(coral, ["demo", "--list"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert [line.split()[0] for line in lines] == list(SCENARIOS)
    assert "root cause: postgres" in next(x for x in lines if x.startswith("dependency_down"))


def test_an_unknown_scenario_is_refused_with_the_choices() -> None:
    result = CliRunner().invoke(coral, ["demo", "--scenario", "meteor_strike"])
    assert result.exit_code == 2
    assert "meteor_strike" in result.output and "crash_loop" in result.output
    assert "Traceback" not in result.output


def _leftovers(workdir: Path, ports: set[int]) -> list[str]:
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "cwd"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if str(workdir) in cmdline or str(proc.info["cwd"] or "").startswith(str(workdir)):
            found.append(f"process {proc.info['pid']}: {cmdline[:120]}")
    listening = {
        c.laddr.port for c in psutil.net_connections("tcp") if c.status == psutil.CONN_LISTEN
    }
    found += [f"port {p} still listening" for p in sorted(ports & listening)]
    if workdir.exists():
        found.append(f"{workdir} still exists")
    return found


@pytest.mark.e2e
@pytest.mark.parametrize("moment", ["colony up", "fault injected", "The colony stays up"])
def test_ctrl_c_at_any_point_leaves_no_process_port_or_directory(moment: str) -> None:
    try:
        check_installed()
    except ConfigError as exc:
        pytest.skip(f"{exc.message} ({exc.hint})")
    # A fault that costs no CPU (a slower query): `cpu_saturation` would burn a core from
    # its injection to the Ctrl-C, slowing every test beside this one.
    cmd = [sys.executable, "-m", "coral_mcp", "demo", "--scenario", "latency"]
    demo = subprocess.Popen(
        [*cmd, "--warmup", "10", "--deadline", "15"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=child_env(),
        cwd=ROOT,
        start_new_session=True,  # its own process group, as a terminal's foreground job
        preexec_fn=as_a_terminal_job,  # noqa: PLW1509 - the signals a shell's job starts with
    )
    assert demo.stdout is not None
    output: list[str] = []
    try:
        deadline = time.monotonic() + 120
        while not any(moment in line for line in output):
            line = demo.stdout.readline().decode()
            assert line, f"demo ended before {moment!r}: {''.join(output)}"
            assert time.monotonic() < deadline, f"no {moment!r} in time: {''.join(output)}"
            output.append(line)
        os.killpg(demo.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        rest, _ = demo.communicate(timeout=60)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    text = "".join(output) + rest.decode()
    assert demo.returncode == 130, text
    assert "interrupted: stopping every process the demo started" in text
    workdir = Path(re.search(r"working directory (\S+)", text).group(1))  # type: ignore[union-attr]
    ports = {int(p) for p in re.findall(r"127\.0\.0\.1:(\d+)", text)}
    assert ports or moment == "colony up", text
    assert _leftovers(workdir, ports) == [], text
