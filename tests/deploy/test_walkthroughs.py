"""The deployment files' commands, run on this host as the files write them.

No container daemon, kubelet or systemd as PID 1 runs here, so the images, pods and
units cannot run as such; their command lines can, with their paths moved into a
scratch directory (docs/deploy.md says which checks ran where)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
import yaml

from coral_mcp.datadir import ensure_data_dir
from coral_mcp.models import (
    Endpoint,
    MetricSummary,
    ServiceBatch,
    ServiceState,
    SummaryWindow,
)
from coral_mcp.storage.ops import RegisterAgent, StoreServices, StoreSummaries
from coral_mcp.storage.store import ColonyStore
from tests.conftest import ROOT, auth, child_env, coral_cmd, free_port

BIN = Path(sys.executable).parent
KUBE = ROOT / "deploy" / "kubernetes"


def _colony_pod() -> dict[str, Any]:
    documents = yaml.safe_load_all((KUBE / "colony.yaml").read_text())
    colony = next(d for d in documents if d and d["kind"] == "StatefulSet")
    return dict(colony["spec"]["template"]["spec"])


def test_the_colony_pods_init_container_succeeds_on_every_start_and_keeps_its_keys(
    tmp_path: Path,
) -> None:
    pod = _colony_pod()
    init = pod["initContainers"][0]["command"]
    mount = pod["initContainers"][0]["volumeMounts"][0]["mountPath"]
    argv = [part.replace(mount, str(tmp_path)) for part in init]
    env = {**child_env(), "PATH": f"{BIN}:{os.environ['PATH']}"}

    def start() -> None:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120,
                              check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr

    start()
    identity = next(tmp_path.rglob("colony-identity.json"))
    made = identity.read_bytes()
    start()  # the pod restarts: the init container runs again
    assert identity.read_bytes() == made  # and makes no new keys
    # ... and the colony container reads the identity the init container made
    args = pod["containers"][0]["args"]
    data_dir = Path(args[args.index("--data-dir") + 1].replace(mount, str(tmp_path)))
    assert identity == data_dir / "colony" / "mesh" / "colony-identity.json"


needs_root_tools = pytest.mark.skipif(
    os.geteuid() != 0 or not all(shutil.which(t) for t in ("setpriv", "unshare", "strace")),
    reason="needs root, setpriv(1), unshare(1) and strace(1): the image's user, a network"
    " namespace for its fixed ports, and a trace of what colony and agent call",
)


_CALL = re.compile(r"^\d+\s+(?:<\.\.\. )?([a-z_0-9]+)(?:\(| resumed>)")
_WRITE = re.compile(
    r'^\d+\s+(?:openat\(AT_FDCWD, "([^"]+)", [^)]*O_(?:WRONLY|RDWR|CREAT)'
    r'|(?:mkdir|unlink|rename|renameat2?|mkdirat|unlinkat)\([^"]*"([^"]+)")'
)
#: What setpriv (standing in for systemd and Docker) itself calls to drop to the image's
#: user before it executes coral: not refused in the played run, checked on coral's part
#: of the trace instead.
_SETPRIV_CALLS = {"setgroups", "setresuid", "setresgid", "setreuid", "setregid", "setuid",
                  "setgid", "capset"}  # fmt: skip


def _unit(name: str) -> dict[str, list[str]]:
    entries: dict[str, list[str]] = {}
    for line in (ROOT / "deploy" / "systemd" / name).read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            entries.setdefault(key, []).append(value)
    return entries


def _syscall_set(*groups: str) -> set[str]:
    """System calls of systemd's named groups (`@system-service`), nested groups expanded."""
    out = subprocess.run(["systemd-analyze", "syscall-filter", "--no-pager"],
                         capture_output=True, text=True, check=True, timeout=60).stdout  # fmt: skip
    members: dict[str, set[str]] = {}
    current = ""
    for line in out.splitlines():
        word = line.strip()
        if line.startswith("@"):
            current = word.split()[0]
            members[current] = set()
        elif current and word and not word.startswith("#"):
            members[current].add(word)

    def expand(name: str) -> set[str]:
        return set().union(*(expand(m) for m in members[name])) if name in members else {name}

    return set().union(*(expand(g) for g in groups))


def _allowed_calls() -> set[str]:
    """What both units' SystemCallFilter lets through (their filters are the same)."""
    filters = _unit("coral-colony.service")["SystemCallFilter"]
    assert filters == _unit("coral-agent.service")["SystemCallFilter"]
    allow, deny = filters
    return _syscall_set(*allow.split()) - _syscall_set(*deny.removeprefix("~").split())


def _walk(traces: Path, strace: dict[str, str]) -> dict[str, Any]:
    """scripts/image_on_host.py in a network namespace of its own (the image's ports are
    fixed), colony and agent under strace with `strace` extra arguments per role."""
    more = [arg for role, spec in strace.items() for arg in ("--strace", f"{role}={spec}")]
    done = subprocess.run(
        ["unshare", "-n", sys.executable, str(ROOT / "scripts" / "image_on_host.py"),
         "--trace", str(traces), *more],
        capture_output=True, text=True, timeout=600, env=child_env(), check=False,
    )  # fmt: skip
    lines = done.stdout.strip().splitlines()
    report: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    assert report.get("ok"), done.stdout + done.stderr
    return report


# One worker runs this module: its module fixture is made once.
pytestmark = pytest.mark.xdist_group("walkthrough")


@pytest.fixture(scope="module")
def walkthrough() -> Iterator[tuple[dict[str, Any], Path]]:
    """The image's commands run once, with every system call the units' filter refuses
    refused (strace injects the EPERM systemd's SystemCallErrorNumber gives): its report
    and the colony's and agent's traces."""
    refused = _syscall_set("@known") - _allowed_calls() - _SETPRIV_CALLS
    inject = "-e inject=" + ",".join(sorted(f"?{name}" for name in refused)) + ":error=EPERM"
    traces = Path(tempfile.mkdtemp(prefix="coral-traces-"))
    try:
        yield _walk(traces, {"colony": inject, "agent": inject}), traces
    finally:
        shutil.rmtree(traces, ignore_errors=True)


def _coral_lines(trace: Path) -> list[str]:
    """The trace from coral's own start (setpriv's calls before it execs coral dropped)."""
    lines = trace.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if re.search(r'execve\("[^"]*/coral"', line))
    return lines[start:]


def _calls(lines: list[str]) -> set[str]:
    return {m.group(1) for line in lines if (m := _CALL.match(line))}


@pytest.mark.e2e
@needs_root_tools
def test_the_images_default_command_and_the_documented_docker_lines_run_on_this_host(
    walkthrough: tuple[dict[str, Any], Path],
) -> None:
    """Init, the image's ENTRYPOINT + CMD as uid 10001, a token, then the agent's
    `docker run` line holding only its two capabilities, until the colony lists it."""
    report, _ = walkthrough
    assert report["user"] == "10001:10001" and report["healthz"] == 200
    assert report["agent_capabilities"] == ["sys_ptrace", "dac_read_search"]
    assert report["agents"] and {"colony.duckdb", "mcp.token", "mesh"} <= set(
        report["colony_files"]
    )


@pytest.mark.e2e
@needs_root_tools
@pytest.mark.parametrize("role", ["colony", "agent"])
def test_colony_and_agent_work_with_the_system_calls_their_units_refuse_refused(
    walkthrough: tuple[dict[str, Any], Path], role: str
) -> None:
    """SystemCallFilter=@system-service ~@privileged @resources with EPERM, played by
    strace: the walk above succeeded although every refused call failed, and coral
    itself made none of the calls that were let through for setpriv's sake. (A refusal
    that happens is harmless where the caller ignores it: OpenBLAS's `mbind` of its
    buffers, SQLite's `fchown` of its journal when running as root.)"""
    _, traces = walkthrough
    lines = _coral_lines(traces / f"{role}.trace")
    called = _calls(lines)
    assert len(called) > 40, called  # the trace is real
    refused = called - _allowed_calls()
    assert refused & _SETPRIV_CALLS == set()
    for name in refused:  # each refused call was refused in the run
        ended = [
            line for line in lines
            if (m := _CALL.match(line)) and m.group(1) == name and "<unfinished" not in line
        ]  # fmt: skip
        assert ended and all("(INJECTED)" in line for line in ended), name


@pytest.mark.e2e
@needs_root_tools
@pytest.mark.parametrize("role", ["colony", "agent"])
def test_colony_and_agent_open_only_the_socket_families_their_units_allow(
    walkthrough: tuple[dict[str, Any], Path], role: str
) -> None:
    _, traces = walkthrough
    opened = set(re.findall(r"socket\((AF_\w+)", "\n".join(_coral_lines(traces / f"{role}.trace"))))
    allowed = set(_unit(f"coral-{role}.service")["RestrictAddressFamilies"][0].split())
    assert "AF_INET" in opened and opened <= allowed, opened


@pytest.mark.e2e
@needs_root_tools
@pytest.mark.parametrize("role", ["colony", "agent"])
def test_colony_and_agent_write_only_their_data_directory_and_tmp(
    walkthrough: tuple[dict[str, Any], Path], role: str
) -> None:
    """What ProtectSystem=strict with StateDirectory, PrivateTmp and PrivateDevices
    leaves writable (the image: its volume and the --tmpfs /tmp beside --read-only)."""
    report, traces = walkthrough
    data = f"{report['scratch']}/var/lib/coral"  # /var/lib/coral, /var/lib/coral-agent
    lines = _coral_lines(traces / f"{role}.trace")
    written = {m.group(1) or m.group(2) for line in lines if (m := _WRITE.match(line))}
    assert any(path.startswith(data) for path in written)  # the trace is real
    outside = {
        path for path in written
        if path.startswith("/") and not path.startswith((data, "/tmp/", "/dev/null", "/dev/shm/"))
    }  # fmt: skip
    assert outside == set()


@pytest.mark.e2e
@needs_root_tools
def test_the_colony_works_without_the_proc_files_its_unit_hides(
    walkthrough: tuple[dict[str, Any], Path], tmp_path: Path
) -> None:
    """ProtectProc=invisible and ProcSubset=pid leave the colony only its own /proc/PID:
    what else it opened in the walk above (psutil, DuckDB's allocator and gRPC read a
    few files at start) is made to fail in a second walk (ENOENT, as hidden files do),
    which must succeed as well."""
    _, traces = walkthrough
    opened = set(re.findall(r'"(/proc/[^"]*)"', "\n".join(_coral_lines(traces / "colony.trace"))))
    hidden = {path for path in opened if not re.match(r"/proc/(self|thread-self|\d+)(/|$)", path)}
    if not hidden:
        return
    paths = " ".join(f"-P {path}" for path in sorted(hidden))
    report = _walk(tmp_path, {"colony": f"{paths} -e inject=open,openat:error=ENOENT"})
    assert report["healthz"] == 200 and report["agents"]
    failed = (tmp_path / "colony.trace").read_text()
    assert all(f'"{path}"' in failed for path in hidden) and "(INJECTED)" in failed


def _coral(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(coral_cmd(*args), capture_output=True, text=True, check=False,
                          timeout=120, env=child_env())  # fmt: skip


def _services(http_port: str, token: str) -> list[str]:
    answer = httpx2.get(f"http://127.0.0.1:{http_port}/api/v1/services",
                        headers=auth(token), timeout=10)  # fmt: skip
    assert answer.status_code == 200, answer.text
    return [s["name"] for s in answer.json()["services"]]


def test_a_colony_restored_from_the_documented_backup_has_its_data_and_token(
    tmp_path: Path,
) -> None:
    """docs/deploy.md: stop the colony, tar its directory, (lose it,) unpack, start."""
    root = tmp_path / "coral"
    store = ColonyStore(ensure_data_dir(root / "colony"))
    now_ms = int(time.time() * 1000)
    api = ServiceState("api", "port:8000", (4242,), (Endpoint("127.0.0.1", 8000),), ())
    cpu = MetricSummary("api", "cpu_percent", 1, 3, 2, 3, 2.9, 3)
    store.apply([
        RegisterAgent("a1", "host", "0.1.0", 1, "ipv4:127.0.0.1:1", (api,), now_ms),
        StoreServices("a1", 1, ServiceBatch(now_ms, (api,))),
        StoreSummaries("a1", 2, SummaryWindow(now_ms - 15_000, now_ms, (cpu,))),
    ])  # fmt: skip
    store.close()
    http_port = str(free_port())
    ports = ["--grpc-port", str(free_port()), "--http-port", http_port, "--tunnel", "none"]
    ports += ["--join-port", str(free_port()), "--tls-port", str(free_port())]

    def start_and_stop(check: Callable[[str], None]) -> None:
        started = _coral("colony", "start", "--daemon", "--data-dir", str(root), *ports)
        assert started.returncode == 0, started.stderr
        try:
            check((root / "colony" / "mcp.token").read_text().strip())
        finally:
            stopped = _coral("colony", "stop", "--data-dir", str(root))
            assert stopped.returncode == 0, stopped.stderr

    tokens: list[str] = []
    start_and_stop(tokens.append)
    backup = tmp_path / "coral-colony.tar.gz"
    subprocess.run(["tar", "-C", str(root), "-czf", str(backup), "colony"], check=True)
    shutil.rmtree(root / "colony")  # the disk is lost
    subprocess.run(["tar", "-C", str(root), "-xzf", str(backup)], check=True)

    def same_token_same_data(token: str) -> None:
        assert token == tokens[0]  # MCP clients and `coral ask` keep working
        assert _services(http_port, token) == ["api"]

    start_and_stop(same_token_same_data)
