"""Tunnel backends: choosing one, and reading a tunnel's peers two ways."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from coral_mcp.mesh.tunnel import UAPI_DIR, Host, choose_mode
from tests.conftest import coral_cmd
from tests.mesh.netns import Net, skip_reason

# Namespaces and wireguard-go share the machine: these run one at a time (pytest-xdist).
pytestmark = pytest.mark.xdist_group("netns")


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        (Host(root=True, kernel_module=True, wireguard_go=True), "kernel"),
        (Host(root=True, kernel_module=False, wireguard_go=True), "userspace"),
        (Host(root=True, kernel_module=False, wireguard_go=False), "none"),
        (Host(root=False, kernel_module=True, wireguard_go=True), "none"),
    ],
)
def test_auto_picks_the_best_backend_the_machine_allows(host: Host, expected: str) -> None:
    assert choose_mode("auto", host) == expected
    assert choose_mode("userspace", host) == "userspace"  # asked for: as asked


READ_BOTH_WAYS = """
import json, sys
from coral_mcp.mesh.keys import new_wg_keypair
from coral_mcp.mesh.tunnel import KernelTunnel, PeerConfig, UserspaceTunnel
name = sys.argv[1]
tunnel = UserspaceTunnel(name)
private, _ = new_wg_keypair()
_, peer = new_wg_keypair()
tunnel.up(private, "100.96.0.1", 24, 0)
try:
    tunnel.set_peer(PeerConfig(peer, ("100.96.0.7/32",), "192.0.2.9:51820", 5))
    uapi = tunnel.status()
    dump = KernelTunnel(name).status()  # `wg show dump`: the kernel backend's reader
    rows = lambda peers: [[p.public_key, p.endpoint, list(p.allowed_ips), p.last_handshake_s]
                          for p in peers]
    print(json.dumps({"peer": peer, "uapi": rows(uapi), "dump": rows(dump)}))
finally:
    tunnel.down()
"""


def test_a_userspace_tunnel_reads_the_same_over_uapi_and_through_wg_show() -> None:
    reason = skip_reason()
    if reason is not None:
        pytest.skip(reason)
    net = Net()
    try:
        net.build([])
        out = net.exec("hub", sys.executable, "-c", READ_BOTH_WAYS, f"wgt{net.tag}")
    finally:
        net.close()
    doc = json.loads(out)
    expected = [doc["peer"], "192.0.2.9:51820", ["100.96.0.7/32"], 0.0]
    assert doc["uapi"] == [expected]
    assert doc["dump"] == [expected]


def test_a_colony_that_fails_to_start_takes_its_tunnel_down(tmp_path: Path) -> None:
    reason = skip_reason()
    if reason is not None:
        pytest.skip(reason)
    net = Net()
    name = f"wgf{net.tag}"
    try:
        net.build([])
        net.exec("hub", *coral_cmd("colony", "init", "--data-dir", str(tmp_path)))
        done = subprocess.run(
            net.cmd(
                "hub",
                *coral_cmd(
                    "colony",
                    "start",
                    "--data-dir",
                    str(tmp_path),
                    "--wg-interface",
                    name,
                    "--join-port",
                    "9000",
                ),
            ),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        net.close()
    assert done.returncode == 1, done.stderr
    assert "tunnel userspace" not in done.stderr  # it failed before it was ready
    assert f"tunnel {name} up" in done.stderr
    assert "Error: cannot listen on 0.0.0.0:9000 for the mesh" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (UAPI_DIR / f"{name}.sock").exists()


#: wireguard-go as a busy host may start it: its control socket exists (bound) a moment
#: before it listens.
SLOW_TO_LISTEN = """
import os, socket, sys, time
path = f"/var/run/wireguard/{sys.argv[-1]}.sock"
os.makedirs(os.path.dirname(path), exist_ok=True)
bound = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
bound.bind(path)  # connections are refused until someone listens
time.sleep(0.5)
bound.close()
os.unlink(path)
os.execvp("wireguard-go", ["wireguard-go", *sys.argv[1:]])
"""

UP_WITH = """
import sys
from coral_mcp.mesh.keys import new_wg_keypair
from coral_mcp.mesh.tunnel import UserspaceTunnel
tunnel = UserspaceTunnel(sys.argv[1], binary=sys.argv[2])
tunnel.up(new_wg_keypair()[0], "100.96.0.1", 24, 0)
try:
    print(tunnel.status())
finally:
    tunnel.down()
"""


def test_a_wireguard_go_slow_to_listen_on_its_control_socket_is_waited_for(
    tmp_path: Path,
) -> None:
    reason = skip_reason()
    if reason is not None:
        pytest.skip(reason)
    wrapper = tmp_path / "wireguard-go"
    wrapper.write_text(f"#!{sys.executable}\n{SLOW_TO_LISTEN}")
    wrapper.chmod(0o755)
    net = Net()
    try:
        net.build([])
        out = net.exec("hub", sys.executable, "-c", UP_WITH, f"wgs{net.tag}", str(wrapper))
    finally:
        net.close()
    assert out.strip() == "[]"  # up, configured, and read back: no peers yet
