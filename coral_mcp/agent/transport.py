"""Latency and errors of a service's TCP connections, as the kernel sees them.

From two socket scans in a row (netlink sock_diag with `tcp_info`), per watched
service over its outbound connections, and per peer (`METRIC@IP:PORT`, when the
service talks to two peers or more: with one, the service's series are that peer's):

- `tcp_rtt_ms`: the kernel's smoothed round-trip time, averaged over connections.
  Transport level: it rises with network delay and with a peer slow to acknowledge.
- `tcp_wait_ms`: how long the longest-waiting connection has been waiting for an
  answer: data was sent more recently than any was received and the peer's kernel
  has acknowledged it (so the peer's application has it). For request/response
  protocols this is the time the peer is taking to answer, seen from the caller.
  0 when nothing waits. Connections that never sent, or never received, data are
  left out (idle pools, one-way streams).
- `tcp_retrans_per_s`: segments retransmitted (the sum of `tcpi_total_retrans`
  growth).
- `tcp_resets_per_s` (service only): established connections that ended without an
  orderly close — gone between two scans with no FIN state (TIME_WAIT, CLOSE_WAIT...)
  seen for them, or left in CLOSE — while their process lives on. An estimate: a peer
  on another host closing politely between two scans looks the same.
- `tcp_connect_failures_per_s` (service only): connection attempts seen in SYN_SENT
  that never became established. Attempts refused at once are too quick for a scan
  to see; the host's `tcp_attempt_fails_per_s` counts those.

Pure bookkeeping over `SocketTable`s: no I/O, time comes in as an argument.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from coral_mcp.agent.collectors import sock_diag
from coral_mcp.agent.collectors.sock_diag import TcpSocket
from coral_mcp.agent.collectors.sockets import SocketTable
from coral_mcp.models import Endpoint, Sample

PEER_SEPARATOR = "@"


@dataclass(slots=True)
class _Seen:
    """A service's sockets at the previous scan, by inode."""

    ts_s: float
    retrans: dict[int, int] = field(default_factory=dict)
    #: inode -> (local, remote, owning pid)
    established: dict[int, tuple[Endpoint, Endpoint, int]] = field(default_factory=dict)
    connecting: set[int] = field(default_factory=set)


def peer_metric(metric: str, peer: Endpoint) -> str:
    """`tcp_rtt_ms@10.0.0.5:5432`: a per-peer series of the calling service."""
    return f"{metric}{PEER_SEPARATOR}{peer}"


class TransportTracker:
    def __init__(self) -> None:
        self._seen: dict[str, _Seen] = {}

    def forget(self, service: str) -> None:
        self._seen.pop(service, None)

    def samples(
        self,
        service: str,
        now_s: float,
        table: SocketTable,
        pids: Collection[int],
        listening_ports: Collection[int],
    ) -> list[Sample]:
        """The service's transport series for this scan (rates need a previous one)."""
        if not table.detailed:
            return []
        owned = [(pid, s) for pid in pids for s in table.sockets_of(pid)]
        sockets = [s for _, s in owned]
        outbound = [
            s
            for s in sockets
            if s.state == sock_diag.ESTABLISHED and s.local[1] not in listening_ports
        ]
        samples = _latency(service, now_s, outbound)
        previous = self._seen.get(service)
        current = _Seen(now_s)
        for pid, sock in owned:
            current.retrans[sock.inode] = sock.total_retrans
            if sock.state == sock_diag.ESTABLISHED:
                current.established[sock.inode] = (
                    Endpoint(*sock.local),
                    Endpoint(*sock.remote),
                    pid,
                )
            elif sock.state == sock_diag.SYN_SENT:
                current.connecting.add(sock.inode)
        self._seen[service] = current
        if previous is not None and now_s > previous.ts_s:
            samples += _errors(
                service, now_s, previous, current, sockets, outbound, table, set(pids)
            )
        return samples


def _latency(service: str, now_s: float, outbound: Sequence[TcpSocket]) -> list[Sample]:
    if not outbound:
        return []
    by_peer: dict[Endpoint, list[TcpSocket]] = {}
    for sock in outbound:
        by_peer.setdefault(Endpoint(*sock.remote), []).append(sock)
    samples = [
        Sample(now_s, service, "tcp_rtt_ms", _mean_rtt_ms(outbound)),
        Sample(now_s, service, "tcp_wait_ms", _longest_wait_ms(outbound)),
    ]
    if len(by_peer) < 2:  # one peer: the service's series are that peer's
        return samples
    for peer, conns in sorted(by_peer.items()):
        samples.append(Sample(now_s, service, peer_metric("tcp_rtt_ms", peer), _mean_rtt_ms(conns)))
        samples.append(
            Sample(now_s, service, peer_metric("tcp_wait_ms", peer), _longest_wait_ms(conns))
        )
    return samples


def _mean_rtt_ms(conns: Sequence[TcpSocket]) -> float:
    return round(sum(c.rtt_us for c in conns) / len(conns) / 1000, 3)


def _longest_wait_ms(conns: Sequence[TcpSocket]) -> float:
    waits = [
        c.last_data_sent_ms
        for c in conns
        if c.unacked == 0
        and c.last_data_sent_ms < c.last_data_recv_ms
        and c.data_segs_out != 0  # it asked something ...
        and c.data_segs_in != 0  # ... of a peer that answers (request/response)
    ]
    return float(max(waits, default=0))


def _errors(
    service: str,
    now_s: float,
    previous: _Seen,
    current: _Seen,
    sockets: Sequence[TcpSocket],
    outbound: Sequence[TcpSocket],
    table: SocketTable,
    pids: set[int],
) -> list[Sample]:
    elapsed = now_s - previous.ts_s
    retrans_by_peer: dict[Endpoint, int] = {}
    for sock in outbound:
        grown = sock.total_retrans - previous.retrans.get(sock.inode, 0)
        peer = Endpoint(*sock.remote)
        retrans_by_peer[peer] = retrans_by_peer.get(peer, 0) + max(grown, 0)
    retrans = sum(
        max(sock.total_retrans - previous.retrans.get(sock.inode, 0), 0) for sock in sockets
    )
    states = {sock.inode: sock.state for sock in sockets}
    resets = 0
    for inode, (local, remote, pid) in previous.established.items():
        state = states.get(inode)
        if pid not in pids:  # the process ended: its exit is the news, not its sockets
            continue
        if state == sock_diag.CLOSE or (state is None and not table.closed_politely(local, remote)):
            resets += 1
    failures = sum(
        1
        for inode in previous.connecting
        if states.get(inode) not in (sock_diag.SYN_SENT, sock_diag.ESTABLISHED)
        and inode not in current.established
    )
    samples = [
        Sample(now_s, service, "tcp_retrans_per_s", retrans / elapsed),
        Sample(now_s, service, "tcp_resets_per_s", resets / elapsed),
        Sample(now_s, service, "tcp_connect_failures_per_s", failures / elapsed),
    ]
    if len(retrans_by_peer) > 1:
        samples += [
            Sample(now_s, service, peer_metric("tcp_retrans_per_s", peer), count / elapsed)
            for peer, count in sorted(retrans_by_peer.items())
        ]
    return samples
