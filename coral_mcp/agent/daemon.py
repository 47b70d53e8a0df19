"""The agent daemon: sample every `interval_s`, keep raw samples, push summaries.

Composition root of the agent: wires collectors, the ring store, the summarizer and
the stream client together. Sampling runs in a worker thread (psutil blocks); the
stream runs on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import time
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING

import psutil

from coral_mcp import PROTOCOL_VERSION, __version__
from coral_mcp.agent.detail import DetailAnswerer
from coral_mcp.agent.footprint import release_free_memory, settle_heap
from coral_mcp.agent.identity import AgentIdentity
from coral_mcp.agent.ring_store import RingStore
from coral_mcp.agent.sensing import Sensor
from coral_mcp.agent.summarize import SeriesKey, drop_unchanged, summarize
from coral_mcp.config import AgentSettings
from coral_mcp.datadir import ensure_data_dir, read_token_file
from coral_mcp.mesh.agent_state import AgentMeshState
from coral_mcp.models import DetailQuery, EventBatch, QueryReply, Sample, ServiceBatch
from coral_mcp.models.metrics import REFRESH_WINDOWS
from coral_mcp.rpc.agent_stream import AgentStream, Registration

if TYPE_CHECKING:  # the mesh link is imported only by agents that joined one
    import ssl

    from coral_mcp.mesh.agent_link import AgentLink
    from coral_mcp.mesh.tunnel import Tunnel

logger = logging.getLogger(__name__)

RING_FILE = "ring.sqlite"
#: A steady series, or an unchanged service list, is sent at least once per this many
#: pushes (20 x 15 s: every 5 minutes).
REFRESH_PUSHES = REFRESH_WINDOWS


class AgentDaemon:
    def __init__(
        self,
        settings: AgentSettings,
        *,
        ps: ModuleType = psutil,
        clock: Callable[[], float] = time.time,
        hostname: str | None = None,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self.hostname = hostname or socket.gethostname()
        data_dir = ensure_data_dir(settings.data_dir)
        self.identity = AgentIdentity.load_or_create(data_dir, self.hostname)
        self.ring = RingStore(
            data_dir / RING_FILE, settings.ring_max_age_s, settings.ring_max_bytes
        )
        self.sensor = Sensor(settings, ps=ps, clock=clock, own_pids=frozenset({os.getpid()}))
        self.mesh_state = AgentMeshState.load(data_dir)
        self.link: AgentLink | None = None
        target: str = settings.colony
        ssl_context: ssl.SSLContext | None = None
        server_name: str | None = None
        token: Callable[[], str | None] | None = None
        if self.mesh_state is not None and self.mesh_state.joined:
            from coral_mcp.mesh.agent_link import plan_link  # noqa: PLC0415

            self.link = plan_link(self.mesh_state, settings.tunnel_mode)
            target, ssl_context = self.link.target, self.link.ssl_context
            server_name = self.link.server_name
        else:
            # Read at each connection: an agent started before its colony (`coral up`,
            # a boot order) finds the token once the colony has written it.
            token = functools.partial(read_token_file, settings.token_file)
        self.latest = ServiceBatch(observed_ms=0, services=())
        self.stream = AgentStream(
            target,
            self._registration,
            first_seq=self.identity.next_seq,
            on_seq=self.identity.advance,
            max_pending=settings.max_pending_messages,
            heartbeat_s=settings.heartbeat_s,
            on_query=self._answer_query,
            ssl_context=ssl_context,
            server_name=server_name,
            backlog=self.ring,
            token=token,
        )
        self._detail = DetailAnswerer(self.ring, lambda: self.latest, ps=ps)
        # The next window starts where the last pushed one ended (before a restart
        # too), unless that is older than the raw samples kept.
        last_end = self.ring.last_push_end_s
        now = clock()
        fresh = last_end is not None and now - settings.ring_max_age_s < last_end <= now
        self._last_push_s = last_end if fresh and last_end is not None else now
        # The samples of the window being filled, kept in memory for the next push (the
        # ring store is written, not read back): those stored before a restart first.
        self._window: list[Sample] = self.ring.read(self._last_push_s, now) if fresh else []
        self._last_sent: dict[SeriesKey, tuple[float, int]] = {}
        self._services_sent: tuple[object, int] | None = None
        #: Bytes of summaries and service lists queued for the colony (protobuf size).
        self.pushed_bytes = 0

    @property
    def stream_target(self) -> str:
        if self.link is None:
            return self.settings.colony
        return f"{self.link.target} (mesh, {self.link.mode})"

    @property
    def agent_id(self) -> str:
        return self.identity.agent_id

    def _registration(self) -> Registration:
        return Registration(
            agent_id=self.identity.agent_id,
            hostname=self.hostname,
            agent_version=__version__,
            protocol_version=PROTOCOL_VERSION,
            services=self.latest.services,
        )

    async def _answer_query(self, query: DetailQuery) -> QueryReply:
        remaining_s = query.deadline_ms / 1000 - self._clock() if query.deadline_ms else 10.0
        if remaining_s <= 0:
            return QueryReply(query.query_id, error="deadline passed before the agent got it")
        async with asyncio.timeout(remaining_s):
            return await asyncio.to_thread(self._detail.answer, query)

    def sample_once(self) -> ServiceBatch:
        """Look at the host once: store the raw samples, send the events at once."""
        observation = self.sensor.observe()
        self.ring.append(observation.samples)
        self._window += observation.samples
        if observation.events:
            self.ring.append_events(observation.events)
            self.stream.submit(EventBatch(observation.events))
            for event in observation.events:
                logger.info("event %s %s: %s", event.service, event.kind, event.message)
        self.latest = observation.batch
        release_free_memory()
        return self.latest

    def push_once(self) -> None:
        """Summarize samples since the last push and queue them (and changed services)."""
        end_s = self._clock()
        start_s, self._last_push_s = self._last_push_s, end_s
        taken, self._window = self._window, []
        in_window = [s for s in taken if start_s <= s.ts_s < end_s]
        if len(in_window) < len(taken):  # a sample stamped after this push: the next one's
            self._window = [s for s in taken if s.ts_s >= end_s]
        window = summarize(in_window, int(start_s * 1000), int(end_s * 1000))
        window, self._last_sent = drop_unchanged(window, self._last_sent, REFRESH_PUSHES)
        queued = self.stream.queued_bytes
        if window.summaries:
            self.stream.submit(window)
        services = self.latest.services
        if (
            self._services_sent is None
            or self._services_sent[0] != services
            or (self._services_sent[1] + 1 >= REFRESH_PUSHES)
        ):
            self.stream.submit(self.latest)
            self._services_sent = (services, 0)
        else:
            self._services_sent = (services, self._services_sent[1] + 1)
        self.pushed_bytes += self.stream.queued_bytes - queued
        self.ring.last_push_end_s = end_s
        self.ring.evict(end_s)
        release_free_memory()

    async def run(self, stop: asyncio.Event) -> None:
        s, state, link = self.settings, self.mesh_state, self.link
        tunnel: Tunnel | None = None
        if link is not None and state is not None and link.mode != "none":
            from coral_mcp.mesh.agent_link import bring_up_tunnel  # noqa: PLC0415

            tunnel = await asyncio.to_thread(
                bring_up_tunnel, state, link.mode, s.wg_interface, s.wg_port
            )
        try:
            await self._run(stop)
        finally:
            if tunnel is not None:
                await asyncio.to_thread(tunnel.down)

    async def _run(self, stop: asyncio.Event) -> None:
        logger.info(
            "agent %s watching %s; colony %s",
            self.agent_id,
            ", ".join(f"{s.name}={s}" for s in self.settings.services)
            or "auto-discovered services",
            self.stream_target,
        )
        await asyncio.to_thread(self.sample_once)
        self.push_once()  # the colony learns the services at once, not a push later
        settle_heap()
        stream = asyncio.create_task(self.stream.run(stop), name="agent-stream")
        try:
            await self._loop(stop)
        finally:
            await stream
            self.ring.close()

    async def _loop(self, stop: asyncio.Event) -> None:
        next_sample = self._clock() + self.settings.interval_s
        next_push = self._clock() + self.settings.push_s
        while not stop.is_set():
            now = self._clock()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    stop.wait(), timeout=max(0.0, min(next_sample, next_push) - now)
                )
            if stop.is_set():
                break
            try:
                if self._clock() >= next_sample:
                    next_sample = _next_tick(next_sample, self.settings.interval_s, self._clock())
                    await asyncio.to_thread(self.sample_once)
                if self._clock() >= next_push:
                    next_push = _next_tick(next_push, self.settings.push_s, self._clock())
                    self.push_once()
            except Exception:
                logger.exception("agent cycle failed; continuing")


def _next_tick(previous: float, period: float, now: float) -> float:
    """The next deadline on the period's grid, skipping ticks missed while busy."""
    following = previous + period
    return following if following > now else now + period
