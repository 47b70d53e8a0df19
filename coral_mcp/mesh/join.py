"""Joining: the colony's `Mesh.Join` service and the agent's side of it.

The agent talks only to whoever proves the colony key its token pins: it reads the
colony's TLS certificate, checks the Ed25519 binding inside it against the pinned
key, then trusts that one certificate (and nothing else) for the Join call. The
colony redeems the token (refusals are logged with their reason and change nothing),
records the agent's keys and answers with its stable mesh address.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import grpc

from coral_mcp.errors import ColonyUnreachableError, ProtocolError
from coral_mcp.mesh import discovery_client
from coral_mcp.mesh.agent_state import AgentMeshState, ColonyPin
from coral_mcp.mesh.errors import JoinRefusedError, PinMismatchError
from coral_mcp.mesh.keys import (
    ColonyIdentity,
    b64url,
    new_tls_key,
    new_wg_keypair,
    verify_colony_cert,
)
from coral_mcp.mesh.registry import MeshRegistry, Peer
from coral_mcp.mesh.tls import CLIENT_OPTIONS, client_credentials
from coral_mcp.mesh.tokens import JoinToken
from coral_mcp.models.mesh import JoinGrant, JoinRequestInfo
from coral_mcp.rpc import codec
from coral_mcp.rpc import mesh as mesh_rpc
from coral_mcp.rpc.colony_servicer import MAX_HOSTNAME_CHARS

logger = logging.getLogger(__name__)

JOIN_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class ColonyEndpoints:
    """Where the colony can be reached, told to joining agents."""

    wg: tuple[str, ...]
    tls: tuple[str, ...]
    grpc_port: int


class JoinService:
    """The colony side of Join: redeem the token, certify the agent's key, say where to go."""

    def __init__(
        self,
        identity: ColonyIdentity,
        registry: MeshRegistry,
        endpoints: Callable[[], ColonyEndpoints],
        on_joined: Callable[[Peer], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._identity = identity
        self._registry = registry
        self._endpoints = endpoints
        self._on_joined = on_joined
        self._clock = clock
        self._lock = asyncio.Lock()

    async def join(self, request: JoinRequestInfo, peer: str) -> JoinGrant | str:
        try:
            codec.name(request.agent_id, "agent_id")
            codec.name(request.hostname, "hostname", MAX_HOSTNAME_CHARS)
            cert = self._identity.issue_agent_cert(request.agent_id, request.tls_public_key)
            async with self._lock:
                admitted = self._registry.redeem(request, int(self._clock() * 1000))
        except (JoinRefusedError, ProtocolError, ValueError) as exc:
            logger.warning(
                "join refused for agent %r from %s: %s", request.agent_id[:128], peer, exc
            )
            return str(exc)
        logger.info(
            "agent %s joined from %s: mesh address %s", admitted.agent_id, peer, admitted.address
        )
        self._on_joined(admitted)
        ends = self._endpoints()
        return JoinGrant(
            mesh_id=self._identity.mesh_id,
            mesh_address=admitted.address,
            mesh_subnet=str(self._identity.subnet),
            colony_mesh_address=self._identity.mesh_address,
            colony_wg_public_key=self._identity.wg_public_key,
            colony_wg_endpoints=ends.wg,
            colony_grpc_port=ends.grpc_port,
            agent_certificate=cert,
            colony_tls_endpoints=ends.tls,
        )


def fetch_certificate(endpoint: str, timeout_s: float = 5.0) -> bytes:
    """The TLS certificate a server presents (PEM), not yet trusted: check it after."""
    host, _, port = endpoint.rpartition(":")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["h2"])
    try:
        with (
            socket.create_connection((host, int(port)), timeout=timeout_s) as raw,
            context.wrap_socket(raw) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
    except (OSError, ValueError) as exc:
        raise ColonyUnreachableError(f"no colony answers at {endpoint}: {exc}") from None
    if der is None:
        raise ColonyUnreachableError(f"{endpoint} presented no certificate")
    return ssl.DER_cert_to_PEM_cert(der).encode()


def new_state(agent_id: str) -> AgentMeshState:
    wg_private, wg_public = new_wg_keypair()
    key_pem, spki = new_tls_key()
    return AgentMeshState(agent_id, wg_private, wg_public, key_pem.decode(), spki.hex())


def join(
    state: AgentMeshState,
    token: JoinToken,
    hostname: str,
    discovery: str | None,
    clock: Callable[[], float] = time.time,
) -> AgentMeshState:
    """Join the colony the token names; the state with the join's answer in it."""
    endpoints = list(token.endpoints)
    failures: list[str] = []
    tried_discovery = False
    while True:
        for endpoint in endpoints:
            try:
                return _join_at(endpoint, state, token, hostname)
            except ColonyUnreachableError as exc:
                logger.warning("%s", exc)
                failures.append(endpoint)
        if discovery is None or tried_discovery:
            break
        tried_discovery = True
        record = discovery_client.resolve(
            discovery, token.mesh_id, token.colony_key, int(clock() * 1000)
        )
        logger.info("discovery says mesh %s is at %s", token.mesh_id, ", ".join(record.endpoints))
        endpoints = [e for e in record.endpoints if e not in failures]
    raise ColonyUnreachableError(
        f"no colony of mesh {token.mesh_id} answers at {', '.join(failures) or 'no endpoint'}",
        hint="check the address and firewall, or give --discovery HOST:PORT",
    )


def _join_at(
    endpoint: str, state: AgentMeshState, token: JoinToken, hostname: str
) -> AgentMeshState:
    cert_pem = fetch_certificate(endpoint)
    verify_colony_cert(cert_pem, token.colony_key)
    request = JoinRequestInfo(
        token_id=token.token_id,
        secret=token.secret,
        agent_id=state.agent_id,
        hostname=hostname,
        wg_public_key=state.wg_public_key,
        tls_public_key=bytes.fromhex(state.tls_public_key),
    )
    try:
        with grpc.secure_channel(
            endpoint, client_credentials(cert_pem), options=CLIENT_OPTIONS
        ) as channel:
            answer = mesh_rpc.call_join(channel, request, JOIN_TIMEOUT_S)
    except grpc.RpcError as exc:
        code, details = exc.code(), exc.details()
        if code == grpc.StatusCode.PERMISSION_DENIED:
            raise JoinRefusedError(
                f"the colony refused the join: {details}",
                hint="ask for a new token: `coral colony token create` on the colony",
            ) from None
        if code == grpc.StatusCode.UNAVAILABLE:
            raise ColonyUnreachableError(f"no colony answers at {endpoint}: {details}") from None
        raise PinMismatchError(f"join at {endpoint} failed: {code.name} {details}") from None
    pin = ColonyPin(
        mesh_id=answer.mesh_id,
        colony_key=b64url(token.colony_key),
        colony_cert_pem=cert_pem.decode(),
        colony_mesh_address=answer.colony_mesh_address,
        colony_wg_public_key=answer.colony_wg_public_key,
        colony_wg_endpoints=answer.colony_wg_endpoints,
        colony_grpc_port=answer.colony_grpc_port,
        colony_tls_endpoints=answer.colony_tls_endpoints,
    )
    prefix = int(answer.mesh_subnet.rpartition("/")[2])
    return state.with_join(answer.mesh_address, prefix, answer.agent_certificate.decode(), pin)


def ensure_joined(
    data_dir: Path, agent_id: str, hostname: str, token_text: str | None, discovery: str | None
) -> AgentMeshState | None:
    """Join once: keys are saved before the attempt, the answer after it (atomically).

    None when this agent is not in a mesh and no token is given. A joined agent needs
    no token again; a token given then is ignored.
    """
    state = AgentMeshState.load(data_dir)
    if state is not None and state.joined:
        if token_text is not None:
            logger.info(
                "already joined mesh %s; the token is not needed",
                state.colony.mesh_id if state.colony else "?",
            )
        return state
    if token_text is None:
        if state is not None:
            raise JoinRefusedError(
                "this agent began joining a mesh but did not finish",
                hint="run it again with --join TOKEN (the same token works)",
            )
        return None
    token = JoinToken.decode(token_text)
    if state is None:
        state = new_state(agent_id)
        state.save(data_dir)
    state = join(state, token, hostname, discovery)
    state.save(data_dir)
    if discovery is not None:
        try:
            address, port = discovery_client.observe(discovery)
            logger.info("discovery at %s sees this agent as %s:%d", discovery, address, port)
        except grpc.RpcError as exc:
            logger.warning(
                "discovery at %s cannot tell our public address: %s", discovery, exc.code()
            )
    logger.info(
        "joined mesh %s as %s, address %s", token.mesh_id, state.agent_id, state.mesh_address
    )
    return state
