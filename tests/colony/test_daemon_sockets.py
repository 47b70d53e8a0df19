"""The colony's own listening sockets: what the connections it accepts are like."""

from __future__ import annotations

import asyncio
import socket

from coral_mcp.colony import daemon


def test_connections_the_colony_accepts_send_small_writes_at_once() -> None:
    """Nagle off on every accepted HTTP connection: with it on, the body of each response
    on a kept-alive connection waited for the client's delayed ACK of its head (~40 ms
    added to every MCP and REST call)."""
    listening = daemon._bind_tcp("127.0.0.1", 0, "HTTP", "--http-port")
    port = listening.getsockname()[1]
    nodelay: list[int] = []

    async def scenario() -> None:
        seen = asyncio.Event()

        async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            sock = writer.get_extra_info("socket")
            nodelay.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            seen.set()
            writer.close()

        async with await asyncio.start_server(accepted, sock=listening):
            _, client = await asyncio.open_connection("127.0.0.1", port)
            await asyncio.wait_for(seen.wait(), 10)
            client.close()

    asyncio.run(scenario())
    assert nodelay[0] != 0
