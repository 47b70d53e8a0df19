"""The host's TCP sockets from the kernel's `sock_diag` netlink interface.

One dump (`SOCK_DIAG_BY_FAMILY`, IPv4 then IPv6) lists every TCP socket with its state,
addresses, inode and `struct tcp_info` (round-trip time, retransmissions, time since
data was last sent and received). It is read over Python's own netlink socket: no
pyroute2 (which costs ~23 MiB and loads `ssl`), no walk of every process's file
descriptors as psutil's `net_connections()` does.

The kernel does not say which process owns a socket; `/proc/PID/fd` does. Inodes are
mapped to pids lazily: a socket seen before keeps its owner, and only a socket never
seen makes the scanner read file descriptors again — every process's when a listening
socket is new (auto-discovery), only the watched processes' otherwise. In a steady
state no descriptor is read at all.
"""

from __future__ import annotations

import logging
import os
import socket
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

logger = logging.getLogger(__name__)

_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST = 0x1
_NLM_F_DUMP = 0x300
_NLMSG_ERROR = 2
_NLMSG_DONE = 3
_INET_DIAG_INFO = 2
_HEADER = struct.Struct("=IHHII")
_REQUEST = struct.Struct("=BBBBI48x")
_MSG = struct.Struct("=BBBB2H16s16sI8xIIIII")
_ATTR = struct.Struct("=HH")
# struct tcp_info from offset 24, in one read: unacked @24, last_data_sent @44,
# last_data_recv @52 (milliseconds ago), rtt @68, rttvar @72 (microseconds),
# total_retrans @100, data_segs_in @152, data_segs_out @156 (Linux >= 4.6).
_TCPI_OFFSET = 24
_TCPI = struct.Struct("=I16xI4xI12xII24xI48xII")
_TCPI_OLD = struct.Struct("=I16xI4xI12xII24xI")  # before data_segs_in/out

#: TCP states as the kernel numbers them (include/net/tcp_states.h).
ESTABLISHED, SYN_SENT, SYN_RECV, FIN_WAIT1, FIN_WAIT2, TIME_WAIT = 1, 2, 3, 4, 5, 6
CLOSE, CLOSE_WAIT, LAST_ACK, LISTEN, CLOSING = 7, 8, 9, 10, 11
STATE_NAMES = {
    ESTABLISHED: "ESTABLISHED",
    SYN_SENT: "SYN_SENT",
    SYN_RECV: "SYN_RECV",
    FIN_WAIT1: "FIN_WAIT1",
    FIN_WAIT2: "FIN_WAIT2",
    TIME_WAIT: "TIME_WAIT",
    CLOSE: "CLOSE",
    CLOSE_WAIT: "CLOSE_WAIT",
    LAST_ACK: "LAST_ACK",
    LISTEN: "LISTEN",
    CLOSING: "CLOSING",
}
ALL_STATES = 0xFFF
#: Every state but TIME_WAIT (sockets without an owner, many on a busy host).
LIVE_STATES = ALL_STATES & ~(1 << TIME_WAIT)


class TcpSocket(NamedTuple):
    """One TCP socket as the kernel reports it. Times from `tcp_info`; zero when the
    kernel sent none (a listening socket, an old kernel)."""

    state: int
    local: tuple[str, int]
    remote: tuple[str, int]
    inode: int
    rtt_us: int = 0
    rttvar_us: int = 0
    total_retrans: int = 0
    unacked: int = 0
    last_data_sent_ms: int = 0
    last_data_recv_ms: int = 0
    #: Segments carrying data received and sent (-1: the kernel does not say).
    data_segs_in: int = -1
    data_segs_out: int = -1


_ADDRESSES: dict[tuple[int, bytes], str] = {}


def _ip(family: int, raw: bytes) -> str:
    """Text form of a raw address (remembered: a host's sockets share few addresses)."""
    key = (family, raw)
    text = _ADDRESSES.get(key)
    if text is None:
        if len(_ADDRESSES) > 4096:
            _ADDRESSES.clear()
        text = _ADDRESSES[key] = _decode_ip(family, raw)
    return text


def _decode_ip(family: int, raw: bytes) -> str:
    if family == socket.AF_INET:
        return socket.inet_ntop(socket.AF_INET, raw[:4])
    text = socket.inet_ntop(socket.AF_INET6, raw)
    if text.startswith("::ffff:") and "." in text:
        return text[len("::ffff:") :]
    return text


class RawSocket(NamedTuple):
    """A socket's record as the kernel sent it, decoded only when wanted (`decode`):
    on a busy host most sockets are someone else's."""

    state: int
    inode: int
    family: int
    data: bytes
    body: int
    end: int

    def decode(self) -> TcpSocket:
        data, body = self.data, self.body
        fam, state, _, _, sport, dport, src, dst, _, _, _, _, _, inode = _MSG.unpack_from(
            data, body
        )
        info: tuple[int, ...] = ()
        attr = body + _MSG.size
        while attr + _ATTR.size <= self.end:
            attr_len, attr_type = _ATTR.unpack_from(data, attr)
            if attr_len < _ATTR.size:
                break
            if attr_type == _INET_DIAG_INFO:
                info = _tcp_info(data, attr + _ATTR.size, attr_len - _ATTR.size)
            attr += (attr_len + 3) & ~3
        family = fam or self.family
        return TcpSocket(
            state,
            (_ip(family, src), socket.ntohs(sport)),
            (_ip(family, dst), socket.ntohs(dport)),
            inode,
            *info,
        )


_STATE_INODE = struct.Struct("=xB66xI")  # idiag_state @1, idiag_inode @68


def _parse(data: bytes, family: int, into: list[RawSocket]) -> bool:
    """Append the inet_diag_msg records of one netlink reply to `into` (undecoded);
    True when the reply ends the dump."""
    offset = 0
    while offset + _HEADER.size <= len(data):
        length, kind, _, _, _ = _HEADER.unpack_from(data, offset)
        if length < _HEADER.size:
            return True
        if kind == _NLMSG_DONE:
            return True
        if kind == _NLMSG_ERROR:
            (errno,) = struct.unpack_from("=i", data, offset + _HEADER.size)
            raise OSError(-errno, f"sock_diag: {os.strerror(-errno)}")
        body = offset + _HEADER.size
        state, inode = _STATE_INODE.unpack_from(data, body)
        into.append(RawSocket(state, inode, family, data, body, offset + length))
        offset += (length + 3) & ~3
    return not data


def _tcp_info(data: bytes, start: int, size: int) -> tuple[int, ...]:
    """(rtt_us, rttvar_us, total_retrans, unacked, last_data_sent_ms, last_data_recv_ms,
    data_segs_in, data_segs_out) from a struct tcp_info."""
    if size >= _TCPI_OFFSET + _TCPI.size:
        unacked, sent, recv, rtt, rttvar, retrans, segs_in, segs_out = _TCPI.unpack_from(
            data, start + _TCPI_OFFSET
        )
        return rtt, rttvar, retrans, unacked, sent, recv, segs_in, segs_out
    if size >= _TCPI_OFFSET + _TCPI_OLD.size:
        unacked, sent, recv, rtt, rttvar, retrans = _TCPI_OLD.unpack_from(
            data, start + _TCPI_OFFSET
        )
        return rtt, rttvar, retrans, unacked, sent, recv
    return ()


def dump_tcp(
    families: Iterable[int] = (socket.AF_INET, socket.AF_INET6), states: int = ALL_STATES
) -> list[TcpSocket]:
    """Every TCP socket of the host's network namespace (in `states`), with tcp_info.
    Raises OSError when netlink sock_diag is not available (not Linux, a sandbox)."""
    return [raw.decode() for raw in dump_raw(families, states)]


def dump_raw(
    families: Iterable[int] = (socket.AF_INET, socket.AF_INET6), states: int = ALL_STATES
) -> list[RawSocket]:
    """`dump_tcp` without decoding: state and inode of each socket, the rest on demand."""
    found: list[RawSocket] = []
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, _NETLINK_SOCK_DIAG) as nl:
        nl.settimeout(2.0)
        for seq, family in enumerate(families, start=1):
            request = _REQUEST.pack(
                family, socket.IPPROTO_TCP, 1 << (_INET_DIAG_INFO - 1), 0, states
            )
            header = _HEADER.pack(
                _HEADER.size + len(request),
                _SOCK_DIAG_BY_FAMILY,
                _NLM_F_REQUEST | _NLM_F_DUMP,
                seq,
                0,
            )
            nl.sendall(header + request)
            while not _parse(nl.recv(1 << 16), family, found):
                pass
    return found


@dataclass(slots=True)
class InodeOwners:
    """Which pid holds which socket inode, read from `/proc/PID/fd` only when needed.

    `owners(inodes, pids)` answers for the inodes given; an inode never seen makes it
    read the file descriptors of `pids` (or of every process when `pids` is None),
    after which inodes still unowned are remembered as someone else's.
    """

    proc_root: Path
    _owner: dict[int, set[int]]
    _foreign: set[int]
    _read_all: bool = False

    @classmethod
    def at(cls, proc_root: Path = Path("/proc")) -> InodeOwners:
        return cls(proc_root, {}, set())

    def has_unknown(self, inodes: set[int]) -> bool:
        return any(i not in self._owner and i not in self._foreign for i in inodes)

    def owners(
        self, inodes: set[int], pids: Iterable[int] | None, walk: bool = True
    ) -> dict[int, set[int]]:
        """Owners of `inodes` (those known); with `walk`, unknown ones are looked up."""
        unknown = {i for i in inodes if i not in self._owner and i not in self._foreign}
        if unknown and walk:
            self._walk(pids, unknown)
        return {i: self._owner[i] for i in inodes if i in self._owner}

    def forget_foreign(self) -> None:
        """Read descriptors again for inodes thought to be someone else's."""
        self._foreign.clear()

    def forget_missing(self, live: set[int]) -> None:
        """Drop inodes no longer in the dump, to stay bounded."""
        for inode in [i for i in self._owner if i not in live]:
            del self._owner[inode]
        self._foreign &= live

    def _walk(self, pids: Iterable[int] | None, wanted: set[int]) -> None:
        if pids is None:
            pids = (int(e.name) for e in os.scandir(self.proc_root) if e.name.isdigit())
        found: set[int] = set()
        for pid in pids:
            for inode in self._socket_inodes(pid):
                self._owner.setdefault(inode, set()).add(pid)
                found.add(inode)
        self._foreign |= wanted - found

    def _socket_inodes(self, pid: int) -> Iterator[int]:
        fd_dir = f"{self.proc_root}/{pid}/fd"
        try:
            entries = os.scandir(fd_dir)
        except OSError:  # gone, or another user's
            return
        with entries:
            for entry in entries:
                try:
                    target = os.readlink(entry.path)
                except OSError:
                    continue
                if target.startswith("socket:["):
                    yield int(target[8:-1])
