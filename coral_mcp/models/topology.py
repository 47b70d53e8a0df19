"""Services, sockets and the connections between them."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import NamedTuple


class Endpoint(NamedTuple):
    """A TCP address: `ip` (v4 or v6 text) and `port`."""

    ip: str
    port: int

    def __str__(self) -> str:
        return f"[{self.ip}]:{self.port}" if ":" in self.ip else f"{self.ip}:{self.port}"


def host_port(target: str, what: str = "") -> tuple[str, int]:
    """`HOST:PORT` or `[IPv6]:PORT` as (host, port); a ValueError naming `what` and
    `target` when it is neither."""
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"{what}{target!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


class Peer(NamedTuple):
    """`connections` established outbound connections to `remote`."""

    remote: Endpoint
    connections: int


@dataclass(frozen=True, slots=True)
class ServiceState:
    """One watched service at one moment: processes, listening sockets, outbound peers.

    `spec` says how the agent found it (`pid:123`, `port:8080`, `name:nginx`, `auto`).
    Listening wildcard addresses are already expanded to the host's addresses, so a peer
    address seen elsewhere can be matched exactly.
    """

    name: str
    spec: str
    pids: tuple[int, ...]
    listen: tuple[Endpoint, ...]
    peers: tuple[Peer, ...] = ()


@dataclass(frozen=True, slots=True)
class ServiceBatch:
    """Every watched service of one agent as observed at `observed_ms` (epoch ms)."""

    observed_ms: int
    services: tuple[ServiceState, ...]

    def halves(self) -> tuple[ServiceBatch, ServiceBatch] | None:
        """The batch split in two (to fit a message bound), or None for one service."""
        mid = len(self.services) // 2
        if mid == 0:
            return None
        return replace(self, services=self.services[:mid]), replace(
            self, services=self.services[mid:]
        )
