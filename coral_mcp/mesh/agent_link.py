"""How a joined agent reaches its colony: through its tunnel, or over mutual TLS.

Loaded by the lean agent process: no crypto library here (gRPC's own TLS does the
work; the tunnel is configured with keys already made at join time).
"""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass

import grpc

from coral_mcp.config import TunnelMode
from coral_mcp.mesh.agent_state import AgentMeshState
from coral_mcp.mesh.errors import TunnelError
from coral_mcp.mesh.tls import CLIENT_OPTIONS, client_credentials
from coral_mcp.mesh.tunnel import PeerConfig, Tunnel, choose_mode, make_tunnel

logger = logging.getLogger(__name__)

#: Seconds between keepalives toward the colony: keeps NAT mappings open.
KEEPALIVE_S = 5


@dataclass(frozen=True, slots=True)
class AgentLink:
    mode: TunnelMode
    target: str
    credentials: grpc.ChannelCredentials
    channel_options: tuple[tuple[str, str], ...]


def plan_link(state: AgentMeshState, requested: TunnelMode) -> AgentLink:
    """Where and how the agent's gRPC goes, for a joined state."""
    assert state.colony is not None
    colony = state.colony
    mode = choose_mode(requested)
    if mode != "none" and not colony.colony_wg_endpoints:
        logger.warning("the colony runs no tunnel: using mutual TLS")
        mode = "none"
    if state.agent_cert_pem is None:
        raise TunnelError("the colony issued no client certificate at join time")
    # Through the tunnel too the agent proves who it is with its certificate: the
    # colony never takes a source address as identity.
    creds = client_credentials(
        colony.colony_cert_pem.encode(),
        state.tls_key_pem.encode(),
        state.agent_cert_pem.encode(),
    )
    if mode == "none":
        if not colony.colony_tls_endpoints:
            raise TunnelError("the colony named no TLS endpoint at join time")
        return AgentLink(mode, colony.colony_tls_endpoints[0], creds, CLIENT_OPTIONS)
    target = f"{colony.colony_mesh_address}:{colony.colony_grpc_port}"
    return AgentLink(mode, target, creds, CLIENT_OPTIONS)


def resolve_endpoint(endpoint: str) -> str:
    """HOST:PORT with HOST resolved to an IP (WireGuard takes addresses only)."""
    host, _, port = endpoint.rpartition(":")
    try:
        info = socket.getaddrinfo(host, int(port), type=socket.SOCK_DGRAM)
    except (OSError, ValueError) as exc:
        raise TunnelError(f"cannot resolve the colony endpoint {endpoint}: {exc}") from None
    address = str(info[0][4][0])
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def bring_up_tunnel(state: AgentMeshState, mode: TunnelMode, interface: str, port: int) -> Tunnel:
    """The agent's tunnel, up, with the colony as its one peer."""
    assert state.colony is not None and state.mesh_address is not None
    colony = state.colony
    tunnel = make_tunnel(mode, interface)
    tunnel.up(state.wg_private_key, state.mesh_address, state.mesh_prefix_len, port)
    try:
        tunnel.set_peer(
            PeerConfig(
                colony.colony_wg_public_key,
                (f"{colony.colony_mesh_address}/32",),
                resolve_endpoint(colony.colony_wg_endpoints[0]),
                KEEPALIVE_S,
            )
        )
    except TunnelError:
        tunnel.down()
        raise
    return tunnel
