"""TCP sockets of the host: who listens where, and who is connected to whom.

psutil is the seam (`net_connections`, `net_if_addrs`). One scan of the host's TCP
sockets per call; the result maps pids to listening endpoints and to established
outbound peers. Wildcard listening addresses (0.0.0.0, ::) are expanded to the
host's own addresses, so that a peer address seen by another agent matches exactly.
"""

from __future__ import annotations

import socket
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import ModuleType

import psutil

from coral_mcp.models import Endpoint

_WILDCARDS = {"0.0.0.0", "::", ""}


def normalize_ip(ip: str) -> str:
    """Text form of an address with IPv4-mapped IPv6 (`::ffff:1.2.3.4`) unwrapped."""
    if ip.startswith("::ffff:") and "." in ip:
        return ip[len("::ffff:") :]
    return ip


@dataclass(slots=True)
class SocketTable:
    """The host's TCP sockets at one moment, indexed by pid."""

    listen: dict[int, set[Endpoint]] = field(default_factory=lambda: defaultdict(set))
    # pid -> (local endpoint, remote endpoint) of established connections
    established: dict[int, list[tuple[Endpoint, Endpoint]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    # pid -> count of its sockets per TCP state other than LISTEN (SYN_SENT, CLOSE_WAIT...)
    states: dict[int, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))

    def pids_listening_on(self, port: int) -> set[int]:
        return {pid for pid, eps in self.listen.items() if any(e.port == port for e in eps)}

    def listen_endpoints(self, pids: Iterable[int]) -> set[Endpoint]:
        found: set[Endpoint] = set()
        for pid in pids:
            found |= self.listen.get(pid, set())
        return found

    def outbound_peers(self, pids: Iterable[int]) -> Counter[Endpoint]:
        """Remote endpoints of the pids' established connections, minus inbound ones.

        A connection is inbound when its local port is one the same pids listen on.
        """
        pid_list = list(pids)
        listening_ports = {e.port for e in self.listen_endpoints(pid_list)}
        peers: Counter[Endpoint] = Counter()
        for pid in pid_list:
            for local, remote in self.established.get(pid, ()):
                if local.port not in listening_ports:
                    peers[remote] += 1
        return peers

    def inbound_count(self, pids: Iterable[int]) -> int:
        """Established connections accepted on the pids' listening ports."""
        pid_list = list(pids)
        listening_ports = {e.port for e in self.listen_endpoints(pid_list)}
        return sum(
            1
            for pid in pid_list
            for local, _ in self.established.get(pid, ())
            if local.port in listening_ports
        )

    def state_counts(self, pids: Iterable[int]) -> Counter[str]:
        """Sockets per TCP state (ESTABLISHED, SYN_SENT, CLOSE_WAIT...) of the pids."""
        total: Counter[str] = Counter()
        for pid in pids:
            total.update(self.states.get(pid, Counter()))
        return total

    def connection_keys(self, pids: Iterable[int]) -> set[tuple[Endpoint, Endpoint]]:
        """(local, remote) of the pids' established connections, to measure churn."""
        return {pair for pid in pids for pair in self.established.get(pid, ())}


class SocketScanner:
    """Reads the host's TCP sockets through psutil."""

    def __init__(self, ps: ModuleType = psutil) -> None:
        self._ps = ps

    def host_addresses(self) -> tuple[set[str], set[str]]:
        """(IPv4, IPv6) addresses of the host's interfaces."""
        v4: set[str] = set()
        v6: set[str] = set()
        for addrs in self._ps.net_if_addrs().values():
            for addr in addrs:
                if addr.family == socket.AF_INET:
                    v4.add(addr.address)
                elif addr.family == socket.AF_INET6:
                    v6.add(addr.address.split("%", 1)[0])
        return v4, v6

    def scan(self) -> SocketTable:
        table = SocketTable()
        v4, v6 = self.host_addresses()
        for conn in self._ps.net_connections(kind="tcp"):
            if conn.pid is None or not conn.laddr:
                continue
            local_ip = normalize_ip(conn.laddr.ip)
            if conn.status == psutil.CONN_LISTEN:
                if local_ip in _WILDCARDS:
                    ips = v4 | v6 if conn.family == socket.AF_INET6 else v4
                else:
                    ips = {local_ip}
                table.listen[conn.pid].update(Endpoint(ip, conn.laddr.port) for ip in ips)
                continue
            table.states[conn.pid][conn.status] += 1
            if conn.status == psutil.CONN_ESTABLISHED and conn.raddr:
                table.established[conn.pid].append(
                    (
                        Endpoint(local_ip, conn.laddr.port),
                        Endpoint(normalize_ip(conn.raddr.ip), conn.raddr.port),
                    )
                )
        return table
