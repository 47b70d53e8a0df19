"""WireGuard tunnel backends behind one interface.

- `UserspaceTunnel`: `wireguard-go` (a child process) configured over its UAPI socket
  in /var/run/wireguard/ — works wherever TUN devices may be made (this machine);
- `KernelTunnel`: the kernel module, through pyroute2's netlink WireGuard API;
- no tunnel (`--tunnel none`): callers use mutual TLS instead (see `tls.py`).

Addresses and link state are set with iproute2 in both cases, in the network
namespace of the calling process (pyroute2 imports `ssl`, which the lean agent fences
off, so it is imported only by the kernel backend). Interface names are global to the UAPI
socket directory, so every tunnel on one machine needs its own name.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from coral_mcp.config import TunnelMode
from coral_mcp.mesh.errors import TunnelError

logger = logging.getLogger(__name__)

UAPI_DIR = Path("/var/run/wireguard")
#: Seconds to wait for wireguard-go's control socket.
START_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class PeerConfig:
    public_key: str
    allowed_ips: tuple[str, ...]
    endpoint: str | None = None
    keepalive_s: int = 0


@dataclass(frozen=True, slots=True)
class PeerStatus:
    public_key: str
    endpoint: str | None
    allowed_ips: tuple[str, ...]
    #: Unix time of the last handshake; 0 when there was none.
    last_handshake_s: float
    rx_bytes: int
    tx_bytes: int


class Tunnel(Protocol):
    name: str

    def up(self, private_key: str, address: str, prefix_len: int, listen_port: int) -> None: ...

    def set_peer(self, peer: PeerConfig) -> None: ...

    def remove_peer(self, public_key: str) -> None: ...

    def status(self) -> list[PeerStatus]: ...

    def down(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Host:
    """What this machine allows, for choosing a backend (a seam for tests)."""

    root: bool
    kernel_module: bool
    wireguard_go: bool

    @classmethod
    def probe(cls) -> Host:
        return cls(
            os.geteuid() == 0,
            Path("/sys/module/wireguard").exists(),
            shutil.which("wireguard-go") is not None and Path("/dev/net/tun").exists(),
        )


def choose_mode(requested: TunnelMode, host: Host | None = None) -> TunnelMode:
    """The backend to use: as asked, or for `auto` the best this machine allows."""
    if requested != "auto":
        return requested
    host = host or Host.probe()
    if not host.root:
        return "none"
    if host.kernel_module:
        return "kernel"
    return "userspace" if host.wireguard_go else "none"


def make_tunnel(mode: TunnelMode, name: str) -> Tunnel:
    if mode == "kernel":
        return KernelTunnel(name)
    if mode == "userspace":
        return UserspaceTunnel(name)
    raise TunnelError(f"no tunnel backend for mode {mode!r}")


def _hex(key_b64: str) -> str:
    return base64.b64decode(key_b64).hex()


def _b64(key_hex: str) -> str:
    return base64.b64encode(bytes.fromhex(key_hex)).decode()


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["ip", *args], check=False, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise TunnelError(
            f"cannot run `ip {' '.join(args)}`: {exc}", hint="install iproute2"
        ) from None


def _configure_link(name: str, address: str, prefix_len: int) -> None:
    """Address the interface and bring it up (iproute2, in this network namespace)."""
    added = _ip("addr", "replace", f"{address}/{prefix_len}", "dev", name)
    up = _ip("link", "set", name, "up")
    for done in (added, up):
        if done.returncode != 0:
            raise TunnelError(f"cannot configure {name}: {done.stderr.strip()}")


def _delete_link(name: str) -> None:
    if _ip("link", "show", name).returncode == 0:
        _ip("link", "del", name)


class UserspaceTunnel:
    """wireguard-go as a child process, configured over its UAPI socket."""

    def __init__(self, name: str, binary: str = "wireguard-go") -> None:
        if len(name) > 15:
            raise TunnelError(f"interface name {name!r} is longer than 15 characters")
        self.name = name
        self._binary = binary
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def socket_path(self) -> Path:
        return UAPI_DIR / f"{self.name}.sock"

    def up(self, private_key: str, address: str, prefix_len: int, listen_port: int) -> None:
        _delete_link(self.name)  # a leftover of a crashed run
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        try:
            self._proc = subprocess.Popen(
                [self._binary, "-f", self.name],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env={
                    **os.environ,
                    "LOG_LEVEL": "error",
                    "WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD": "1",
                },
            )
        except OSError as exc:
            raise TunnelError(
                f"cannot start {self._binary}: {exc.strerror or exc}",
                hint="install wireguard-go, or use --tunnel none",
            ) from None
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._listening():
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
                raise TunnelError(
                    f"wireguard-go exited at start: {err.strip() or self._proc.returncode}",
                    hint="it needs root and /dev/net/tun; or use --tunnel none",
                )
            if time.monotonic() > deadline:
                self.down()
                raise TunnelError(f"wireguard-go made no control socket for {self.name}")
            time.sleep(0.02)
        self._uapi(f"set=1\nprivate_key={_hex(private_key)}\nlisten_port={listen_port}\n")
        _configure_link(self.name, address, prefix_len)
        logger.info(
            "tunnel %s up (wireguard-go): %s/%d, UDP %d",
            self.name,
            address,
            prefix_len,
            listen_port,
        )

    def _listening(self) -> bool:
        """wireguard-go answers on its control socket (the file appears when it binds,
        a moment before it listens: on a busy host a connection in between is refused)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            try:
                probe.connect(str(self.socket_path))
            except (FileNotFoundError, ConnectionRefusedError):
                return False
        return True

    def _uapi(self, request: str) -> list[tuple[str, str]]:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(5)
                sock.connect(str(self.socket_path))
                sock.sendall(request.encode() + b"\n")
                data = b""
                while not data.endswith(b"\n\n"):
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    data += chunk
        except OSError as exc:
            raise TunnelError(f"cannot talk to wireguard-go for {self.name}: {exc}") from None
        pairs = [
            (key, value)
            for key, _, value in (line.partition("=") for line in data.decode().splitlines())
            if key
        ]
        errno_ = dict(pairs).get("errno", "0")
        if errno_ != "0":
            raise TunnelError(
                f"wireguard-go refused the configuration of {self.name}: errno {errno_}"
            )
        return pairs

    def set_peer(self, peer: PeerConfig) -> None:
        lines = ["set=1", f"public_key={_hex(peer.public_key)}", "replace_allowed_ips=true"]
        lines += [f"allowed_ip={ip}" for ip in peer.allowed_ips]
        if peer.endpoint:
            lines.append(f"endpoint={peer.endpoint}")
        if peer.keepalive_s:
            lines.append(f"persistent_keepalive_interval={peer.keepalive_s}")
        self._uapi("\n".join(lines) + "\n")

    def remove_peer(self, public_key: str) -> None:
        self._uapi(f"set=1\npublic_key={_hex(public_key)}\nremove=true\n")

    def status(self) -> list[PeerStatus]:
        return parse_uapi_status(self._uapi("get=1\n"))

    def down(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._proc is not None and self._proc.stderr is not None:
            self._proc.stderr.close()
        self._proc = None
        _delete_link(self.name)


def parse_uapi_status(pairs: list[tuple[str, str]]) -> list[PeerStatus]:
    """Peers from a UAPI `get` answer (keys are hex there, base64 here)."""
    peers: list[PeerStatus] = []
    current: dict[str, list[str]] | None = None

    def flush() -> None:
        if current is not None:
            one = {k: v[-1] for k, v in current.items()}
            peers.append(
                PeerStatus(
                    _b64(one["public_key"]),
                    one.get("endpoint"),
                    tuple(current.get("allowed_ip", [])),
                    float(one.get("last_handshake_time_sec", "0"))
                    + float(one.get("last_handshake_time_nsec", "0")) / 1e9,
                    int(one.get("rx_bytes", "0")),
                    int(one.get("tx_bytes", "0")),
                )
            )

    for key, value in pairs:
        if key == "public_key":
            flush()
            current = {}
        if current is not None:
            current.setdefault(key, []).append(value)
    flush()
    return peers


class KernelTunnel:
    """The kernel WireGuard module, configured over netlink (pyroute2)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def up(self, private_key: str, address: str, prefix_len: int, listen_port: int) -> None:
        from pyroute2 import IPRoute, NetlinkError, WireGuard  # noqa: PLC0415 - see the module doc

        _delete_link(self.name)
        try:
            with IPRoute() as ipr:
                ipr.link("add", ifname=self.name, kind="wireguard")
            with WireGuard() as wg:
                wg.set(self.name, private_key=private_key, listen_port=listen_port)
        except NetlinkError as exc:
            raise TunnelError(
                f"cannot create the kernel WireGuard interface {self.name}: {exc}",
                hint="use --tunnel userspace (wireguard-go) or --tunnel none",
            ) from None
        _configure_link(self.name, address, prefix_len)

    def set_peer(self, peer: PeerConfig) -> None:
        spec: dict[str, object] = {
            "public_key": peer.public_key,
            "allowed_ips": list(peer.allowed_ips),
        }
        if peer.endpoint:
            host, _, port = peer.endpoint.rpartition(":")
            spec.update(endpoint_addr=host, endpoint_port=int(port))
        if peer.keepalive_s:
            spec["persistent_keepalive"] = peer.keepalive_s
        from pyroute2 import WireGuard  # noqa: PLC0415 - see the module doc

        with WireGuard() as wg:
            wg.set(self.name, peer=spec)

    def remove_peer(self, public_key: str) -> None:
        from pyroute2 import WireGuard  # noqa: PLC0415 - see the module doc

        with WireGuard() as wg:
            wg.set(self.name, peer={"public_key": public_key, "remove": True})

    def status(self) -> list[PeerStatus]:
        try:
            out = subprocess.run(
                ["wg", "show", self.name, "dump"], capture_output=True, check=True, timeout=5
            ).stdout.decode()
        except (OSError, subprocess.SubprocessError) as exc:
            raise TunnelError(f"cannot read the state of {self.name}: {exc}") from None
        return parse_wg_dump(out)

    def down(self) -> None:
        _delete_link(self.name)


def parse_wg_dump(text: str) -> list[PeerStatus]:
    """Peers from `wg show IFACE dump` (the first line is the interface itself)."""
    peers = []
    for line in text.splitlines()[1:]:
        key, _psk, endpoint, allowed, handshake, rx, tx, _keepalive = line.split("\t")
        peers.append(
            PeerStatus(
                key,
                None if endpoint == "(none)" else endpoint,
                tuple(a for a in allowed.split(",") if a != "(none)"),
                float(handshake),
                int(rx),
                int(tx),
            )
        )
    return peers
