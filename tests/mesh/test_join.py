"""Joining over the pinned TLS channel: what is accepted, and what is refused and why."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

from coral_mcp.mesh.agent_state import AgentMeshState
from coral_mcp.mesh.errors import JoinRefusedError, PinMismatchError
from coral_mcp.mesh.join import ensure_joined, join, new_state
from coral_mcp.mesh.tokens import JoinToken
from tests.mesh.colony_side import make_identity, mesh_colony


def _join(state: AgentMeshState, token: JoinToken) -> AgentMeshState:
    return join(state, token, "host", None)


def test_an_agent_joins_and_rejoining_with_its_keys_keeps_its_address(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with mesh_colony(tmp_path / "colony") as colony:
            token = colony.token()
            state = new_state("agent-a")
            joined = await asyncio.to_thread(_join, state, token)
            assert joined.mesh_address == "100.96.0.2"
            assert joined.colony is not None
            assert joined.colony.colony_wg_public_key == colony.identity.wg_public_key
            # A crash before the answer was saved: the same keys and token get the same answer.
            again = await asyncio.to_thread(_join, state, token)
            assert again.mesh_address == joined.mesh_address
            assert [p.agent_id for p in colony.registry.peers()] == ["agent-a"]
            assert colony.registry.tokens()[0].uses == 1

    asyncio.run(scenario())


def test_ensure_joined_saves_keys_before_joining_and_never_remakes_them(tmp_path: Path) -> None:
    agent_dir = tmp_path / "agent"
    agent_dir.mkdir()

    async def scenario() -> None:
        async with mesh_colony(tmp_path / "colony") as colony:
            token = colony.token(endpoint="127.0.0.1:1")  # nobody answers there
            with pytest.raises(Exception, match="no colony"):
                await asyncio.to_thread(
                    ensure_joined, agent_dir, "agent-a", "host", token.encode(), None
                )
            pending = AgentMeshState.load(agent_dir)
            assert pending is not None and not pending.joined
            good = colony.token()
            joined = await asyncio.to_thread(
                ensure_joined, agent_dir, "agent-a", "host", good.encode(), None
            )
            assert joined is not None and joined.wg_public_key == pending.wg_public_key
            assert oct((agent_dir / "mesh-identity.json").stat().st_mode & 0o777) == "0o600"
            # Joined: no token needed any more, and the keys stay.
            later = await asyncio.to_thread(ensure_joined, agent_dir, "agent-a", "host", None, None)
            assert later == joined

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("wrong secret", "wrong secret"),
        ("expired", "has expired"),
        ("used up", "is used up"),
        ("revoked token", "is revoked"),
    ],
)
def test_a_bad_token_is_refused_with_the_reason_logged_and_nothing_stored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, case: str, reason: str
) -> None:
    async def scenario() -> None:
        async with mesh_colony(tmp_path / "colony") as colony:
            token = colony.token(ttl_s=0.001 if case == "expired" else 3600)
            if case == "wrong secret":
                token = JoinToken(
                    token.token_id,
                    "not-the-secret",
                    token.mesh_id,
                    token.colony_key,
                    token.endpoints,
                )
            if case == "used up":
                await asyncio.to_thread(_join, new_state("first"), token)
            if case == "revoked token":
                colony.registry.revoke_token(token.token_id)
            stored = colony.registry.peers()
            with caplog.at_level(logging.WARNING), pytest.raises(JoinRefusedError, match=reason):
                await asyncio.to_thread(_join, new_state("agent-b"), token)
            assert colony.registry.peers() == stored
            assert any(reason in r.getMessage() for r in caplog.records), caplog.text

    asyncio.run(scenario())


def test_a_revoked_agent_cannot_join_again(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with mesh_colony(tmp_path / "colony") as colony:
            token = colony.token()
            state = new_state("agent-a")
            await asyncio.to_thread(_join, state, token)
            colony.registry.revoke_agent("agent-a", int(time.time() * 1000))
            with pytest.raises(JoinRefusedError, match="agent 'agent-a' is revoked"):
                await asyncio.to_thread(_join, state, token)

    asyncio.run(scenario())


def test_a_colony_without_the_pinned_key_is_refused_before_any_secret_is_sent(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        async with mesh_colony(tmp_path / "impostor") as impostor:
            real = make_identity()
            token = JoinToken.new(real.mesh_id, real.colony_key, (impostor.join_endpoint,))
            with (
                caplog.at_level(logging.INFO),
                pytest.raises(PinMismatchError, match="not signed by the pinned key"),
            ):
                await asyncio.to_thread(_join, new_state("agent-a"), token)
            assert not any("join refused" in r.getMessage() for r in caplog.records)
            assert impostor.registry.peers() == []

    asyncio.run(scenario())
