"""The agent's mesh identity: its keys, its mesh address and the colony it pinned.

Kept in `mesh-identity.json` (0600) under the agent's data dir and written atomically.
Keys are made once, saved *before* the join is attempted, and never regenerated: an
agent that crashes mid-join re-joins with the same keys (and the colony, seeing the
same keys and token again, answers with the same address). This module only reads
and writes JSON, so the lean agent process can load it without a crypto library.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from coral_mcp.errors import DataDirError
from coral_mcp.mesh.files import read_json, write_private_json

STATE_FILE = "mesh-identity.json"


@dataclass(frozen=True, slots=True)
class ColonyPin:
    """What a join taught the agent about its colony."""

    mesh_id: str
    #: The colony's Ed25519 public key (base64url), pinned for every later contact.
    colony_key: str
    colony_cert_pem: str
    colony_mesh_address: str
    colony_wg_public_key: str
    colony_wg_endpoints: tuple[str, ...]
    colony_grpc_port: int
    colony_tls_endpoints: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AgentMeshState:
    agent_id: str
    wg_private_key: str
    wg_public_key: str
    tls_key_pem: str
    #: The TLS public key, SubjectPublicKeyInfo DER, hex.
    tls_public_key: str
    #: Set once joined.
    mesh_address: str | None = None
    mesh_prefix_len: int = 0
    agent_cert_pem: str | None = None
    colony: ColonyPin | None = None

    @property
    def joined(self) -> bool:
        return self.colony is not None and self.mesh_address is not None

    def with_join(
        self, mesh_address: str, prefix_len: int, agent_cert_pem: str, colony: ColonyPin
    ) -> AgentMeshState:
        return replace(
            self,
            mesh_address=mesh_address,
            mesh_prefix_len=prefix_len,
            agent_cert_pem=agent_cert_pem,
            colony=colony,
        )

    def save(self, data_dir: Path) -> None:
        write_private_json(data_dir / STATE_FILE, asdict(self))

    @classmethod
    def load(cls, data_dir: Path) -> AgentMeshState | None:
        path = data_dir / STATE_FILE
        raw = read_json(path, "agent mesh identity")
        if raw is None:
            return None
        try:
            colony: dict[str, Any] | None = raw.pop("colony")
            pin = None
            if colony is not None:
                colony["colony_wg_endpoints"] = tuple(colony["colony_wg_endpoints"])
                colony["colony_tls_endpoints"] = tuple(colony["colony_tls_endpoints"])
                pin = ColonyPin(**colony)
            return cls(**raw, colony=pin)
        except (KeyError, TypeError) as exc:
            raise DataDirError(
                f"the agent mesh identity {path} is damaged: {exc}",
                hint="restore it, or remove it and join again with a new token",
            ) from None
