"""The colony's mesh registry (SQLite under the data dir): tokens and joined agents.

Shared by the colony daemon (redeems tokens, reads peers) and the CLI (creates and
revokes tokens, revokes agents): each change is one short transaction. Only hashes of
token secrets are stored. Addresses are allocated lowest-free in the mesh subnet and
never change for an agent: a re-join with the same key gets the same address.
"""

from __future__ import annotations

import hmac
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from ipaddress import IPv4Network
from pathlib import Path

from coral_mcp.errors import QueryError, StorageError
from coral_mcp.mesh.errors import JoinRefusedError
from coral_mcp.mesh.keys import MESH_DIR
from coral_mcp.mesh.tokens import secret_hash
from coral_mcp.models.mesh import JoinRequestInfo

REGISTRY_FILE = "registry.sqlite"

SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    uses_left INTEGER NOT NULL,
    uses INTEGER NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS peers (
    agent_id TEXT PRIMARY KEY,
    hostname TEXT NOT NULL,
    wg_public_key TEXT NOT NULL UNIQUE,
    tls_public_key BLOB NOT NULL,
    address TEXT NOT NULL UNIQUE,
    token_id TEXT NOT NULL,
    joined_ms INTEGER NOT NULL,
    revoked_ms INTEGER
);
"""
INSERT_TOKEN = "INSERT INTO tokens VALUES (?, ?, ?, ?, ?, 0, 0)"
SELECT_TOKENS = (
    "SELECT id, created_ms, expires_ms, uses_left, uses, revoked FROM tokens ORDER BY created_ms"
)
SELECT_TOKEN = "SELECT secret_hash, expires_ms, uses_left, revoked FROM tokens WHERE id = ?"
REVOKE_TOKEN = "UPDATE tokens SET revoked = 1 WHERE id = ?"
USE_TOKEN = "UPDATE tokens SET uses_left = uses_left - 1, uses = uses + 1 WHERE id = ?"
PEER_COLUMNS = (
    "agent_id, hostname, wg_public_key, tls_public_key, address, token_id, joined_ms, revoked_ms"
)
SELECT_PEERS = f"SELECT {PEER_COLUMNS} FROM peers ORDER BY address"
SELECT_PEER = f"SELECT {PEER_COLUMNS} FROM peers WHERE agent_id = ?"
SELECT_PEER_BY_KEY = f"SELECT {PEER_COLUMNS} FROM peers WHERE wg_public_key = ?"
INSERT_PEER = "INSERT INTO peers VALUES (?, ?, ?, ?, ?, ?, ?, NULL)"
REVOKE_PEER = "UPDATE peers SET revoked_ms = ? WHERE agent_id = ? AND revoked_ms IS NULL"


@dataclass(frozen=True, slots=True)
class TokenInfo:
    token_id: str
    created_ms: int
    expires_ms: int
    uses_left: int
    uses: int
    revoked: bool

    def state(self, now_ms: int) -> str:
        if self.revoked:
            return "revoked"
        if self.expires_ms <= now_ms:
            return "expired"
        return "used up" if self.uses_left <= 0 else "valid"


@dataclass(frozen=True, slots=True)
class Peer:
    agent_id: str
    hostname: str
    wg_public_key: str
    tls_public_key: bytes
    address: str
    token_id: str
    joined_ms: int
    revoked_ms: int | None

    @property
    def revoked(self) -> bool:
        return self.revoked_ms is not None


class MeshRegistry:
    def __init__(self, data_dir: Path, subnet: IPv4Network) -> None:
        self.path = data_dir / MESH_DIR / REGISTRY_FILE
        self._subnet = subnet
        #: One connection, used from the event loop and worker threads in turn.
        self._lock = threading.RLock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._db = sqlite3.connect(
                self.path, timeout=10, isolation_level=None, check_same_thread=False
            )
            self._db.executescript(SCHEMA)
            self.path.chmod(0o600)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open the mesh registry {self.path}: {exc}") from None

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def add_token(self, token_id: str, secret: str, now_ms: int, ttl_s: float, uses: int) -> None:
        with self._transaction() as db:
            db.execute(
                INSERT_TOKEN,
                (token_id, secret_hash(secret), now_ms, now_ms + int(ttl_s * 1000), uses),
            )

    def tokens(self) -> list[TokenInfo]:
        with self._lock:
            rows = self._db.execute(SELECT_TOKENS).fetchall()
        return [TokenInfo(r[0], r[1], r[2], r[3], r[4], bool(r[5])) for r in rows]

    def revoke_token(self, token_id: str) -> None:
        with self._transaction() as db:
            if db.execute(REVOKE_TOKEN, (token_id,)).rowcount == 0:
                raise QueryError(
                    f"no token {token_id!r}", hint="see `coral colony token list` for ids"
                )

    def peers(self) -> list[Peer]:
        with self._lock:
            return [Peer(*row) for row in self._db.execute(SELECT_PEERS)]

    def peer(self, agent_id: str) -> Peer | None:
        with self._lock:
            row = self._db.execute(SELECT_PEER, (agent_id,)).fetchone()
        return None if row is None else Peer(*row)

    def revoke_agent(self, agent_id: str, now_ms: int) -> None:
        with self._transaction() as db:
            if db.execute(REVOKE_PEER, (now_ms, agent_id)).rowcount == 0:
                raise QueryError(
                    f"no joined, unrevoked agent {agent_id!r}",
                    hint="see `coral mesh status` for joined agents",
                )

    def redeem(self, req: JoinRequestInfo, now_ms: int) -> Peer:
        """Check the token and record the agent; JoinRefusedError (with a reason) if not."""
        with self._transaction() as db:
            row = db.execute(SELECT_TOKEN, (req.token_id,)).fetchone()
            if row is None:
                raise JoinRefusedError(f"unknown token {req.token_id!r}")
            hashed, expires_ms, uses_left, revoked = row
            if not hmac.compare_digest(hashed, secret_hash(req.secret)):
                raise JoinRefusedError(f"wrong secret for token {req.token_id!r}")
            if revoked:
                raise JoinRefusedError(f"token {req.token_id!r} is revoked")
            known = db.execute(SELECT_PEER, (req.agent_id,)).fetchone()
            if known is not None:
                return self._rejoin(Peer(*known), req)
            if expires_ms <= now_ms:
                raise JoinRefusedError(f"token {req.token_id!r} has expired")
            if uses_left <= 0:
                raise JoinRefusedError(f"token {req.token_id!r} is used up")
            if db.execute(SELECT_PEER_BY_KEY, (req.wg_public_key,)).fetchone() is not None:
                raise JoinRefusedError("that WireGuard key already belongs to another agent")
            address = self._free_address(db)
            db.execute(USE_TOKEN, (req.token_id,))
            peer = Peer(
                req.agent_id,
                req.hostname,
                req.wg_public_key,
                req.tls_public_key,
                address,
                req.token_id,
                now_ms,
                None,
            )
            db.execute(
                INSERT_PEER,
                (
                    peer.agent_id,
                    peer.hostname,
                    peer.wg_public_key,
                    peer.tls_public_key,
                    peer.address,
                    peer.token_id,
                    peer.joined_ms,
                ),
            )
            return peer

    @staticmethod
    def _rejoin(peer: Peer, req: JoinRequestInfo) -> Peer:
        """The same agent again (e.g. it crashed before saving the answer): same address."""
        if peer.revoked:
            raise JoinRefusedError(f"agent {req.agent_id!r} is revoked")
        if peer.wg_public_key != req.wg_public_key or peer.tls_public_key != req.tls_public_key:
            raise JoinRefusedError(f"agent {req.agent_id!r} already joined with other keys")
        if peer.token_id != req.token_id:
            raise JoinRefusedError(f"agent {req.agent_id!r} joined with another token")
        return peer

    def _free_address(self, db: sqlite3.Connection) -> str:
        taken = {row[0] for row in db.execute("SELECT address FROM peers")}
        colony = self._subnet.network_address + 1
        for host in self._subnet.hosts():
            if host != colony and str(host) not in taken:
                return str(host)
        raise JoinRefusedError(f"the mesh subnet {self._subnet} is full")
