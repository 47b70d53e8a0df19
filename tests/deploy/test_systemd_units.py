"""deploy/systemd: the units are valid for systemd, hardened, and their command lines
are ones `coral` accepts."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from coral_mcp.cli.main import coral
from tests.conftest import DATA, ROOT, Processes, free_port

UNITS = ROOT / "deploy" / "systemd"
INSTALLED = "/opt/coral/bin/coral"  # where docs/deploy.md installs Coral
NAMES = ["coral-colony.service", "coral-agent.service"]
needs_systemd = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze is not installed (Debian: apt-get install systemd)",
)


def _here(tmp_path: Path) -> Path:
    """The units with Coral's install path pointed at this checkout's `coral` (systemd
    refuses an ExecStart that does not exist); nothing else is changed."""
    for name in NAMES:
        text = (
            (UNITS / name)
            .read_text()
            .replace(INSTALLED, str(Path(sys.executable).parent / "coral"))
        )
        (tmp_path / name).write_text(text)
    return tmp_path


def _service(name: str) -> dict[str, list[str]]:
    """The [Service] entries, each key with all its values in order (systemd allows
    repeated keys, which configparser does not)."""
    entries: dict[str, list[str]] = {}
    section = None
    for line in (UNITS / name).read_text().splitlines():
        if line.startswith("["):
            section = line.strip("[]")
        elif section == "Service" and "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            entries.setdefault(key, []).append(value)
    return entries


@needs_systemd
def test_systemd_analyze_verify_accepts_both_units(tmp_path: Path) -> None:
    here = _here(tmp_path)
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", "--generators=no", *(str(here / n) for n in NAMES)],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "", done.stderr


@needs_systemd
@pytest.mark.parametrize(
    ("name", "most"), [("coral-colony.service", 2.0), ("coral-agent.service", 3.0)]
)
def test_systemd_rates_the_units_exposure_low(tmp_path: Path, name: str, most: float) -> None:
    here = _here(tmp_path)
    done = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", "--no-pager", str(here / name)],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    found = re.search(r"Overall exposure level for \S+: ([0-9.]+)", done.stdout)
    assert found, done.stdout + done.stderr
    assert float(found.group(1)) <= most, done.stdout


@needs_systemd
def test_broken_units_are_caught_by_systemd_analyze(tmp_path: Path) -> None:
    here = _here(tmp_path)
    broken = here / "coral-colony.service"
    broken.write_text(broken.read_text().replace("Type=simple", "Type=simplest"))
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", "--generators=no", str(broken)],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert "Failed to parse service type" in done.stderr


@pytest.mark.parametrize("name", NAMES)
def test_units_run_as_the_dedicated_user_with_no_new_privileges(name: str) -> None:
    service = _service(name)
    assert service["User"] == ["coral"] and service["Group"] == ["coral"]
    assert service["NoNewPrivileges"] == ["yes"] and service["ProtectSystem"] == ["strict"]
    assert service["Restart"][0] in {"on-failure", "always"}
    assert "u coral " in (UNITS / "coral.sysusers").read_text()


def test_only_the_agent_holds_capabilities_and_only_the_two_it_needs() -> None:
    assert _service("coral-colony.service")["CapabilityBoundingSet"] == [""]
    agent = _service("coral-agent.service")
    assert set(agent["CapabilityBoundingSet"][0].split()) == {
        "CAP_SYS_PTRACE",
        "CAP_DAC_READ_SEARCH",
    }
    assert agent["AmbientCapabilities"] == agent["CapabilityBoundingSet"]


@pytest.mark.parametrize("name", NAMES)
def test_the_units_command_lines_are_accepted_by_coral(name: str) -> None:
    argv = shlex.split(_service(name)["ExecStart"][0])
    assert argv[0] == INSTALLED
    context = coral.make_context("coral", argv[1:3])  # group + subcommand
    group = context.command
    sub = group.get_command(context, argv[1])  # type: ignore[attr-defined]
    command = sub.get_command(context, argv[2])
    parsed = command.make_context(argv[2], argv[3:])  # raises on an unknown option
    assert parsed.params["data_dir"] == Path("/var/lib/coral")  # colony/ and agent/ inside


PROBE = "from coral_mcp.agent.collectors.sdk import SdkProbe; print(SdkProbe().read({pid}))"


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="needs root and setpriv(1) to run as another user with chosen capabilities",
)
def test_the_agent_units_capabilities_let_an_unprivileged_agent_read_another_users_sdk(
    procs: Processes,
) -> None:
    app = procs.start(
        "root-app",
        [sys.executable, str(DATA / "sdk_app.py"), "--port", str(free_port()), "--version", "7"],
        wait_ready=True,
    )
    caps = _service("coral-agent.service")["AmbientCapabilities"][0].split()
    inherit = ",".join("+" + cap.removeprefix("CAP_").lower() for cap in caps)

    def probe(*cap_args: str) -> str:
        done = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cap_args,
             sys.executable, "-c", PROBE.format(pid=app.pid)],
            capture_output=True, text=True, check=False, timeout=60, cwd=ROOT,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert probe().strip() == "None"  # nobody, no capabilities: the process is closed to it
    seen = probe(f"--inh-caps={inherit}", f"--ambient-caps={inherit}")
    assert "service='shop-api'" in seen and "version='7'" in seen
