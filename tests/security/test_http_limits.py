"""The HTTP door (MCP and REST) is bounded: a huge body gets 413 without being read to
the end, a body that trickles in gets 408, strangers get 401 before any body is read,
and the colony keeps answering throughout. A real colony daemon, real sockets."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import httpx2
import pytest

from coral_mcp.colony import http_app
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
