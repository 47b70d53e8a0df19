"""The colony's HTTP connections, bounded against slow clients (slowloris).

uvicorn limits the connections open at once, but a connection that sends its request
head slowly (or never) holds its place for as long as it likes: enough of them and every
new client gets 503. Here a request head must arrive whole within `HEAD_TIMEOUT_S` of
the connection opening, or of the previous response on a kept-alive connection; past it
the connection gets 408 and is closed. And when every place is taken, a new connection
displaces the one that has waited longest for its head (503 to it), so connections that
send nothing useful cannot starve the clients that do. Requests being served are never
displaced.
"""

from __future__ import annotations

import asyncio
import json
import logging

from uvicorn.protocols.http.h11_impl import H11Protocol

logger = logging.getLogger(__name__)

#: Seconds a request head (request line and headers) may take to arrive.
HEAD_TIMEOUT_S = 10.0
#: Displacements are logged at most this often (a flood would fill the log).
LOG_EVERY_S = 60.0


class _Displacements:
    """Connections displaced since the last log line, and when that line was."""

    count = 0
    logged_at = float("-inf")


def _answer(status: int, reason: str, error: str) -> bytes:
    body = json.dumps({"error": error, "hint": None}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline on request heads and displacement of the
    longest-waiting connection when all places are taken."""

    _head_timer: asyncio.TimerHandle | None = None
    #: Loop time since which this connection waits for a request head; None: serving.
    _waiting_since: float | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head()
        self._make_room()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        scope = self.scope
        super().handle_events()
        if self.scope is not scope:  # a whole request head arrived
            self._stop_waiting()

    def on_response_complete(self) -> None:
        if not self.transport.is_closing():
            self._await_head()  # the next request's head, on a kept-alive connection
        super().on_response_complete()

    def _await_head(self) -> None:
        self._stop_waiting()
        self._waiting_since = self.loop.time()
        self._head_timer = self.loop.call_later(HEAD_TIMEOUT_S, self._head_too_slow)

    def _stop_waiting(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        self._waiting_since = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        self._close(408, "Request Timeout", f"request head not sent within {HEAD_TIMEOUT_S:g} s")

    def _close(self, status: int, reason: str, error: str) -> None:
        self._stop_waiting()
        self.connections.discard(self)
        if not self.transport.is_closing():
            self.transport.write(_answer(status, reason, error))
            self.transport.close()

    def _make_room(self) -> None:
        """At the connection limit, close the connections that have waited longest for
        a request head until this one fits (uvicorn answers 503 at the limit)."""
        limit = self.limit_concurrency
        if limit is None:
            return
        displaced = 0
        while len(self.connections) >= limit:
            waiting = [
                c
                for c in self.connections
                if isinstance(c, GuardedH11Protocol)
                and c is not self
                and c._waiting_since is not None
            ]
            if not waiting:
                break
            oldest = min(waiting, key=lambda c: c._waiting_since or 0.0)
            oldest._close(503, "Service Unavailable", "displaced: the colony is at its limit")
            displaced += 1
        _Displacements.count += displaced
        now = self.loop.time()
        if _Displacements.count and now - _Displacements.logged_at >= LOG_EVERY_S:
            logger.warning(
                "HTTP at its limit of %d connections: closed %d waiting for a request head"
                " (since the last such line)",
                limit,
                _Displacements.count,
            )
            _Displacements.count, _Displacements.logged_at = 0, now
