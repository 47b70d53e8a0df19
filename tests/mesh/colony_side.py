"""An in-process colony mesh on loopback: the real join service, registry and TLS."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from ipaddress import IPv4Network
from pathlib import Path

import grpc

from coral_mcp.mesh.colony_mesh import ColonyMesh, ColonyMeshOptions
from coral_mcp.mesh.keys import ColonyIdentity
from coral_mcp.mesh.registry import MeshRegistry
from coral_mcp.mesh.tokens import JoinToken
from coral_mcp.proto import coral_pb2_grpc as pb_grpc
from coral_mcp.rpc.colony_servicer import ColonyServicer, IngestSink


@dataclass
class MeshColony:
    identity: ColonyIdentity
    mesh: ColonyMesh
    registry: MeshRegistry
    join_endpoint: str
    tls_endpoint: str

    def token(self, ttl_s: float = 3600, uses: int = 1, endpoint: str | None = None) -> JoinToken:
        token = JoinToken.new(
            self.identity.mesh_id, self.identity.colony_key, (endpoint or self.join_endpoint,)
        )
        self.registry.add_token(token.token_id, token.secret, int(time.time() * 1000), ttl_s, uses)
        return token


def make_identity(mesh_id: str = "m-test") -> ColonyIdentity:
    return ColonyIdentity.create(mesh_id, IPv4Network("100.96.0.0/24"), ("127.0.0.1",))


@asynccontextmanager
async def mesh_colony(
    data_dir: Path,
    sink: IngestSink | None = None,
    identity: ColonyIdentity | None = None,
    clock: Callable[[], float] = time.time,
) -> AsyncIterator[MeshColony]:
    """Join (TLS) and mutual-TLS ports on loopback, no tunnel; the Colony service when
    a sink is given."""
    identity = identity or make_identity()
    registry = MeshRegistry(data_dir, identity.subnet)
    options = ColonyMeshOptions("none", "127.0.0.1", 0, 0, 0, "unused", None, 60.0)
    mesh = ColonyMesh(identity, registry, options, clock)
    mesh.bring_up()
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    if sink is not None:
        pb_grpc.add_ColonyServicer_to_server(ColonyServicer(sink, mesh), server)
    mesh.bind(server, 0)
    await server.start()
    await mesh.start()
    try:
        yield MeshColony(
            identity,
            mesh,
            registry,
            f"127.0.0.1:{mesh.join_port}",
            f"127.0.0.1:{mesh.tls_port}",
        )
    finally:
        await server.stop(grace=0.5)
        await mesh.close()
