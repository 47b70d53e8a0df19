"""Who may call the colony's gRPC service, beyond what the mesh proves.

A caller with a client certificate (the mutual-TLS ports) is judged by the mesh. A
caller without one came in on the plain gRPC port, which listens on loopback (or, for a
colony without a mesh, wherever `--grpc-host` says): it must show the colony's token
(`authorization: Bearer <token>`, the token in the colony's data dir, 0600), so only the
colony's own user (and root) can speak for an agent there, not every local process. A
joined agent never speaks over the plain port: it has its certificate.
"""

from __future__ import annotations

import grpc

from coral_mcp.colony.auth import compare_digest
from coral_mcp.mesh.tls import client_cert_name
from coral_mcp.rpc.colony_servicer import Authorizer

#: gRPC metadata key of the token (lower case, as gRPC requires).
TOKEN_METADATA = "authorization"


class ColonyAuthorizer:
    """Implements rpc.colony_servicer.Authorizer: the token on the plain port, the
    mesh (certificates) everywhere else."""

    def __init__(self, token: str | None, mesh: Authorizer | None) -> None:
        self._expected = None if token is None else f"Bearer {token}".encode()
        self._mesh = mesh

    def check(self, context: grpc.aio.ServicerContext[object, object], agent_id: str) -> str | None:
        if self._expected is not None and client_cert_name(context) is None:
            given = dict(context.invocation_metadata() or ()).get(TOKEN_METADATA, "")
            raw = given.encode() if isinstance(given, str) else bytes(given)
            if not compare_digest(raw, self._expected):
                return (
                    "missing or wrong colony token: a local agent reads it from the colony's"
                    " data dir (mcp.token); see --colony-token-file"
                )
        return None if self._mesh is None else self._mesh.check(context, agent_id)

    def revoked(self, agent_id: str) -> bool:
        return self._mesh is not None and self._mesh.revoked(agent_id)
