"""An in-process colony (real gRPC servicer, ingest, writer, DuckDB store) on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc

from coral_mcp.colony.ingest import Ingest
from coral_mcp.proto import coral_pb2_grpc as pb_grpc
from coral_mcp.rpc.colony_servicer import ColonyServicer
from coral_mcp.storage.store import ColonyStore
from coral_mcp.storage.writer import Writer


@asynccontextmanager
async def colony(store: ColonyStore, port: int) -> AsyncIterator[Ingest]:
    writer = Writer(store)
    writer.start()
    ingest = Ingest(store, writer, stale_after_s=60)
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    pb_grpc.add_ColonyServicer_to_server(ColonyServicer(ingest), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    try:
        yield ingest
    finally:
        await server.stop(grace=0.5)
        await writer.close()
