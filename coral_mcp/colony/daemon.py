"""The colony daemon: composition root of storage, ingestion, gRPC, HTTP and MCP.

`start()` binds everything (failing fast with a clear error when a port is taken or
the data dir is unusable), `close()` stops taking work, commits what is queued and
closes the store. `colony.json` in the data dir tells other processes where it listens.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import math
import os
import socket
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import grpc
import uvicorn
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio

from coral_mcp.colony.auth import load_or_create_token
from coral_mcp.colony.http_app import MCP_PATH, build_http_app
from coral_mcp.colony.ingest import Ingest
from coral_mcp.colony.intelligence import Intelligence
from coral_mcp.colony.queries import StoreQueries
from coral_mcp.colony.running import STATE_FILE, write_state
from coral_mcp.config import ColonySettings, is_loopback
from coral_mcp.datadir import ensure_data_dir
from coral_mcp.errors import AddressInUseError, ConfigError
from coral_mcp.mesh.colony_mesh import ColonyMesh, ColonyMeshOptions
from coral_mcp.mesh.keys import ColonyIdentity
from coral_mcp.mesh.registry import MeshRegistry
from coral_mcp.proto import coral_pb2_grpc as pb_grpc
from coral_mcp.rpc.colony_servicer import ColonyServicer
from coral_mcp.server import build_server
from coral_mcp.storage.retention import MaintenanceResult, Retention
from coral_mcp.storage.store import ColonyStore
from coral_mcp.storage.writer import Writer

logger = logging.getLogger(__name__)

#: Seconds between edge resolutions (when sockets changed).
EDGE_RESOLVE_INTERVAL_S = 1.0
#: Seconds between anomaly detection + correlation runs, and between baseline refreshes.
ANALYSIS_INTERVAL_S = 60.0
BASELINE_INTERVAL_S = 600.0


def _bind_tcp(host: str, port: int, what: str, flag: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise AddressInUseError(
                f"{what} port {host}:{port} is already in use",
                hint=f"stop the process holding it or choose another with {flag}",
            ) from None
        raise AddressInUseError(
            f"cannot listen on {host}:{port} for {what}: {exc.strerror}"
        ) from None
    sock.listen(128)
    return sock


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside our loop: signals stay with the daemon, which stops everything."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class ColonyDaemon:
    def __init__(self, settings: ColonySettings, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self._clock = clock
        self.grpc_port = 0
        self.http_port = 0
        self.store: ColonyStore | None = None
        self._grpc: grpc.aio.Server | None = None
        self._http: uvicorn.Server | None = None
        self._http_task: asyncio.Task[None] | None = None
        self._http_sock: socket.socket | None = None
        self._writer: Writer | None = None
        self.ingest: Ingest | None = None
        self.queries: StoreQueries | None = None
        self._maintenance: asyncio.Task[None] | None = None
        self.token: str | None = None
        self._edges: asyncio.Task[None] | None = None
        self.intelligence: Intelligence | None = None
        self._analysis: asyncio.Task[None] | None = None
        #: The mesh, when `coral colony init` made an identity in the data dir.
        self.mesh: ColonyMesh | None = None

    @property
    def retention(self) -> Retention:
        s = self.settings
        return Retention(s.raw_retention_days, s.hourly_retention_days, s.events_retention_days)

    @property
    def grpc_target(self) -> str:
        return f"{self.settings.grpc_host}:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        host = self.settings.http_host
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
        return f"http://{shown}:{self.http_port}"

    @property
    def mcp_url(self) -> str:
        return self.http_url + MCP_PATH

    async def start(self) -> None:
        s = self.settings
        data_dir = ensure_data_dir(s.data_dir)
        # Bind the HTTP port first: it fails fast, before the store is opened.
        self._http_sock = _bind_tcp(s.http_host, s.http_port, "HTTP", "--http-port")
        self.http_port = self._http_sock.getsockname()[1]
        self.store = await asyncio.to_thread(ColonyStore, data_dir)
        self._writer = Writer(self.store)
        self._writer.start()
        self.ingest = Ingest(
            self.store, self._writer, s.stale_after_s, s.offline_after_s, self._clock
        )
        self.mesh = self._make_mesh(data_dir)
        await self._start_grpc()
        self.intelligence = Intelligence(self.store, self._writer, self._clock)
        self.queries = StoreQueries(
            self.store, self.ingest, self.retention, self.intelligence, self._clock
        )
        self.token = load_or_create_token(data_dir) if s.require_token else None
        app = build_http_app(self.queries, build_server(self.queries), self.token)
        config = uvicorn.Config(
            app, log_level="warning", lifespan="on", timeout_graceful_shutdown=3
        )
        self._http = _EmbeddedServer(config)
        self._http_task = asyncio.create_task(self._http.serve(sockets=[self._http_sock]))
        while not self._http.started:
            if self._http_task.done():
                self._http_task.result()
            await asyncio.sleep(0.02)
        self._write_state(data_dir)
        self._maintenance = asyncio.create_task(self._maintain_forever(), name="maintenance")
        self._edges = asyncio.create_task(self._resolve_edges_forever(), name="edges")
        self._analysis = asyncio.create_task(self._analyse_forever(), name="analysis")
        logger.info(
            "colony ready: gRPC %s, HTTP %s, MCP %s, data %s",
            self.grpc_target,
            self.http_url,
            self.mcp_url,
            data_dir,
        )

    def _make_mesh(self, data_dir: Path) -> ColonyMesh | None:
        s = self.settings
        identity = ColonyIdentity.load(data_dir)
        if identity is None:
            return None
        if not is_loopback(s.grpc_host):
            raise ConfigError(
                f"with a mesh, plain gRPC listens only on the mesh address and loopback,"
                f" not {s.grpc_host}",
                hint="drop --grpc-host; agents join with tokens (`coral colony token create`)",
            )
        options = ColonyMeshOptions(
            tunnel=s.tunnel_mode,
            join_host=s.join_host,
            join_port=s.join_port,
            tls_port=s.tls_port,
            wg_port=s.wg_port,
            wg_interface=s.wg_interface,
            discovery=s.discovery,
            discovery_ttl_s=s.discovery_ttl_s,
        )
        return ColonyMesh(identity, MeshRegistry(data_dir, identity.subnet), options, self._clock)

    async def _start_grpc(self) -> None:
        s = self.settings
        assert self.ingest is not None
        options = [
            ("grpc.so_reuseport", 0),
            ("grpc.max_receive_message_length", s.max_message_bytes),
            ("grpc.max_send_message_length", s.max_message_bytes),
            ("grpc.keepalive_time_ms", 30_000),
            ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
        ]
        # Probe the port ourselves: gRPC's own bind error says little.
        _bind_tcp(s.grpc_host, s.grpc_port, "gRPC", "--grpc-port").close()
        self._grpc = grpc.aio.server(options=options)
        pb_grpc.add_ColonyServicer_to_server(ColonyServicer(self.ingest, self.mesh), self._grpc)
        health = health_aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health, self._grpc)
        address = (
            f"[{s.grpc_host}]:{s.grpc_port}"
            if ":" in s.grpc_host
            else f"{s.grpc_host}:{s.grpc_port}"
        )
        try:
            self.grpc_port = self._grpc.add_insecure_port(address)
        except RuntimeError:
            self.grpc_port = 0
        if self.grpc_port == 0:
            raise AddressInUseError(
                f"gRPC port {address} cannot be bound",
                hint="stop the process holding it or choose another with --grpc-port",
            )
        if self.mesh is not None:
            await asyncio.to_thread(self.mesh.bring_up)
            self.mesh.bind(self._grpc, self.grpc_port)
        await self._grpc.start()
        if self.mesh is not None:
            self.mesh.start_background()
            logger.info(
                "mesh %s: tunnel %s, mesh gRPC %s:%d, join %s:%d, mutual TLS %s:%d",
                self.mesh.identity.mesh_id,
                self.mesh.mode,
                self.mesh.identity.mesh_address,
                self.mesh.grpc_port,
                s.join_host,
                self.mesh.join_port,
                s.join_host,
                self.mesh.tls_port,
            )
        await health.set("", health_pb2.HealthCheckResponse.SERVING)
        await health.set("coral.v1.Colony", health_pb2.HealthCheckResponse.SERVING)

    async def maintain_once(self) -> MaintenanceResult:
        """Roll up closed hours and enforce retention now, in the writer thread."""
        assert self.store is not None and self._writer is not None
        store, now = self.store, datetime.fromtimestamp(self._clock(), UTC)
        result = await self._writer.run(lambda: store.maintain(now, self.retention))
        logger.info(
            "maintenance: rolled up to %s; deleted %d raw, %d hourly, %d events",
            result.rolled_upto,
            result.raw_deleted,
            result.hourly_deleted,
            result.events_deleted,
        )
        return result

    async def _maintain_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.maintenance_interval_s)
            try:
                await self.maintain_once()
            except Exception:
                logger.exception("maintenance failed; will try again")

    async def _resolve_edges_forever(self) -> None:
        assert self.store is not None and self._writer is not None
        store = self.store
        while True:
            await asyncio.sleep(EDGE_RESOLVE_INTERVAL_S)
            try:
                await self._writer.run(store.resolve_edges)
            except Exception:
                logger.exception("edge resolution failed; will try again")

    async def _analyse_forever(self) -> None:
        """Refresh baselines now and then; detect and correlate anomalies every minute."""
        assert self.intelligence is not None
        intel, last_refresh = self.intelligence, -math.inf
        while True:
            await asyncio.sleep(ANALYSIS_INTERVAL_S)
            try:
                if self._clock() - last_refresh >= BASELINE_INTERVAL_S:
                    learned = await intel.refresh_baselines()
                    last_refresh = self._clock()
                    logger.info("baselines refreshed: %d", learned)
                correlation = await intel.correlate()
                if correlation is not None:
                    logger.info("correlation %s: %s", correlation.id, correlation.top_hypothesis)
            except Exception:
                logger.exception("analysis failed; will try again")

    def _write_state(self, data_dir: Path) -> None:
        state = {
            "pid": os.getpid(),
            "grpc": self.grpc_target,
            "http": self.http_url,
            "mcp": self.mcp_url,
        }
        if self.mesh is not None:
            state["mesh"] = {
                "mesh_id": self.mesh.identity.mesh_id,
                "tunnel": self.mesh.mode,
                "interface": self.settings.wg_interface if self.mesh.tunnel else None,
                "mesh_address": self.mesh.identity.mesh_address,
                "join_port": self.mesh.join_port,
                "tls_port": self.mesh.tls_port,
            }
        write_state(data_dir, state)

    async def run(self, stop: asyncio.Event) -> None:
        try:
            await self.start()  # a failed start still closes what it opened (the tunnel)
            await stop.wait()
        finally:
            await self.close()

    async def close(self) -> None:
        """Stop accepting, commit what is queued, close the store."""
        for task in (self._maintenance, self._edges, self._analysis):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._grpc is not None:
            await self._grpc.stop(grace=2)
        if self.mesh is not None:
            await self.mesh.close()
        if self._http is not None and self._http_task is not None:
            self._http.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await self._http_task
        if self._http_sock is not None:
            self._http_sock.close()
        if self._writer is not None:
            await self._writer.close()
        if self.store is not None:
            self.store.close()
            with contextlib.suppress(OSError):
                (self.settings.data_dir / STATE_FILE).unlink()
        logger.info("colony stopped")
