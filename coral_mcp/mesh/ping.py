"""ICMP echo over the mesh (a raw socket: the colony runs as root when it has a tunnel)."""

from __future__ import annotations

import os
import select
import socket
import struct
import time

from coral_mcp.mesh.errors import MeshError


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return int(~total & 0xFFFF)


def echo(address: str, seq: int, timeout_s: float = 2.0) -> float | None:
    """Round-trip seconds of one ICMP echo to `address`, or None without an answer."""
    ident = os.getpid() & 0xFFFF
    payload = b"coral-mesh-ping"
    header = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
    packet = struct.pack("!BBHHH", 8, 0, _checksum(header + payload), ident, seq) + payload
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    except PermissionError:
        raise MeshError("ping needs root (a raw socket)", hint="run it with sudo") from None
    with sock:
        sent = time.monotonic()
        sock.sendto(packet, (address, 0))
        deadline = sent + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([sock], [], [], left)
            if not ready:
                break
            data, (source, _) = sock.recvfrom(2048)
            ihl = (data[0] & 0x0F) * 4
            kind, _, _, rid, rseq = struct.unpack("!BBHHH", data[ihl : ihl + 8])
            if source == address and kind == 0 and rid == ident and rseq == seq:
                return time.monotonic() - sent
    return None
