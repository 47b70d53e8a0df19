"""How a joined agent reaches its colony: through its tunnel, or over mutual TLS.

Loaded by the lean agent process: no crypto library and no grpcio here. The agent's
gRPC client (grpclib) speaks TLS through Python's `ssl`, loaded only by joined agents;
the tunnel is configured with keys already made at join time.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
from dataclasses import dataclass
from typing import TYPE_CHECKING

from coral_mcp.config import TunnelMode
from coral_mcp.mesh.agent_state import AgentMeshState
from coral_mcp.mesh.errors import TunnelError
from coral_mcp.mesh.keys_names import COLONY_TLS_NAME
from coral_mcp.mesh.tunnel import PeerConfig, Tunnel, choose_mode, make_tunnel

if TYPE_CHECKING:
    import ssl

logger = logging.getLogger(__name__)

#: Seconds between keepalives toward the colony: keeps NAT mappings open.
KEEPALIVE_S = 5


@dataclass(frozen=True, slots=True)
class AgentLink:
    mode: TunnelMode
    target: str
    #: Trusts the colony's certificate alone and shows the agent's own.
    ssl_context: ssl.SSLContext
    #: The name in the colony's certificate (not its address).
    server_name: str = COLONY_TLS_NAME


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
    context = client_ssl_context(colony.colony_cert_pem, state.tls_key_pem, state.agent_cert_pem)
    if mode == "none":
        if not colony.colony_tls_endpoints:
            raise TunnelError("the colony named no TLS endpoint at join time")
        return AgentLink(mode, colony.colony_tls_endpoints[0], context)
    target = f"{colony.colony_mesh_address}:{colony.colony_grpc_port}"
    return AgentLink(mode, target, context)


def client_ssl_context(colony_cert_pem: str, key_pem: str, cert_pem: str) -> ssl.SSLContext:
    """TLS 1.2+ trusting exactly the colony's certificate (for its fixed name), showing
    the agent's certificate, offering HTTP/2 (gRPC) by ALPN."""
    import ssl  # noqa: PLC0415 - only joined agents load OpenSSL

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the peer and its name
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_verify_locations(cadata=colony_cert_pem)
    context.set_alpn_protocols(["h2"])
    # `load_cert_chain` reads files only: the key passes through a private temporary
    # directory (0700) for the moment it takes.
    with tempfile.TemporaryDirectory(prefix="coral-tls-") as folder:
        path = os.path.join(folder, "agent.pem")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(key_pem + "\n" + cert_pem)
        context.load_cert_chain(path)
    return context


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
