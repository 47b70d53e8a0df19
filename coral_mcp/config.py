"""Settings of Coral's daemons: parsed once (by the CLI), frozen, passed down.

Nothing below the daemons reads the environment or the command line: a daemon gets one
of these objects and hands the parts its components need to them.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

from coral_mcp.errors import ConfigError
from coral_mcp.models import ServiceSpec
from coral_mcp.models.checks import HealthCheckSpec, ScrapeSpec

DEFAULT_GRPC_PORT = 9000
DEFAULT_HTTP_PORT = 9010
DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024
DEFAULT_JOIN_PORT = 9001
DEFAULT_DISCOVERY_PORT = 9020
DEFAULT_TLS_PORT = 9002
DEFAULT_COLONY_WG_PORT = 41580
DEFAULT_AGENT_WG_PORT = 51820
#: How an agent's gRPC reaches the colony in a mesh: WireGuard from the kernel or
#: wireguard-go, mutual TLS only ("none"), or the best the machine allows ("auto").
TunnelMode = Literal["auto", "kernel", "userspace", "none"]
TUNNEL_CHOICES: tuple[TunnelMode, ...] = ("auto", "kernel", "userspace", "none")


def _tunnel(value: str, interface: str) -> None:
    if value not in TUNNEL_CHOICES:
        raise ConfigError(f"--tunnel must be one of {', '.join(TUNNEL_CHOICES)} (got {value!r})")
    if not 0 < len(interface) <= 15:
        raise ConfigError(f"interface name {interface!r} must be 1-15 characters")


def _positive(name: str, value: float) -> None:
    if value <= 0:
        raise ConfigError(f"{name} must be greater than 0 (got {value})")


def _port(name: str, value: int) -> None:
    if not 0 <= value < 65536:
        raise ConfigError(f"{name} must be a TCP port 0-65535 (got {value}); 0 picks a free one")


@dataclass(frozen=True, slots=True)
class AgentSettings:
    """How an agent watches its host and reaches its colony."""

    #: Directory for the agent's identity and its raw-sample ring store.
    data_dir: Path
    #: Colony gRPC address, HOST:PORT.
    colony: str = f"127.0.0.1:{DEFAULT_GRPC_PORT}"
    #: Explicitly watched services (`--service NAME=SPEC`).
    services: tuple[ServiceSpec, ...] = ()
    #: Also watch every process that listens on a TCP port (on when no service is given).
    auto_discover: bool = False
    #: Seconds between samples of the watched processes.
    interval_s: float = 10.0
    #: Seconds between summary pushes to the colony.
    push_s: float = 15.0
    #: Seconds between heartbeats on an otherwise idle stream (pushes, every `push_s`,
    #: tell the colony the agent lives too; its `stale_after_s` is 30 s by default).
    heartbeat_s: float = 10.0
    #: Oldest raw sample kept in the ring store, seconds.
    ring_max_age_s: float = 3600.0
    #: Largest size of the ring store's live data, bytes.
    ring_max_bytes: int = 100 * 1024 * 1024
    #: Largest number of unacknowledged messages kept for replay after a reconnect.
    max_pending_messages: int = 1000
    #: Health checks (HTTP, TCP, gRPC) per service.
    health_checks: tuple[HealthCheckSpec, ...] = ()
    #: Prometheus `/metrics` endpoints scraped per service.
    scrapes: tuple[ScrapeSpec, ...] = ()
    #: Find health, metrics and version endpoints of watched services' listening ports
    #: by themselves (HTTP `/health`, `/metrics`, `/version`...; gRPC health) and poll
    #: them. Services with configured health checks or scrapes are left to those.
    auto_probe: bool = True
    #: Adaptive sampling: a service steady for three samples (idle, no change, no
    #: event, no transport trouble) is looked at every sixth sample until it changes;
    #: a connection opened or closed, or CPU used, ends the rest at the next sample.
    adaptive: bool = True
    #: Services (by name) never probed by `auto_probe`.
    auto_probe_skip: tuple[str, ...] = ()
    #: Also sample the host as a whole (CPU, load, memory, disk, network, TCP counters).
    host_metrics: bool = True
    #: Seconds between full TCP socket scans where netlink sock_diag is unavailable
    #: (psutil walks every process's file descriptors, the agent's largest cost). With
    #: sock_diag (Linux) sockets are read at every sample.
    socket_scan_s: float = 30.0
    #: Root of the proc filesystem (a seam for tests and containers).
    proc_root: Path = Path("/proc")
    #: Root of the cgroup filesystem.
    cgroup_root: Path = Path("/sys/fs/cgroup")
    #: The `systemctl` command, asked how a systemd unit's main process ended.
    systemctl: str = "systemctl"
    #: Tunnel backend once joined to a mesh: auto, kernel, userspace or none (mutual TLS).
    tunnel: str = "auto"
    #: Name of the agent's WireGuard interface (unique on the machine).
    wg_interface: str = "coral-agent"
    #: UDP port of the agent's WireGuard (0: any).
    wg_port: int = DEFAULT_AGENT_WG_PORT
    #: Discovery service HOST:PORT, asked when no endpoint of the token answers.
    discovery: str | None = None
    #: The colony's token file, shown on its plain gRPC port (not needed in a mesh).
    #: None: `colony/mcp.token` beside the agent's data dir (one data root for both).
    colony_token_file: Path | None = None

    @property
    def tunnel_mode(self) -> TunnelMode:
        """`tunnel`, typed (validated in __post_init__)."""
        return cast(TunnelMode, self.tunnel)

    @property
    def token_file(self) -> Path:
        """Where the colony's token is read from."""
        return self.colony_token_file or self.data_dir.parent / "colony" / "mcp.token"

    def __post_init__(self) -> None:
        _tunnel(self.tunnel, self.wg_interface)
        for name in ("interval_s", "push_s", "heartbeat_s", "ring_max_age_s", "socket_scan_s"):
            _positive(name, getattr(self, name))
        _positive("ring_max_bytes", self.ring_max_bytes)
        for check in self.health_checks:
            _positive(f"health check {check.name} interval_s", check.interval_s)
            _positive(f"health check {check.name} timeout_s", check.timeout_s)
        for scrape in self.scrapes:
            _positive(f"scrape {scrape.url} interval_s", scrape.interval_s)
            _positive(f"scrape {scrape.url} timeout_s", scrape.timeout_s)
            _positive(f"scrape {scrape.url} max_series", scrape.max_series)
        host, sep, port = self.colony.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(
                f"colony address {self.colony!r} is not HOST:PORT",
                hint="e.g. --colony 127.0.0.1:9000",
            )
        names = [spec.name for spec in self.services]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ConfigError(f"service {duplicates[0]!r} is given more than once")


@dataclass(frozen=True, slots=True)
class ColonySettings:
    """Where a colony keeps its data and where it listens."""

    #: Directory holding the DuckDB file and the colony's identity.
    data_dir: Path
    #: Address the agent-facing gRPC server binds.
    grpc_host: str = "127.0.0.1"
    #: Agent-facing gRPC port (0: any free port).
    grpc_port: int = DEFAULT_GRPC_PORT
    #: Address of the HTTP server (REST API and MCP at /mcp); loopback unless told otherwise.
    http_host: str = "127.0.0.1"
    #: HTTP port (0: any free port).
    http_port: int = DEFAULT_HTTP_PORT
    #: Largest agent message accepted, bytes; larger ones are refused.
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    #: Seconds without a message after which an agent counts as stale.
    stale_after_s: float = 30.0
    #: Seconds without a message after which an agent counts as offline.
    offline_after_s: float = 120.0
    #: Days raw summaries are kept (they are rolled up to hourly rows first).
    raw_retention_days: float = 7.0
    #: Days hourly roll-ups are kept.
    hourly_retention_days: float = 90.0
    #: Days events are kept.
    events_retention_days: float = 180.0
    #: Seconds between roll-up and retention runs.
    maintenance_interval_s: float = 600.0
    #: Require the bearer token on HTTP (MCP and REST). Off only on a loopback address.
    require_token: bool = True
    #: Mesh (after `coral colony init`): tunnel backend, auto, kernel, userspace or none.
    tunnel: str = "auto"
    #: Mesh: address of the TLS join port and the mutual-TLS gRPC port.
    join_host: str = "0.0.0.0"
    #: Mesh: TLS port where agents redeem join tokens.
    join_port: int = DEFAULT_JOIN_PORT
    #: Mesh: mutual-TLS gRPC port for agents without a tunnel (`--tunnel none`).
    tls_port: int = DEFAULT_TLS_PORT
    #: Mesh: UDP port of the colony's WireGuard.
    wg_port: int = DEFAULT_COLONY_WG_PORT
    #: Mesh: name of the colony's WireGuard interface (unique on the machine).
    wg_interface: str = "coral0"
    #: Mesh: discovery service HOST:PORT to publish the colony's signed record to.
    discovery: str | None = None
    #: Mesh: seconds a published discovery record stays valid (refreshed at a third).
    discovery_ttl_s: float = 60.0

    @property
    def tunnel_mode(self) -> TunnelMode:
        """`tunnel`, typed (validated in __post_init__)."""
        return cast(TunnelMode, self.tunnel)

    def __post_init__(self) -> None:
        _tunnel(self.tunnel, self.wg_interface)
        _port("join_port", self.join_port)
        _port("tls_port", self.tls_port)
        _port("wg_port", self.wg_port)
        _positive("discovery_ttl_s", self.discovery_ttl_s)
        _port("grpc_port", self.grpc_port)
        _port("http_port", self.http_port)
        _positive("max_message_bytes", self.max_message_bytes)
        for name in (
            "stale_after_s",
            "offline_after_s",
            "raw_retention_days",
            "hourly_retention_days",
            "events_retention_days",
            "maintenance_interval_s",
        ):
            _positive(name, getattr(self, name))
        if self.offline_after_s < self.stale_after_s:
            raise ConfigError("offline_after_s must not be shorter than stale_after_s")
        if not self.require_token and not is_loopback(self.http_host):
            raise ConfigError(
                f"refusing to serve HTTP on {self.http_host} without a token",
                hint="drop --insecure-no-token, or bind --http-host 127.0.0.1",
            )


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
