"""The agent's reading of an SDK answer: untrusted input, checked field by field."""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path

import psutil
import pytest
from hypothesis import given
from hypothesis import strategies as st

from coral_mcp.agent.collectors.sdk import SdkProbe, parse_info
from tests.conftest import DATA, ROOT, Processes, free_port, wait_for

JSON = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(JSON)
def test_any_json_either_parses_or_is_refused_with_a_value_error(doc: object) -> None:
    try:
        info = parse_info(1, doc)
    except ValueError:
        return
    assert info.service


@given(st.dictionaries(st.text(max_size=10), JSON, max_size=6))
def test_documents_with_a_service_parse_or_name_what_is_wrong(extra: dict[str, object]) -> None:
    try:
        parse_info(1, {**extra, "service": "api"})
    except ValueError as exc:
        assert str(exc)


def test_long_and_many_fields_are_cut_to_bounds() -> None:
    doc = {
        "service": "s" * 10_000,
        "version": "v" * 10_000,
        "components": {f"c{i}": {"healthy": True, "detail": "d" * 10_000} for i in range(500)},
        "build": {f"k{i}": "x" for i in range(500)},
    }
    info = parse_info(7, doc)
    assert len(info.service) == 200 and len(info.version or "") == 200
    assert len(info.components) == 64 and all(len(c.detail) == 200 for c in info.components)
    assert len(info.build) == 64


def test_a_component_without_a_verdict_is_refused() -> None:
    with pytest.raises(ValueError, match="component 'db' has no healthy verdict"):
        parse_info(1, {"service": "api", "components": {"db": {"healthy": "yes"}}})


def test_a_latency_beyond_any_float_reads_as_zero() -> None:
    doc = {"service": "api", "components": {"db": {"healthy": True, "latency_ms": 10**400}}}
    assert parse_info(1, doc).components[0].latency_ms == 0.0


needs_root_unshare = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None,
    reason="needs root and unshare(1) to make pid and mount namespaces",
)


@needs_root_unshare
def test_the_probe_finds_an_sdk_inside_its_own_pid_and_mount_namespaces(
    procs: Processes,
) -> None:
    """As in a container or a systemd unit with PrivateTmp: the process's /tmp is not
    the agent's, and its pid inside is 1; the probe goes through /proc/<pid>/root."""
    port = free_port()
    # The app's /tmp is a fresh tmpfs. A checkout that itself lives under /tmp (a fresh clone
    # in CI) stays reachable through a bind mount of the host's /tmp made before it is covered.
    keep = "/mnt/coral-host-tmp"

    def seen(path: Path | str) -> str:
        text = str(path)
        return shlex.quote(keep + text[4:] if text.startswith("/tmp/") else text)

    inner = " && ".join([
        "mount -t tmpfs tmpfs /mnt", f"mkdir {keep}", f"mount --bind /tmp {keep}",
        "mount -t tmpfs tmpfs /tmp", f"cd {seen(ROOT)}", f"export PYTHONPATH={seen(ROOT)}",
        f"exec {seen(sys.executable)} {seen(DATA / 'sdk_app.py')} --port {port} --version 9.9.9",
    ])  # fmt: skip
    proc = procs.start(
        "contained",
        ["unshare", "--mount", "--pid", "--fork", "--kill-child", "--propagation", "private",
         "sh", "-c", inner],
        wait_ready=True,
    )  # fmt: skip
    app_pid = wait_for(lambda: psutil.Process(proc.pid).children(), 10, "the app")[0].pid
    assert "NSpid:" in Path(f"/proc/{app_pid}/status").read_text()
    assert Path(f"/proc/{app_pid}/root/tmp/coral-sdk-1.sock").exists()  # its own pid: 1
    # Not in the agent's /tmp (where a socket of that name may be left over from an earlier
    # process with the same pid, killed before it could remove it: a different file).
    host_side = Path(f"/tmp/coral-sdk-{app_pid}.sock")
    assert not host_side.exists() or not host_side.samefile(
        f"/proc/{app_pid}/root/tmp/coral-sdk-1.sock"
    )
    info = SdkProbe().read(app_pid)
    assert info is not None and info.version == "9.9.9" and info.pid == app_pid
    # unshare --fork ignores the SIGTERM of the usual teardown (which then waits 10 s
    # before it kills): killed, it takes the app with it (--kill-child).
    proc.kill()
    proc.wait(timeout=30)
    wait_for(lambda: _ended(app_pid), 30, "the app to end with unshare")


def _ended(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
