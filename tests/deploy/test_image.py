"""The container image built by a real builder and run by it, as docs/deploy.md runs it.

Only where a builder answers (`docker info` / `podman info`) and the Dockerfile's base
image is already on the machine: the tests pull nothing. Where no registry is reachable,
`scripts/debian_base_image.sh` makes a local base from Debian's packages and
`CORAL_IMAGE_BASE=coral-base:bookworm` names it. The build installs from PyPI (minutes
the first time; Docker's layer cache keeps the pinned dependencies after that)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import anyio
import httpx2
import mcp
import pytest
from mcp.client.streamable_http import streamable_http_client

from scripts.image_on_host import IMAGE, documented_commands
from tests.conftest import MCP_TIMEOUT_S, ROOT, auth, wait_for

TAG = "coral/colony:test"


def _builder() -> str | None:
    """docker or podman when it can build here (its daemon answers), else None."""
    for tool in ("docker", "podman"):
        if shutil.which(tool) is None:
            continue
        info = subprocess.run([tool, "info"], capture_output=True, check=False, timeout=60)
        if info.returncode == 0:
            return tool
    return None


def _base() -> str:
    """CORAL_IMAGE_BASE, else the Dockerfile's pinned default for its BASE argument."""
    found = re.search(r"^ARG BASE=(\S+)", (ROOT / "Dockerfile").read_text(), re.M)
    assert found, "the Dockerfile declares ARG BASE=<pinned image>"
    return os.environ.get("CORAL_IMAGE_BASE") or found.group(1)


BUILDER, BASE = _builder(), _base()


def _has(image: str) -> bool:
    assert BUILDER is not None
    seen = subprocess.run([BUILDER, "image", "inspect", image], capture_output=True,
                          check=False, timeout=60)  # fmt: skip
    return seen.returncode == 0


pytestmark = [
    pytest.mark.e2e,
    pytest.mark.xdist_group("image"),
    pytest.mark.timeout(2400),
    pytest.mark.skipif(
        BUILDER is None,
        reason="no container builder runs here (`docker info` fails): the image is linted"
        " and its commands run on the host (test_walkthroughs), not built",
    ),
    pytest.mark.skipif(
        BUILDER is not None and not _has(BASE),
        reason=f"the base image {BASE} is not on this machine (tests pull nothing): pull it,"
        " or make one with scripts/debian_base_image.sh and name it in CORAL_IMAGE_BASE",
    ),
]


def _run(*argv: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    assert BUILDER is not None
    return subprocess.run([BUILDER, *argv], capture_output=True, text=True, check=False,
                          timeout=timeout)  # fmt: skip


@pytest.fixture(scope="module")
def image() -> str:
    # --network host: the build's pip reaches PyPI the way this machine does
    built = _run("build", "--network", "host", "--build-arg", f"BASE={BASE}", "-t", TAG,
                 str(ROOT), timeout=2400)  # fmt: skip
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    return TAG


def test_the_image_runs_coral_as_its_own_user_without_pip(image: str) -> None:
    helped = _run("run", "--rm", image, "--help")
    assert helped.returncode == 0 and "colony" in helped.stdout, helped.stderr
    uid = _run("run", "--rm", "--entrypoint", "id", image, "-u")
    assert uid.stdout.strip() == "10001", uid.stderr
    tools = _run("run", "--rm", "--entrypoint", "ls", image, "/opt/coral/bin")
    assert "coral" in tools.stdout.split() and "pip" not in tools.stdout.split()


class Deployment:
    """The documented lines with this run's names: containers and volumes of their own,
    the colony's ports published on free loopback ports, and the agent in the colony's
    network namespace (the documented `--net=host` reaches the colony at the host's
    published ports; a test may not take the fixed ones)."""

    def __init__(self, image: str) -> None:
        self.image = image
        self.suffix = uuid.uuid4().hex[:8]
        self.names: list[str] = []
        self.volumes: list[str] = []
        self.lines = documented_commands((ROOT / "docs" / "deploy.md").read_text())

    def rename(self, argv: list[str]) -> list[str]:
        return [self._renamed(word).replace("colony.example.net", "127.0.0.1") for word in argv]

    def _renamed(self, word: str) -> str:
        if word == IMAGE:
            return self.image
        if re.fullmatch(r"coral-(colony|agent)", word):
            return f"{word}-{self.suffix}"
        if found := re.fullmatch(r"(coral-(?:colony|agent)):(/.*)", word):
            self.volumes.append(f"{found.group(1)}-{self.suffix}")
            return f"{found.group(1)}-{self.suffix}:{found.group(2)}"
        if found := re.fullmatch(r"(?:127\.0\.0\.1:)?\d+:(\d+)", word):
            return f"127.0.0.1::{found.group(1)}"
        return word

    def run(self, role: str, **swap: str) -> str:
        argv = self.rename(self.lines[role][1:])  # after `docker`
        argv = [swap.get(word, word) for word in argv]
        if "--name" in argv:
            self.names.append(argv[argv.index("--name") + 1])
        done = _run(*argv)
        assert done.returncode == 0, f"{argv}: {done.stderr}"
        return done.stdout.strip()

    def colony(self) -> str:
        return f"coral-colony-{self.suffix}"

    def port(self, inside: int) -> int:
        shown = _run("port", self.colony(), f"{inside}/tcp").stdout.split()
        return int(shown[0].rsplit(":", 1)[1])

    def exec(self, argv: list[str]) -> str:
        done = _run("exec", self.colony(), *argv)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def logs(self) -> str:
        shown = []
        for name in self.names:
            logged = _run("logs", name)
            shown.append(f"--- {name}\n{logged.stdout[-2000:]}{logged.stderr[-2000:]}")
        return "\n".join(shown)

    def remove(self) -> None:
        if self.names:
            _run("rm", "--force", *self.names)
        if self.volumes:
            _run("volume", "rm", "--force", *set(self.volumes))


@pytest.fixture
def deployment(image: str) -> Iterator[Deployment]:
    running = Deployment(image)
    try:
        yield running
    finally:
        running.remove()


def _get(url: str, token: str = "") -> httpx2.Response | None:
    try:
        return httpx2.get(url, headers=auth(token) if token else {}, timeout=5)
    except httpx2.HTTPError:
        return None


def _tool_names(url: str, token: str) -> list[str]:
    async def listed() -> list[str]:
        async with httpx2.AsyncClient(headers=auth(token), timeout=MCP_TIMEOUT_S) as http:
            transport = streamable_http_client(f"{url}/mcp", http_client=http)
            async with mcp.Client(transport) as client:  # type: ignore[arg-type]
                return [tool.name for tool in (await client.list_tools()).tools]

    return anyio.run(listed)


def test_the_documented_colony_and_agent_containers_run_and_the_colony_lists_the_agent(
    deployment: Deployment,
) -> None:
    deployment.run("colony_once")  # colony init into the volume
    deployment.run("colony_run")
    url = f"http://127.0.0.1:{deployment.port(9010)}"
    try:
        health = wait_for(lambda: _get(f"{url}/healthz"), 90, "the colony's /healthz")
        assert health.status_code == 200
        token_line = deployment.lines["token"]
        join = deployment.exec(token_line).splitlines()[-1]  # the token alone, last
        host_net = "--net=host"
        assert host_net in deployment.lines["agent_run"]
        deployment.run(
            "agent_run", TOKEN=join, **{host_net: f"--net=container:{deployment.colony()}"}
        )
        mcp_token = deployment.exec(["cat", "/var/lib/coral/colony/mcp.token"])

        def listed() -> dict[str, Any] | None:
            answer = _get(f"{url}/api/v1/agents", mcp_token)
            doc = (
                json.loads(answer.text) if answer is not None and answer.status_code == 200 else {}
            )
            return doc if [a["state"] for a in doc.get("agents", [])] == ["online"] else None

        wait_for(listed, 120, "the colony to list the agent online")
        assert {"get_service", "get_topology"} <= set(_tool_names(url, mcp_token))
    except BaseException:
        print(deployment.logs())
        raise


# --- the systemd units under systemd as PID 1, in a container made from the image ----

BOOT = """#!/bin/sh
# systemd as PID 1 on a cgroup v1 host without a name=systemd hierarchy: give it one.
if [ ! -d /sys/fs/cgroup/systemd ] && [ ! -d /sys/fs/cgroup/unified ]; then
    mkdir -p /sys/fs/cgroup/systemd
    mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd
fi
exec /lib/systemd/systemd
"""

SYSTEMD_HOST = """FROM {image}
USER 0
ENV container=docker
# systemd from Debian; the image's own user goes, so that coral.sysusers makes it
RUN apt-get update && apt-get install -y --no-install-recommends systemd systemd-sysv \\
    && rm -rf /var/lib/apt/lists/* && userdel coral
COPY boot.sh /boot.sh
COPY deploy /src/deploy
WORKDIR /src
STOPSIGNAL SIGRTMIN+3
ENTRYPOINT ["/boot.sh"]
CMD []
"""

#: capability bits (linux/capability.h) of the two the agent's unit keeps
CAP_BITS = {"CAP_DAC_READ_SEARCH": 2, "CAP_SYS_PTRACE": 19}


def _cgroup_version() -> str:
    shown = _run("info", "--format", "{{.CgroupVersion}}")
    return shown.stdout.strip()


@pytest.fixture(scope="module")
def systemd_host(image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A container of the image with Debian's systemd running as PID 1 (the host's
    capabilities less CAP_SYS_RESOURCE, which some VMs do not give even to root, so
    not `--privileged`)."""
    if _cgroup_version() != "1":
        pytest.skip("systemd in a container is set up here for a cgroup v1 host only")
    context = tmp_path_factory.mktemp("systemd-host")
    (context / "boot.sh").write_text(BOOT)
    (context / "boot.sh").chmod(0o755)
    (context / "Dockerfile").write_text(SYSTEMD_HOST.format(image=image))
    shutil.copytree(ROOT / "deploy" / "systemd", context / "deploy" / "systemd")
    tag = f"{image}-systemd"
    built = _run("build", "--network", "host", "-t", tag, str(context), timeout=1200)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    name = f"coral-systemd-{uuid.uuid4().hex[:8]}"
    started = _run("run", "-d", "--name", name, "--network", "none",
                   "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
                   "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
                   "--tmpfs", "/run", "--tmpfs", "/run/lock", "--tmpfs", "/sys/fs/cgroup",
                   tag)  # fmt: skip
    assert started.returncode == 0, started.stderr
    try:
        wait_for(lambda: _sh(name, "systemctl is-system-running").stdout.strip()
                 in {"running", "degraded"}, 120, "systemd to finish booting")  # fmt: skip
        yield name
    except BaseException:
        print(_sh(name, "journalctl --no-pager | tail -60").stdout)
        raise
    finally:
        _run("rm", "--force", "--volumes", name)


def _sh(container: str, script: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return _run("exec", container, "sh", "-c", script, timeout=timeout)


def _install_lines() -> list[str]:
    """docs/deploy.md's systemd install block, run inside: the image already has
    /opt/coral (its pip line is skipped), `sudo -u coral` is setpriv's equivalent."""
    section = (ROOT / "docs" / "deploy.md").read_text().split("## systemd", 1)[1]
    block = section.split("```\n", 2)[1]
    as_coral = "setpriv --reuid=coral --regid=coral --init-groups "
    return [
        line.replace("sudo -u coral ", as_coral)
        .replace("sudo ", "")
        .replace("colony.example.net", "127.0.0.1")
        for line in block.splitlines()
        if line and not line.startswith("#") and "pip install" not in line
    ]


def _main_pid_status(container: str, unit: str) -> dict[str, str]:
    script = f"grep -E '^(Cap|NoNewPrivs|Seccomp:)' /proc/$(systemctl show -p MainPID --value {unit})/status"
    shown = _sh(container, script).stdout
    return dict(line.split(":\t", 1) for line in shown.splitlines())


def _healthz(container: str) -> bool:
    probe = (
        "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9010/healthz', timeout=5)"
    )
    return _sh(container, f'/opt/coral/bin/python -c "{probe}"').returncode == 0


def test_the_documented_systemd_install_runs_both_units_sandboxed_under_systemd(
    systemd_host: str,
) -> None:
    host = systemd_host
    token = ""
    for line in _install_lines():
        if "--join TOKEN" in line:  # join once in the foreground, Ctrl-C once it is watching
            joined = _sh(host, f"{line.replace('TOKEN', token)} >/tmp/join.log 2>&1 & p=$!;"
                         " for i in $(seq 120); do grep -q 'connected to colony' /tmp/join.log"
                         " && break; sleep 1; done; kill -INT $p; wait $p; cat /tmp/join.log")  # fmt: skip
            assert "connected to colony" in joined.stdout, joined.stdout + joined.stderr
            continue
        done = _sh(host, line)
        assert done.returncode == 0, f"{line}: {done.stdout}{done.stderr}"
        if "token create" in line:
            token = done.stdout.strip().splitlines()[-1]
        if "enable --now coral-colony" in line:
            wait_for(lambda: _healthz(host), 120, "the colony unit's /healthz")
    assert token.startswith("coral1.")
    mcp_token = _sh(host, "cat /var/lib/coral/colony/mcp.token").stdout.strip()
    listing = (
        "import json, urllib.request; r = urllib.request.Request('http://127.0.0.1:9010/api/v1/agents',"
        f" headers={{'Authorization': 'Bearer {mcp_token}'}});"
        " print([a['state'] for a in json.load(urllib.request.urlopen(r))['agents']])"
    )
    wait_for(lambda: "['online']" in _sh(host, f'/opt/coral/bin/python -c "{listing}"').stdout,
             120, "the colony to list the agent unit online")  # fmt: skip

    # the sandbox as systemd applied it: the units' users, capabilities, filters
    colony, agent = _main_pid_status(host, "coral-colony"), _main_pid_status(host, "coral-agent")
    assert int(colony["CapEff"], 16) == 0 and int(colony["CapBnd"], 16) == 0
    kept = sum(1 << bit for bit in CAP_BITS.values())
    assert int(agent["CapEff"], 16) == kept and int(agent["CapBnd"], 16) == kept
    for status in (colony, agent):
        assert status["NoNewPrivs"].strip() == "1" and status["Seccomp"].strip() == "2"
    owners = _sh(host, "stat -c '%U %a' /var/lib/coral/colony /var/lib/coral/agent").stdout
    assert owners.split("\n")[:2] == ["coral 700", "coral 700"], owners
    writes = _sh(host, "nsenter -t $(systemctl show -p MainPID --value coral-colony) -m"
                 " sh -c 'touch /usr/coral-probe /etc/coral-probe'")  # fmt: skip
    assert writes.stderr.count("Read-only file system") == 2, writes.stderr

    # Restart=: the colony killed comes back by itself, and journald has its log
    _sh(host, "kill -9 $(systemctl show -p MainPID --value coral-colony)")
    wait_for(lambda: "NRestarts=1" in _sh(host, "systemctl show -p NRestarts coral-colony").stdout,
             60, "systemd to restart the colony")  # fmt: skip
    wait_for(lambda: _healthz(host), 120, "the restarted colony's /healthz")
    journal = _sh(host, "journalctl -u coral-colony --no-pager").stdout
    assert journal.count("colony ready") >= 1 and "status=9/KILL" in journal
