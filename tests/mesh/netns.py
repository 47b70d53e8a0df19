"""Network namespaces for mesh tests: a routing hub, leaves, and a NAT leaf.

    leaf (10.N.i.2/24) -- veth -- hub (10.N.i.1/24, forwards) -- ... other leaves
    nat leaf: uplink like any leaf, plus 192.168.N.1/24 to its inner namespace, masquerading

Everything made here is removed by `close()`; `skip_reason()` says why a machine
cannot run these tests (not root, no `ip`, namespaces forbidden, no wireguard-go).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass, field


def _run(*args: str) -> str:
    done = subprocess.run(args, check=False, capture_output=True, text=True, timeout=20)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def skip_reason() -> str | None:
    """Why this machine cannot run namespace tests, or None when it can."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("ip", "wireguard-go", "iptables"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (make test installs it)"
    name = f"coral-probe-{secrets.token_hex(3)}"
    try:
        _run("ip", "netns", "add", name)
    except RuntimeError as exc:
        return f"this machine forbids network namespaces: {exc}"
    try:
        _run("ip", "netns", "exec", name, "ip", "tuntap", "add", "dev", "tunprobe", "mode", "tun")
    except RuntimeError as exc:
        return f"this machine forbids TUN devices: {exc}"
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
    return None


@dataclass
class Net:
    """Namespaces of one test; `ns(name)` is the namespace's full name."""

    tag: str = field(default_factory=lambda: secrets.token_hex(2))
    octet: int = field(default_factory=lambda: 100 + secrets.randbelow(100))
    names: list[str] = field(default_factory=list)
    leaves: dict[str, str] = field(default_factory=dict)

    def ns(self, name: str) -> str:
        return f"coral-{name}-{self.tag}"

    def ip(self, name: str) -> str:
        """The address of leaf `name` on the hub network."""
        return self.leaves[name]

    def exec(self, name: str, *args: str) -> str:
        return _run("ip", "netns", "exec", self.ns(name), *args)

    def cmd(self, name: str, *args: str) -> list[str]:
        return ["ip", "netns", "exec", self.ns(name), *args]

    def _add(self, name: str) -> None:
        _run("ip", "netns", "add", self.ns(name))
        self.names.append(self.ns(name))
        self.exec(name, "ip", "link", "set", "lo", "up")

    def build(self, leaves: list[str], nat: dict[str, str] | None = None) -> None:
        """Leaves hang off one hub; `nat` maps an inner namespace to its NAT leaf."""
        self._add("hub")
        self.exec("hub", "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
        for i, leaf in enumerate(leaves, start=1):
            self._add(leaf)
            self._wire("hub", f"h{i}-{self.tag}", leaf, f"10.{self.octet}.{i}")
        for inner, router in (nat or {}).items():
            self._add(inner)
            self._wire(router, f"n-{self.tag}", inner, f"192.168.{self.octet}")
            self.exec(router, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
            masquerade = ("-t", "nat", "-A", "POSTROUTING", "-o", "eth0", "-j", "MASQUERADE")
            self.exec(router, "iptables", *masquerade)

    def _wire(self, router: str, router_if: str, leaf: str, subnet: str) -> None:
        """A veth from `router` (SUBNET.1) to `leaf`'s eth0 (SUBNET.2, default route)."""
        _run(
            "ip",
            "link",
            "add",
            router_if,
            "netns",
            self.ns(router),
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            self.ns(leaf),
        )
        self.exec(router, "ip", "addr", "add", f"{subnet}.1/24", "dev", router_if)
        self.exec(router, "ip", "link", "set", router_if, "up")
        self.exec(leaf, "ip", "addr", "add", f"{subnet}.2/24", "dev", "eth0")
        self.exec(leaf, "ip", "link", "set", "eth0", "up")
        self.exec(leaf, "ip", "route", "add", "default", "via", f"{subnet}.1")
        self.leaves[leaf] = f"{subnet}.2"

    def close(self) -> None:
        for name in reversed(self.names):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
        self.names.clear()
