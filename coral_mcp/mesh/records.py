"""Discovery records: mesh id -> colony key and endpoints, signed by the colony.

A record is canonical JSON bytes plus an Ed25519 signature. The discovery service
checks the signature against the key inside the record (so nobody can overwrite a
colony's record with another key while it is live); an agent checks it against the
key its token pinned (so the service itself cannot forge one).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from coral_mcp.errors import ProtocolError


@dataclass(frozen=True, slots=True)
class ColonyRecord:
    mesh_id: str
    #: Ed25519 public key, base64url.
    colony_key: str
    #: Join endpoints, HOST:PORT.
    endpoints: tuple[str, ...]
    last_seen_ms: int
    expires_ms: int

    def to_bytes(self) -> bytes:
        doc = {
            "mesh_id": self.mesh_id,
            "colony_key": self.colony_key,
            "endpoints": list(self.endpoints),
            "last_seen_ms": self.last_seen_ms,
            "expires_ms": self.expires_ms,
        }
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> ColonyRecord:
        try:
            doc = json.loads(data)
            return cls(
                str(doc["mesh_id"]),
                str(doc["colony_key"]),
                tuple(str(e) for e in doc["endpoints"]),
                int(doc["last_seen_ms"]),
                int(doc["expires_ms"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ProtocolError(f"malformed discovery record: {exc}") from None
