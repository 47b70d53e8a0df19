"""The colony's ingest service: what the gRPC servicer delivers goes to storage here.

Keeps, per agent, the committed sequence number and whether a stream is open, so the
servicer can acknowledge without a database read and `colony status` can say which
agents are online, stale or offline.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from coral_mcp.colony.router import QueryRouter
from coral_mcp.errors import QueryError
from coral_mcp.models import (
    DetailQuery,
    EventBatch,
    QueryReply,
    ServiceBatch,
    ServiceState,
    SummaryWindow,
)
from coral_mcp.models.messages import DataBody
from coral_mcp.models.timerange import rfc3339
from coral_mcp.storage.ops import (
    RegisterAgent,
    SkipMessage,
    StoreEvents,
    StoreServices,
    StoreSummaries,
    WriteOp,
)
from coral_mcp.storage.store import ColonyStore
from coral_mcp.storage.writer import Writer

logger = logging.getLogger(__name__)

#: Ingestion rates are averaged over this many seconds.
RATE_WINDOW_S = 60.0
#: Unchanged service state is written again after this many seconds (keeps it fresh).
SERVICES_REFRESH_S = 60.0


class AgentState(StrEnum):
    ONLINE = "online"  # stream open, heard from within stale_after_s
    STALE = "stale"  # silent past stale_after_s, or its stream just closed
    OFFLINE = "offline"  # silent past offline_after_s, or no stream and silent


@dataclass(slots=True)
class AgentSession:
    agent_id: str
    committed_seq: int
    last_seen_s: float
    peer: str
    streams: int = 0
    send_query: Callable[[DetailQuery], None] | None = None


class Ingest:
    """Implements rpc.colony_servicer.IngestSink over the store and its writer."""

    def __init__(
        self,
        store: ColonyStore,
        writer: Writer,
        stale_after_s: float,
        offline_after_s: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._writer = writer
        self._stale_after_s = stale_after_s
        self.offline_after_s = offline_after_s or stale_after_s * 4
        self._recent: deque[tuple[float, int]] = deque()  # (time, series points) per message
        self._recent_points = 0  # the sum of the points in _recent
        self._clock = clock
        self._sessions: dict[str, AgentSession] = {}
        self._router = QueryRouter(clock)
        self._services_written: dict[str, tuple[int, float]] = {}  # fingerprint, when

    @property
    def storage_failing(self) -> str | None:
        """Why writes fail right now ("no space"), or None."""
        return self._writer.failing

    def health(self) -> str | None:
        """What is wrong with ingestion, for /healthz; None when all is well."""
        failing = self._writer.failing
        return None if failing is None else f"storage failing: {failing}"

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    async def register(
        self,
        agent_id: str,
        hostname: str,
        agent_version: str,
        protocol_version: int,
        peer: str,
        services: tuple[ServiceState, ...],
    ) -> int:
        await self._writer.write(
            RegisterAgent(
                agent_id, hostname, agent_version, protocol_version, peer, services, self._now_ms()
            )
        )
        committed = await asyncio.to_thread(self._store.committed_seq, agent_id)
        session = self._sessions.get(agent_id)
        if session is None:
            self._sessions[agent_id] = AgentSession(agent_id, committed, self._clock(), peer)
        else:
            session.committed_seq = max(session.committed_seq, committed)
            session.last_seen_s = self._clock()
            session.peer = peer
        return self._sessions[agent_id].committed_seq

    def connected(
        self, agent_id: str, peer: str, send_query: Callable[[DetailQuery], None]
    ) -> int | None:
        session = self._sessions.get(agent_id)
        if session is None:
            return None
        session.streams += 1
        session.send_query = send_query
        session.peer = peer
        session.last_seen_s = self._clock()
        logger.info("agent %s connected from %s", agent_id, peer)
        return session.committed_seq

    def disconnected(self, agent_id: str) -> None:
        session = self._sessions.get(agent_id)
        if session is not None:
            session.streams = max(0, session.streams - 1)
            if session.streams == 0:
                session.send_query = None
                self._router.fail_agent(agent_id)
            logger.info("agent %s disconnected", agent_id)

    def committed(self, agent_id: str) -> int:
        session = self._sessions.get(agent_id)
        return 0 if session is None else session.committed_seq

    def heartbeat(self, agent_id: str) -> None:
        session = self._sessions.get(agent_id)
        if session is not None:
            session.last_seen_s = self._clock()

    def ingest(self, agent_id: str, seq: int, body: DataBody) -> asyncio.Future[None]:
        op: WriteOp
        match body:
            case SummaryWindow():
                op, points = StoreSummaries(agent_id, seq, body), len(body.summaries)
            case ServiceBatch() if self._services_unchanged(agent_id, body):
                op, points = SkipMessage(agent_id, seq, body.observed_ms), 0
            case ServiceBatch():
                op, points = StoreServices(agent_id, seq, body), 0
            case EventBatch():
                op, points = StoreEvents(agent_id, seq, body, self._now_ms()), 0
        return self._queue(agent_id, seq, op, points)

    def _services_unchanged(self, agent_id: str, batch: ServiceBatch) -> bool:
        """True when the agent's services look as last written, written recently.

        Most pushes repeat the same processes, sockets and peers: those are not written
        again, only refreshed every SERVICES_REFRESH_S (connection counts with them).
        """
        fingerprint = hash(
            tuple(
                (s.name, s.spec, s.pids, s.listen, tuple(p.remote for p in s.peers))
                for s in batch.services
            )
        )
        now = self._clock()
        previous = self._services_written.get(agent_id)
        if previous and previous[0] == fingerprint and now - previous[1] < SERVICES_REFRESH_S:
            return True
        self._services_written[agent_id] = (fingerprint, now)
        return False

    def reject(self, agent_id: str, seq: int, reason: str) -> asyncio.Future[None]:
        return self._queue(agent_id, seq, SkipMessage(agent_id, seq, self._now_ms()), 0)

    def _queue(self, agent_id: str, seq: int, op: WriteOp, points: int) -> asyncio.Future[None]:
        """Queue `op` behind the agent's earlier messages (a chain of the writer's); once
        stored, its sequence is committed and its points counted."""
        stored = self._writer.submit(op, chain=agent_id)

        def done(future: asyncio.Future[None]) -> None:
            if not future.cancelled() and future.exception() is None:
                session = self._sessions[agent_id]
                session.committed_seq = max(session.committed_seq, seq)
                self._count(points)

        stored.add_done_callback(done)
        return stored

    def reply(self, agent_id: str, reply: QueryReply) -> None:
        self._router.resolve(agent_id, reply)

    async def query_agent(self, agent_id: str, query: DetailQuery, timeout_s: float) -> QueryReply:
        """Ask `agent_id` for detail; QueryError when it is offline or too slow."""
        session = self._sessions.get(agent_id)
        if session is None or session.send_query is None:
            since = (
                f" since {rfc3339(datetime.fromtimestamp(session.last_seen_s, UTC))}"
                if session
                else ""
            )
            raise QueryError(
                f"agent {agent_id} is offline{since}",
                hint="its raw detail is only on its host; summaries stored here still answer",
            )
        return await self._router.ask(agent_id, session.send_query, query, timeout_s)

    def _count(self, points: int) -> None:
        self._recent.append((self._clock(), points))
        self._recent_points += points
        self._forget_old()

    def _forget_old(self) -> None:
        since = self._clock() - RATE_WINDOW_S
        while self._recent and self._recent[0][0] < since:
            self._recent_points -= self._recent.popleft()[1]

    def rates(self) -> tuple[float, float]:
        """(messages/s, series points/s) over the last RATE_WINDOW_S seconds: running
        sums, not a walk over every message of the window (~8,000 at 1,000 agents) on
        the event loop at each colony_status."""
        self._forget_old()
        return len(self._recent) / RATE_WINDOW_S, self._recent_points / RATE_WINDOW_S

    def state(self, agent_id: str) -> AgentState:
        session = self._sessions.get(agent_id)
        if session is None:
            return AgentState.OFFLINE
        silent_s = self._clock() - session.last_seen_s
        if session.streams and silent_s <= self._stale_after_s:
            return AgentState.ONLINE
        if silent_s > self.offline_after_s or (
            not session.streams and silent_s > self._stale_after_s
        ):
            return AgentState.OFFLINE
        return AgentState.STALE

    def last_seen_s(self, agent_id: str) -> float | None:
        session = self._sessions.get(agent_id)
        return None if session is None else session.last_seen_s
