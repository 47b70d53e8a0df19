"""One HTTP/1.1 GET over a plain socket, bounded in time and bytes.

Whatever answers is untrusted: the whole exchange (connect, request, status line,
headers, body) must finish within one deadline, so an endpoint that dribbles a byte a
second (slowloris) costs `timeout_s`, not a read timeout per byte; at most `max_bytes`
of body and `MAX_HEADER_BYTES` of headers are read, so an endless body costs the cap.
A reply that is not HTTP/1.x raises `NotHttpError`; an HTTP/2 server's frames
raise it with `http2=True` (a gRPC port, asked about through gRPC health instead).
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_HEADER_BYTES = 8 * 1024
_CHUNK = 16 * 1024


class NotHttpError(OSError):
    """The port answered with something other than HTTP/1.x (or not at all)."""

    def __init__(self, message: str, http2: bool = False) -> None:
        super().__init__(message)
        self.http2 = http2


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    content_type: str
    body: bytes


def fetch(url: str, timeout_s: float, max_bytes: int) -> HttpResponse:
    """GET `url` (http://HOST:PORT/PATH); raises OSError (TimeoutError, NotHttpError)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    deadline = time.monotonic() + timeout_s
    with socket.create_connection((host, port), timeout=timeout_s) as conn:
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUser-Agent: coral-agent\r\n"
            "Accept: */*\r\nConnection: close\r\n\r\n"
        )
        conn.sendall(request.encode("ascii", "replace"))
        head, rest = _read_head(conn, deadline)
        status, headers = _parse_head(head)
        body = _read_body(conn, deadline, rest, headers, max_bytes)
    return HttpResponse(status, headers.get("content-type", ""), body)


def _recv(conn: socket.socket, deadline: float) -> bytes:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("timed out")
    conn.settimeout(remaining)
    return conn.recv(_CHUNK)


def _read_head(conn: socket.socket, deadline: float) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = _recv(conn, deadline)  # TimeoutError: no (whole) answer in time
        if not chunk:
            raise NotHttpError("closed without an HTTP answer" if not data else "cut short")
        data += chunk
        if not data.startswith(b"HTTP/1."[: len(data)]):
            http2 = len(data) >= 9 and data[3] == 0x04  # a SETTINGS frame first
            raise NotHttpError("the answer is not HTTP/1.x", http2=http2)
        if len(data) > MAX_HEADER_BYTES and b"\r\n\r\n" not in data[: MAX_HEADER_BYTES + 4]:
            raise NotHttpError("HTTP headers beyond the cap")
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    fields = lines[0].split(" ", 2)
    if len(fields) < 2 or not fields[1].isdigit():
        raise NotHttpError(f"malformed HTTP status line {lines[0][:40]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        key, sep, value = line.partition(":")
        if sep:
            headers[key.strip().lower()] = value.strip()
    return int(fields[1]), headers


def _read_body(
    conn: socket.socket, deadline: float, body: bytes, headers: dict[str, str], max_bytes: int
) -> bytes:
    length = headers.get("content-length", "")
    want = min(int(length), max_bytes) if length.isdigit() else max_bytes
    chunked = "chunked" in headers.get("transfer-encoding", "").lower()
    limit = max_bytes + MAX_HEADER_BYTES if chunked else want
    while len(body) < limit:
        chunk = _recv(conn, deadline)
        if not chunk:
            break
        body += chunk
    return _dechunk(body)[:max_bytes] if chunked else body[:want]


def _dechunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size_line, sep, data = data.partition(b"\r\n")
        if not sep:
            break
        try:
            size = int(size_line.split(b";")[0], 16)
        except ValueError:
            break
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2 :]
    return bytes(out)
