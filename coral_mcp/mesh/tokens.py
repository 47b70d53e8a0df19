"""Join tokens: what an agent needs to join one colony, in one copy-pasteable string.

A token names the colony's endpoints, the mesh id, the colony's Ed25519 public key
(pinned: the agent talks only to whoever proves it) and a secret. The colony keeps
only the SHA-256 of the secret (secrets are 32 random bytes: a fast hash is enough).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass

from coral_mcp.errors import ConfigError
from coral_mcp.mesh.keys import b64url, unb64url

PREFIX = "coral1."
_TTL = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True, slots=True)
class JoinToken:
    token_id: str
    secret: str
    mesh_id: str
    #: The colony's Ed25519 public key, raw 32 bytes.
    colony_key: bytes
    #: Colony join endpoints, HOST:PORT; may be empty (then discovery finds the colony).
    endpoints: tuple[str, ...]

    @classmethod
    def new(cls, mesh_id: str, colony_key: bytes, endpoints: tuple[str, ...]) -> JoinToken:
        return cls(
            secrets.token_hex(6), b64url(secrets.token_bytes(32)), mesh_id, colony_key, endpoints
        )

    def encode(self) -> str:
        doc = {
            "id": self.token_id,
            "s": self.secret,
            "m": self.mesh_id,
            "k": b64url(self.colony_key),
            "e": list(self.endpoints),
        }
        return PREFIX + b64url(json.dumps(doc, separators=(",", ":")).encode())

    @classmethod
    def decode(cls, text: str) -> JoinToken:
        bad = ConfigError(
            "the join token is malformed",
            hint="copy the whole token printed by `coral colony token create`",
        )
        text = text.strip()
        if not text.startswith(PREFIX):
            raise bad
        try:
            doc = json.loads(unb64url(text[len(PREFIX) :]))
            token = cls(
                str(doc["id"]),
                str(doc["s"]),
                str(doc["m"]),
                unb64url(str(doc["k"])),
                tuple(str(e) for e in doc["e"]),
            )
        except (ValueError, KeyError, TypeError):
            raise bad from None
        if len(token.colony_key) != 32:
            raise bad
        return token


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_ttl(text: str) -> float:
    """Seconds in a duration such as 90s, 15m, 1h, 7d."""
    match = _TTL.match(text.strip())
    if match is None or float(match.group(1)) <= 0:
        raise ConfigError(f"invalid duration {text!r}", hint="use e.g. 30m, 1h or 7d")
    return float(match.group(1)) * _UNIT_S[match.group(2)]
