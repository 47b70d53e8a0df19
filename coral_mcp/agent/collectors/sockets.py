"""TCP sockets of the host: who listens where, and who is connected to whom.

One scan of the host's TCP sockets per call, read from the kernel's netlink
`sock_diag` (with `tcp_info`: round-trip time, retransmissions) where it is available,
else through psutil (`net_connections`, which walks every process's descriptors).
The result maps pids to listening endpoints, to established outbound peers and to
their sockets. Wildcard listening addresses (0.0.0.0, ::) are expanded to the host's
own addresses, so that a peer address seen by another agent matches exactly.
"""

from __future__ import annotations

import logging
import socket
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import psutil

from coral_mcp.agent.collectors import sock_diag
from coral_mcp.agent.collectors.sock_diag import InodeOwners, RawSocket, TcpSocket
from coral_mcp.models import Endpoint

logger = logging.getLogger(__name__)

_WILDCARDS = {"0.0.0.0", "::", ""}
#: The host's interface addresses are read again after this long.
ADDRESSES_EVERY_S = 30.0


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
    #: pid -> its non-listening sockets with tcp_info (netlink scans only).
    sockets: dict[int, list[TcpSocket]] = field(default_factory=lambda: defaultdict(list))
    #: Connections in an orderly close (FIN exchanged: FIN_WAIT, CLOSE_WAIT, LAST_ACK,
    #: CLOSING), whoever owns them, undecoded; with TIME_WAIT ones (asked of the kernel
    #: then) decoded only when needed (`closed_politely`).
    closing: list[RawSocket] = field(default_factory=list)
    #: Whether `sockets` and `closing` were filled (a netlink scan).
    detailed: bool = False
    #: pid -> its sockets as the kernel sent them, decoded into `sockets`, `states` and
    #: `established` the first time the pid is asked about (a resting service's never).
    raw: dict[int, list[RawSocket]] = field(default_factory=dict)
    _closed: set[tuple[Endpoint, Endpoint]] | None = None

    def _decode(self, pid: int) -> None:
        for raw in self.raw.pop(pid, ()):
            sock = raw.decode()
            self.sockets[pid].append(sock)
            self.states[pid][sock_diag.STATE_NAMES.get(sock.state, "UNKNOWN")] += 1
            if sock.state == sock_diag.ESTABLISHED:
                self.established[pid].append((Endpoint(*sock.local), Endpoint(*sock.remote)))

    def sockets_of(self, pid: int) -> list[TcpSocket]:
        self._decode(pid)
        return self.sockets.get(pid, [])

    def established_of(self, pid: int) -> list[tuple[Endpoint, Endpoint]]:
        self._decode(pid)
        return self.established.get(pid, [])

    def closed_politely(self, local: Endpoint, remote: Endpoint) -> bool:
        """Whether the connection is (or was just) in an orderly close, either side."""
        if self._closed is None:
            try:
                time_wait = sock_diag.dump_raw(states=1 << sock_diag.TIME_WAIT)
            except OSError:
                time_wait = []
            decoded = (raw.decode() for raw in (*self.closing, *time_wait))
            self._closed = {(Endpoint(*s.local), Endpoint(*s.remote)) for s in decoded}
        return (local, remote) in self._closed or (remote, local) in self._closed

    def activity(self, pids: Iterable[int]) -> tuple[str, ...]:
        """The TCP states of the pids' connections, sorted: the same while connections
        come and go not at all (cheap: the dump's records are not decoded for it)."""
        names: list[str] = []
        for pid in pids:
            raw = self.raw.get(pid)
            if raw is not None:
                names += [sock_diag.STATE_NAMES.get(r.state, "UNKNOWN") for r in raw]
            else:
                names += self.states.get(pid, Counter()).elements()
        return tuple(sorted(names))

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
            for local, remote in self.established_of(pid):
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
            for local, _ in self.established_of(pid)
            if local.port in listening_ports
        )

    def state_counts(self, pids: Iterable[int]) -> Counter[str]:
        """Sockets per TCP state (ESTABLISHED, SYN_SENT, CLOSE_WAIT...) of the pids."""
        total: Counter[str] = Counter()
        for pid in pids:
            self._decode(pid)
            total.update(self.states.get(pid, Counter()))
        return total

    def connection_keys(self, pids: Iterable[int]) -> set[tuple[Endpoint, Endpoint]]:
        """(local, remote) of the pids' established connections, to measure churn."""
        return {pair for pid in pids for pair in self.established_of(pid)}


_CLOSING_STATES = {
    sock_diag.FIN_WAIT1,
    sock_diag.FIN_WAIT2,
    sock_diag.TIME_WAIT,
    sock_diag.CLOSE_WAIT,
    sock_diag.LAST_ACK,
    sock_diag.CLOSING,
}


class SocketScanner:
    """Reads the host's TCP sockets: netlink sock_diag, else psutil.

    `scan(watched)` maps listening sockets to every process holding them (for
    auto-discovery) and the other sockets to the listening pids and `watched` pids
    only. psutil stays the seam for interface addresses and for hosts without
    netlink (`netlink=False` forces it).
    """

    def __init__(
        self,
        ps: ModuleType = psutil,
        netlink: bool = True,
        proc_root: str = "/proc",
        walk_every_s: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`walk_every_s`: the watched processes' descriptors are read for sockets never
        seen before at most this often (listening sockets: at once)."""
        self._ps = ps
        self._netlink = netlink
        self._owners = InodeOwners.at(Path(proc_root))
        self._mine: set[int] = set()
        self._walk_every_s = walk_every_s
        self._clock = clock
        self._walked_s = -float("inf")
        # What changes rarely is kept between scans: the host's addresses (read again
        # every ADDRESSES_EVERY_S) and each listening socket's decoded record, by inode.
        self._addresses: tuple[set[str], set[str]] | None = None
        self._addresses_s = -float("inf")
        self._listening: dict[int, TcpSocket] = {}
        #: listening inode -> the endpoints it answers on (until the addresses change)
        self._listen_endpoints: dict[int, frozenset[Endpoint]] = {}

    @property
    def cheap(self) -> bool:
        """True when a scan is a netlink dump (cheap enough for every sample)."""
        return self._netlink

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

    def scan(self, watched: Iterable[int] = ()) -> SocketTable:
        if self._netlink:
            try:
                return self._scan_netlink(set(watched))
            except OSError as exc:
                logger.info("netlink sock_diag unavailable (%s); reading sockets via psutil", exc)
                self._netlink = False
        return self._scan_psutil()

    def _cached_addresses(self, now: float) -> tuple[set[str], set[str]]:
        if self._addresses is None or now - self._addresses_s >= ADDRESSES_EVERY_S:
            self._addresses, self._addresses_s = self.host_addresses(), now
            self._listen_endpoints.clear()
        return self._addresses

    def _decoded_listening(self, dumped: list[RawSocket]) -> list[TcpSocket]:
        known, self._listening = self._listening, {}
        for raw in dumped:
            if raw.state == sock_diag.LISTEN and raw.inode:
                sock = known.get(raw.inode)
                self._listening[raw.inode] = raw.decode() if sock is None else sock
        return list(self._listening.values())

    def _scan_netlink(self, watched: set[int]) -> SocketTable:
        dumped = sock_diag.dump_raw(states=sock_diag.LIVE_STATES)
        table = SocketTable(detailed=True)
        now = self._clock()
        v4, v6 = self._cached_addresses(now)
        listening = self._decoded_listening(dumped)
        owners = self._owners.owners(set(self._listening), None)
        if len(self._listen_endpoints) > len(self._listening):  # some stopped listening
            self._listen_endpoints = {
                i: e for i, e in self._listen_endpoints.items() if i in self._listening
            }
        for sock in listening:
            endpoints = self._listen_endpoints.get(sock.inode)
            if endpoints is None:
                local_ip, port = sock.local
                ips = _listen_ips(local_ip, ":" in local_ip, v4, v6)
                endpoints = frozenset(Endpoint(ip, port) for ip in ips)
                self._listen_endpoints[sock.inode] = endpoints
            for pid in owners.get(sock.inode, ()):
                table.listen[pid].update(endpoints)
        mine = watched | set(table.listen)
        fresh = bool(mine - self._mine)
        if fresh:  # a process newly watched: its sockets are no longer foreign
            self._owners.forget_foreign()
        self._mine = mine
        others = [s for s in dumped if s.state != sock_diag.LISTEN]
        inodes = {s.inode for s in others if s.inode}
        # A connection attempt still unanswered at a sample is news (a failing connect):
        # its owner is looked up at once, whatever the walk interval.
        stuck = {s.inode for s in others if s.inode and s.state == sock_diag.SYN_SENT}
        may_walk = (
            fresh or now - self._walked_s >= self._walk_every_s or self._owners.has_unknown(stuck)
        )
        if may_walk and self._owners.has_unknown(inodes):
            self._walked_s = now
        conn_owners = self._owners.owners(inodes, mine, walk=may_walk)
        for raw in others:
            if raw.state in _CLOSING_STATES:
                table.closing.append(raw)
            for pid in conn_owners.get(raw.inode, ()) if raw.inode else ():
                table.raw.setdefault(pid, []).append(raw)  # decoded when asked about
        self._owners.forget_missing(inodes | self._listening.keys())
        return table

    def _scan_psutil(self) -> SocketTable:
        table = SocketTable()
        v4, v6 = self.host_addresses()
        for conn in self._ps.net_connections(kind="tcp"):
            if conn.pid is None or not conn.laddr:
                continue
            local_ip = normalize_ip(conn.laddr.ip)
            if conn.status == psutil.CONN_LISTEN:
                ips = _listen_ips(local_ip, conn.family == socket.AF_INET6, v4, v6)
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


def _listen_ips(local_ip: str, ipv6: bool, v4: set[str], v6: set[str]) -> set[str]:
    """The addresses a listening socket answers on: a wildcard is every host address
    (an IPv6 wildcard takes IPv4 too)."""
    if local_ip not in _WILDCARDS:
        return {local_ip}
    return v4 | v6 if ipv6 else v4
