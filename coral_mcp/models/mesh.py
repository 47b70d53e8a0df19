"""What the mesh's Join and Discovery services carry, free of any wire format.

`rpc/mesh.py` turns these into protobuf and back; `mesh/` and `discovery/` only ever
see these values.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class JoinRequestInfo:
    """An agent asking to join: the token it proves and the keys it brings."""

    token_id: str
    secret: str
    agent_id: str
    hostname: str
    #: The agent's WireGuard public key (base64, 32 bytes).
    wg_public_key: str
    #: The agent's TLS public key (SubjectPublicKeyInfo, DER).
    tls_public_key: bytes


@dataclass(frozen=True, slots=True)
class JoinGrant:
    """What the colony tells an agent it admitted."""

    mesh_id: str
    #: The agent's mesh address (stable across re-joins with the same key).
    mesh_address: str
    #: The mesh subnet, CIDR.
    mesh_subnet: str
    colony_mesh_address: str
    colony_wg_public_key: str
    #: Where the colony's WireGuard listens, HOST:PORT.
    colony_wg_endpoints: tuple[str, ...]
    #: The colony's gRPC port on its mesh address.
    colony_grpc_port: int
    #: The agent's client certificate (PEM), issued by the colony's TLS key.
    agent_certificate: bytes
    #: Where the colony's pinned-TLS gRPC listens, HOST:PORT.
    colony_tls_endpoints: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SignedRecord:
    """A discovery record's canonical bytes and the colony's Ed25519 signature of them."""

    record: bytes
    signature: bytes
