"""The colony's side of the mesh at run time: tunnel, peers, identity of callers.

Made by the colony daemon when `coral colony init` has been run. It brings the
colony's tunnel up (unless `--tunnel none`), keeps the tunnel's peers equal to the
registry's joined, unrevoked agents (revoking an agent removes its peer: its tunnel
is cut), tells the gRPC servicer who is calling, and publishes the colony's signed
record to a discovery service when one is given.

Who is calling comes only from what the caller proves: the client certificate the
colony issued at join, whose public key must be the one pinned in the registry. The
source address is never evidence (a router can forge it, a LAN host can route to the
mesh address): the gRPC port on the mesh address asks for that certificate too, and
the join port is a server of its own that answers only `Mesh.Join`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import grpc

from coral_mcp.config import TunnelMode
from coral_mcp.errors import AddressInUseError
from coral_mcp.mesh import discovery_client
from coral_mcp.mesh.errors import TunnelError
from coral_mcp.mesh.join import ColonyEndpoints, JoinService
from coral_mcp.mesh.keys import ColonyIdentity, b64url
from coral_mcp.mesh.records import ColonyRecord
from coral_mcp.mesh.registry import MeshRegistry, Peer
from coral_mcp.mesh.tls import client_cert_key, client_cert_name, server_credentials
from coral_mcp.mesh.tunnel import (
    PeerConfig,
    PeerStatus,
    Tunnel,
    choose_mode,
    make_tunnel,
)
from coral_mcp.rpc import mesh as mesh_rpc

logger = logging.getLogger(__name__)

#: Join calls served at once; more wait (a flood of joins cannot starve the colony).
JOIN_MAX_CONCURRENT = 16
#: Seconds between re-reads of the registry (revocations made by the CLI).
SYNC_INTERVAL_S = 1.0


@dataclass(frozen=True, slots=True)
class ColonyMeshOptions:
    tunnel: TunnelMode
    join_host: str
    join_port: int
    tls_port: int
    wg_port: int
    wg_interface: str
    discovery: str | None
    discovery_ttl_s: float


class ColonyMesh:
    def __init__(
        self,
        identity: ColonyIdentity,
        registry: MeshRegistry,
        options: ColonyMeshOptions,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.identity = identity
        self.registry = registry
        self.options = options
        self._clock = clock
        self.mode = choose_mode(options.tunnel)
        self.tunnel: Tunnel | None = None
        self.grpc_port = 0
        self.join_port = 0
        self.tls_port = 0
        self._by_agent: dict[str, Peer] = {}
        #: Join-port server: only Mesh.Join, never the Colony service.
        self._join_server: grpc.aio.Server | None = None
        self._applied: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._stop = asyncio.Event()

    # -- who is calling ----------------------------------------------------------

    def check(self, context: grpc.aio.ServicerContext[object, object], agent_id: str) -> str | None:
        """Why this caller may not speak as `agent_id`, or None when it may."""
        caller = self.caller(context)
        if caller is None:
            return f"caller {context.peer()} is not a joined agent"
        if caller == "":  # the plain loopback port (its credential is checked before)
            if agent_id in self._by_agent:
                return f"agent {agent_id} is joined to the mesh: it speaks with its certificate"
            return None
        peer = self._by_agent.get(caller)
        if peer is None or peer.revoked:
            return f"agent {caller} is revoked"
        if caller != agent_id:
            return f"agent {caller} tried to speak as {agent_id!r}"
        return None

    def caller(self, context: grpc.aio.ServicerContext[object, object]) -> str | None:
        """The agent behind this call, from the certificate it proved; "" for a loopback
        caller on the plain port (see `local_caller`); None for anyone else."""
        name = client_cert_name(context)
        if name is not None:
            peer = self._by_agent.get(name)
            pinned = peer.tls_public_key if peer is not None else None
            return name if pinned is not None and client_cert_key(context) == pinned else None
        host, _ = mesh_rpc.split_peer(context.peer())
        with contextlib.suppress(ValueError):
            if ipaddress.ip_address(host).is_loopback:
                return ""
        return None

    def revoked(self, agent_id: str) -> bool:
        peer = self._by_agent.get(agent_id)
        return peer is not None and peer.revoked

    # -- running ------------------------------------------------------------------

    def endpoints(self) -> ColonyEndpoints:
        hosts = self.identity.endpoints
        return ColonyEndpoints(
            wg=tuple(f"{h}:{self.options.wg_port}" for h in hosts) if self.tunnel else (),
            tls=tuple(f"{h}:{self.tls_port}" for h in hosts),
            grpc_port=self.grpc_port,
        )

    def bring_up(self) -> None:
        """Start the tunnel (in the colony's network namespace) and load the peers."""
        if self.mode != "none":
            tunnel = make_tunnel(self.mode, self.options.wg_interface)
            tunnel.up(
                self.identity.wg_private_key,
                self.identity.mesh_address,
                self.identity.subnet.prefixlen,
                self.options.wg_port,
            )
            self.tunnel = tunnel
        self.sync()

    def bind(self, server: grpc.aio.Server, grpc_port: int) -> None:
        """Add the mesh-side ports: gRPC on the mesh address, TLS join and mutual-TLS."""
        o, ident = self.options, self.identity
        tls_creds = server_credentials(
            ident.tls_key_pem, ident.tls_cert_pem, require_client_cert=True
        )
        if self.tunnel is not None:
            self.grpc_port = _add(
                lambda a: server.add_secure_port(a, tls_creds),
                f"{ident.mesh_address}:{grpc_port}",
            )
        else:
            self.grpc_port = grpc_port
        self.tls_port = _add(
            lambda a: server.add_secure_port(a, tls_creds), f"{o.join_host}:{o.tls_port}"
        )
        join_server = grpc.aio.server(
            options=[("grpc.so_reuseport", 0), ("grpc.max_receive_message_length", 64 * 1024)],
            maximum_concurrent_rpcs=JOIN_MAX_CONCURRENT,
        )
        mesh_rpc.add_join_service(
            join_server,
            JoinService(ident, self.registry, self.endpoints, self._joined, self._clock),
        )
        join_creds = server_credentials(
            ident.tls_key_pem, ident.tls_cert_pem, require_client_cert=False
        )
        self.join_port = _add(
            lambda a: join_server.add_secure_port(a, join_creds), f"{o.join_host}:{o.join_port}"
        )
        self._join_server = join_server

    async def start(self) -> None:
        """Serve the join port and start the background work (after `bind`)."""
        if self._join_server is not None:
            await self._join_server.start()
        self.start_background()

    def start_background(self) -> None:
        self._tasks.append(asyncio.create_task(self._sync_forever(), name="mesh-sync"))
        if self.options.discovery:
            publish = self._publish_forever(self.options.discovery)
            self._tasks.append(asyncio.create_task(publish, name="mesh-publish"))

    def _joined(self, peer: Peer) -> None:
        self.sync()

    def sync(self) -> None:
        """Make the tunnel's peers, and the caller tables, match the registry."""
        peers = self.registry.peers()
        self._by_agent = {p.agent_id: p for p in peers}
        if self.tunnel is None:
            return
        wanted = {p.wg_public_key: p for p in peers if not p.revoked}
        for key in self._applied - wanted.keys():
            self.tunnel.remove_peer(key)
            logger.info("tunnel peer %s removed (agent revoked)", key)
        for key, peer in wanted.items():
            if key not in self._applied:
                self.tunnel.set_peer(PeerConfig(key, (f"{peer.address}/32",)))
        self._applied = set(wanted)

    async def _stopped(self, wait_s: float) -> bool:
        """Wait `wait_s` seconds or until close; whether the mesh is closing."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), wait_s)
        return self._stop.is_set()

    async def _sync_forever(self) -> None:
        while not await self._stopped(SYNC_INTERVAL_S):
            try:
                self.sync()
            except (TunnelError, OSError):
                logger.exception("mesh peer sync failed; will try again")

    def record(self) -> ColonyRecord:
        now_ms = int(self._clock() * 1000)
        return ColonyRecord(
            self.identity.mesh_id,
            b64url(self.identity.colony_key),
            tuple(f"{h}:{self.join_port}" for h in self.identity.endpoints),
            now_ms,
            now_ms + int(self.options.discovery_ttl_s * 1000),
        )

    async def _publish_forever(self, discovery: str) -> None:
        failing = False
        while True:
            record = self.record()
            try:
                reason = await discovery_client.publish(
                    discovery, record, self.identity.sign(record.to_bytes())
                )
                if reason:
                    logger.warning("discovery refused our record: %s", reason)
                elif failing:
                    logger.info("discovery at %s reachable again", discovery)
                failing = False
            except grpc.RpcError as exc:
                if not failing:
                    logger.warning("cannot publish to discovery at %s: %s", discovery, exc.code())
                failing = True
            if await self._stopped(max(1.0, self.options.discovery_ttl_s / 3)):
                return

    def status(self) -> list[PeerStatus]:
        return self.tunnel.status() if self.tunnel is not None else []

    async def close(self) -> None:
        self._stop.set()
        if self._tasks:  # a publish still waiting on discovery is not waited for long
            _, late = await asyncio.wait(self._tasks, timeout=1.0)
            for task in late:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._join_server is not None:
            await self._join_server.stop(grace=1)
        if self.tunnel is not None:
            await asyncio.to_thread(self.tunnel.down)
        self.registry.close()


def _add(add: Callable[[str], int], address: str) -> int:
    try:
        port = add(address)
    except RuntimeError:
        port = 0
    if port == 0:
        raise AddressInUseError(
            f"cannot listen on {address} for the mesh",
            hint="choose other ports with --join-port / --tls-port, or stop the holder",
        )
    return port
