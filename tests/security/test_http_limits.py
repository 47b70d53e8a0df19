"""The HTTP door (MCP and REST) is bounded: a huge body gets 413 without being read to
the end, a body that trickles in gets 408, strangers get 401 before any body is read,
a request head that trickles in gets 408 and connections that never finish theirs
cannot crowd out real clients, MCP sessions are capped, and the colony keeps answering
throughout. A real colony daemon, real sockets."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import httpx2
import pytest

from coral_mcp.colony import daemon, http_app, http_guard
from coral_mcp.colony.daemon import ColonyDaemon
from coral_mcp.config import ColonySettings


def _raw(port: int, head: bytes, body: bytes, wait_s: float) -> bytes:
    """Send a request by hand, a part of its body, then wait for the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait_s) as sock:
        sock.sendall(head + body)
        chunks = []
        try:
            while chunk := sock.recv(4096):
                chunks.append(chunk)
        except TimeoutError:
            pass
    return b"".join(chunks)


def test_big_slow_and_anonymous_bodies_are_refused_and_the_colony_carries_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http_app, "BODY_TIMEOUT_S", 1.0)
    settings = ColonySettings(data_dir=tmp_path / "colony", grpc_port=0, http_port=0)

    async def scenario() -> None:
        colony = await ColonyDaemon.open(settings)
        try:
            port, token = colony.http_port, colony.token
            auth = f"Authorization: Bearer {token}\r\n".encode()
            async with httpx2.AsyncClient(base_url=colony.http_url, timeout=10) as client:
                big = await client.post(
                    "/mcp",
                    content=b"{" + b" " * (3 * 1024 * 1024) + b"}",
                    headers={
                        "Authorization": f"Bearer {token}",
                        "Content-Type": "application/json",
                    },
                )
                assert big.status_code == 413, big.text
                anonymous = await client.post("/mcp", content=b"x" * (3 * 1024 * 1024))
                assert anonymous.status_code == 401

                # Chunked, no length declared: refused once the bound is crossed.
                async def chunks():  # type: ignore[no-untyped-def]
                    for _ in range(40):
                        yield b" " * 65536

                streamed = await client.post(
                    "/mcp",
                    content=chunks(),
                    headers={
                        "Authorization": f"Bearer {token}",
                        "Content-Type": "application/json",
                    },
                )
                assert streamed.status_code == 413
            head = (
                b"POST /mcp HTTP/1.1\r\nHost: x\r\n" + auth
                + b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
            )  # fmt: skip
            started = time.monotonic()
            answer = await asyncio.to_thread(_raw, port, head, b"{", 10.0)
            assert answer.startswith(b"HTTP/1.1 408"), answer[:100]
            assert time.monotonic() - started < 8
            async with httpx2.AsyncClient(base_url=colony.http_url, timeout=10) as client:
                assert (await client.get("/healthz")).status_code == 200
        finally:
            await colony.close()

    asyncio.run(scenario())


def _drain(sock: socket.socket, wait_s: float) -> bytes:
    """What the server sends until it closes the connection (or `wait_s` passes)."""
    sock.settimeout(wait_s)
    chunks = []
    try:
        while chunk := sock.recv(4096):
            chunks.append(chunk)
    except TimeoutError:
        return b"".join(chunks) + b"<still open>"
    except ConnectionResetError:
        pass
    return b"".join(chunks)


def test_slow_request_heads_are_cut_off_and_cannot_crowd_out_other_clients(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http_guard, "HEAD_TIMEOUT_S", 1.5)
    monkeypatch.setattr(daemon, "HTTP_MAX_CONNECTIONS", 20)
    settings = ColonySettings(data_dir=tmp_path / "colony", grpc_port=0, http_port=0)

    def trickle(port: int) -> tuple[bytes, float]:
        """A slowloris client: a header line every 0.3 s, never the blank line."""
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            sock.settimeout(0.3)
            for i in range(30):
                try:
                    first = sock.recv(4096)  # the server's answer, or 0.3 s of silence
                except TimeoutError:
                    sock.sendall(f"X-Slow-{i}: y\r\n".encode())
                    continue
                return first + _drain(sock, 5), time.monotonic() - started
        return b"<never answered>", time.monotonic() - started

    async def scenario() -> None:
        colony = await ColonyDaemon.open(settings)
        try:
            port = colony.http_port
            answer, took = await asyncio.to_thread(trickle, port)
            assert answer.startswith(b"HTTP/1.1 408"), answer[:100]
            assert b"request head not sent within 1.5 s" in answer
            assert took < 5  # not the 9 s the client would have gone on for

            # Three times the connection limit, each with half a request head.
            idle: list[socket.socket] = []
            try:  # closed whatever happens (a socket left open fails a later test)
                for _ in range(60):
                    idle.append(socket.create_connection(("127.0.0.1", port)))
                for sock in idle:
                    sock.sendall(b"GET /healthz HTTP/1.1\r\n")
                await asyncio.sleep(0.2)
                async with httpx2.AsyncClient(base_url=colony.http_url, timeout=5) as client:
                    for _ in range(5):  # a real client still gets in, every time
                        assert (await client.get("/healthz")).status_code == 200
                answers = await asyncio.gather(*(asyncio.to_thread(_drain, s, 5) for s in idle))
            finally:
                for sock in idle:
                    sock.close()
            displaced = [a for a in answers if a.startswith(b"HTTP/1.1 503")]
            timed_out = [a for a in answers if a.startswith(b"HTTP/1.1 408")]
            assert len(displaced) >= 40, answers[:3]
            assert len(displaced) + len(timed_out) == 60  # none left hanging
        finally:
            await colony.close()

    asyncio.run(scenario())


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "session-test", "version": "1"},
    },
}


def test_mcp_sessions_are_capped_and_a_closed_or_idle_one_makes_room(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http_app, "MAX_MCP_SESSIONS", 3)
    monkeypatch.setattr(http_app, "MCP_SESSION_IDLE_S", 6.0)
    settings = ColonySettings(data_dir=tmp_path / "colony", grpc_port=0, http_port=0)

    async def scenario() -> None:
        colony = await ColonyDaemon.open(settings)
        headers = {
            "Authorization": f"Bearer {colony.token}",
            "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json",
        }
        try:
            async with httpx2.AsyncClient(base_url=colony.http_url, timeout=10) as client:

                async def open_session() -> httpx2.Response:
                    return await client.post("/mcp", json=INITIALIZE, headers=headers)

                sessions = []
                for _ in range(3):
                    opened = await open_session()
                    assert opened.status_code == 200, opened.text
                    sessions.append(opened.headers["mcp-session-id"])
                refused = await open_session()
                assert refused.status_code == 503
                assert "Too many open sessions" in refused.text
                # The open ones still work.
                listed = await client.post(
                    "/mcp",
                    json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
                    headers={**headers, "mcp-session-id": sessions[0]},
                )
                assert listed.status_code == 200 and "list_services" in listed.text
                # A client that ends its session makes room for another.
                ended = await client.delete(
                    "/mcp", headers={**headers, "mcp-session-id": sessions[1]}
                )
                assert ended.status_code == 200, ended.text
                assert (await open_session()).status_code == 200
                # Sessions left idle are closed, and their places are free again.
                await asyncio.sleep(9)
                for _ in range(3):
                    assert (await open_session()).status_code == 200
        finally:
            await colony.close()

    asyncio.run(scenario())
