"""The colony daemon: composition root of storage, ingestion, gRPC, HTTP and MCP.

`start()` binds everything (failing fast with a clear error when a port is taken or
the data dir is unusable), `close()` stops taking work, commits what is queued and
closes the store. `colony.json` in the data dir tells other processes where it listens.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import logging
import math
import os
import socket
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import uvicorn

from coral_mcp.colony.auth import ASGIApp, load_or_create_token
from coral_mcp.colony.grpc_auth import ColonyAuthorizer
from coral_mcp.colony.http_app import MCP_PATH, build_http_app
from coral_mcp.colony.http_guard import GuardedH11Protocol
from coral_mcp.colony.ingest import Ingest
from coral_mcp.colony.queries import StoreQueries
from coral_mcp.colony.running import STATE_FILE, write_state
from coral_mcp.config import ColonySettings, is_loopback
from coral_mcp.dashboard.app import Dashboard
from coral_mcp.dashboard.ask_stream import LlmDoor
from coral_mcp.dashboard.session import Sessions
from coral_mcp.datadir import ensure_data_dir
from coral_mcp.errors import AddressInUseError, ConfigError
from coral_mcp.intelligence.facade import Intelligence
from coral_mcp.investigate.ask_settings import AskSettings
from coral_mcp.mesh.colony_mesh import ColonyMesh, ColonyMeshOptions
from coral_mcp.mesh.keys import ColonyIdentity
from coral_mcp.mesh.registry import MeshRegistry
from coral_mcp.rpc.colony_servicer import ColonyHealth, ColonyServicer, add_colony_service
from coral_mcp.storage.compaction import SPAN
from coral_mcp.storage.retention import MaintenanceResult, Retention
from coral_mcp.storage.store import ColonyStore
from coral_mcp.storage.writer import Writer

if TYPE_CHECKING:
    from fastmcp import FastMCP

logger = logging.getLogger(__name__)

#: HTTP connections served at once (MCP clients, REST, dashboard).
HTTP_MAX_CONNECTIONS = 256
#: Seconds between edge resolutions (when sockets changed).
EDGE_RESOLVE_INTERVAL_S = 1.0
#: Seconds between anomaly detection + correlation runs, and between baseline refreshes.
ANALYSIS_INTERVAL_S = 60.0
BASELINE_INTERVAL_S = 600.0


def _mcp_server(queries: StoreQueries) -> FastMCP:
    """The MCP server, imported and built when the first MCP request comes."""
    from coral_mcp.server import build_server  # noqa: PLC0415 - see LazyMcp

    return build_server(queries)


def _bind_tcp(host: str, port: int, what: str, flag: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named, not 0: asyncio turns Nagle off (TCP_NODELAY) only on sockets
    # whose `proto` says TCP, and accepted sockets inherit it from this one. With Nagle
    # on, the body of each response on a kept-alive connection (MCP, REST) waited for the
    # client's delayed ACK of its head: ~40 ms added to every call.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
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


async def _stopped(stop: asyncio.Event, wait_s: float) -> bool:
    """Wait `wait_s` seconds or until `stop` is set; whether it was set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), wait_s)
    return stop.is_set()


def _grpc_server(s: ColonySettings) -> tuple[grpc.aio.Server, int]:
    """The colony's gRPC server bound to its plain port (not yet serving), and that port."""
    options = [
        ("grpc.so_reuseport", 0),
        ("grpc.max_receive_message_length", s.max_message_bytes),
        ("grpc.max_send_message_length", s.max_message_bytes),
        ("grpc.keepalive_time_ms", 30_000),
        ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ]
    # Probe the port ourselves: gRPC's own bind error says little.
    _bind_tcp(s.grpc_host, s.grpc_port, "gRPC", "--grpc-port").close()
    server = grpc.aio.server(options=options)
    address = (
        f"[{s.grpc_host}]:{s.grpc_port}" if ":" in s.grpc_host else f"{s.grpc_host}:{s.grpc_port}"
    )
    try:
        port = server.add_insecure_port(address)
    except RuntimeError:
        port = 0
    if port == 0:
        raise AddressInUseError(
            f"gRPC port {address} cannot be bound",
            hint="stop the process holding it or choose another with --grpc-port",
        )
    return server, port


def _make_mesh(s: ColonySettings, data_dir: Path, clock: Callable[[], float]) -> ColonyMesh | None:
    """The mesh, when `coral colony init` made an identity in the data dir."""
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
    return ColonyMesh(identity, MeshRegistry(data_dir, identity.subnet), options, clock)


def _shown_host(host: str) -> str:
    """Where this machine reaches an HTTP server bound to `host`."""
    return "127.0.0.1" if host in ("0.0.0.0", "") else host


def retention_of(s: ColonySettings) -> Retention:
    return Retention(s.raw_retention_days, s.hourly_retention_days, s.events_retention_days)


class ColonyDaemon:
    """A running colony. `ColonyDaemon.open(settings)` makes every part in one step and
    starts serving; `close()` stops them in the reverse order."""

    def __init__(
        self,
        settings: ColonySettings,
        clock: Callable[[], float],
        *,
        store: ColonyStore,
        writer: Writer,
        ingest: Ingest,
        intelligence: Intelligence,
        queries: StoreQueries,
        mesh: ColonyMesh | None,
        grpc_port: int,
        http_port: int,
        token: str | None,
        sessions: Sessions | None,
        resources: contextlib.AsyncExitStack,
    ) -> None:
        self.settings = settings
        self.store = store
        self.ingest = ingest
        self.intelligence = intelligence
        self.queries = queries
        #: The mesh, when `coral colony init` made an identity in the data dir.
        self.mesh = mesh
        self.grpc_port = grpc_port
        self.http_port = http_port
        self.token = token
        self._sessions = sessions
        self.retention = retention_of(settings)
        self._clock = clock
        self._writer = writer
        self._resources = resources
        self._stop = asyncio.Event()
        #: Maintenance and compaction both delete raw rows: one at a time.
        self._raw_rows = asyncio.Lock()
        self._loops = [
            asyncio.create_task(self._maintain_forever(), name="maintenance"),
            asyncio.create_task(self._compact_forever(), name="compaction"),
            asyncio.create_task(self._resolve_edges_forever(), name="edges"),
            asyncio.create_task(self._analyse_forever(), name="analysis"),
        ]

    @classmethod
    async def open(
        cls,
        settings: ColonySettings,
        clock: Callable[[], float] = time.time,
        ask: AskSettings | None = None,
    ) -> ColonyDaemon:
        """Open the store, serve gRPC and HTTP, start the loops; on failure close what
        was opened (the tunnel too) and raise. With `ask` (an LLM provider's settings)
        the dashboard's ask box asks that model; without, the builtin provider."""
        s = settings
        data_dir = ensure_data_dir(s.data_dir)
        async with contextlib.AsyncExitStack() as stack:
            # Bind the HTTP port first: it fails fast, before the store is opened.
            http_sock = stack.enter_context(
                contextlib.closing(_bind_tcp(s.http_host, s.http_port, "HTTP", "--http-port"))
            )
            store = await asyncio.to_thread(ColonyStore, data_dir)
            stack.callback(store.close)
            writer = Writer(store)
            writer.start()
            stack.push_async_callback(writer.close)
            ingest = Ingest(store, writer, s.stale_after_s, s.offline_after_s, clock)
            mesh = _make_mesh(s, data_dir, clock)
            # The token guards the plain gRPC port too: made before gRPC serves.
            token = load_or_create_token(data_dir) if s.require_token else None
            grpc_port = await _serve_grpc(s, ingest, mesh, token, stack)
            intelligence = Intelligence(store, writer, clock)
            queries = StoreQueries(store, ingest, retention_of(s), intelligence, clock)
            token = load_or_create_token(data_dir) if s.require_token else None
            sessions = None if token is None else Sessions(token, clock)
            own_url = f"http://{_shown_host(s.http_host)}:{http_sock.getsockname()[1]}"
            llm = None if ask is None else LlmDoor(ask, own_url, token)
            app = build_http_app(
                queries,
                lambda: _mcp_server(queries),
                token,
                ingest.health,
                Dashboard(queries, sessions, llm),
            )
            await _serve_http(app, http_sock, stack)
            colony = cls(
                s,
                clock,
                store=store,
                writer=writer,
                ingest=ingest,
                intelligence=intelligence,
                queries=queries,
                mesh=mesh,
                grpc_port=grpc_port,
                http_port=http_sock.getsockname()[1],
                token=token,
                sessions=sessions,
                resources=stack.pop_all(),
            )
        colony._write_state(data_dir)
        _settle_heap()
        logger.info(
            "colony ready: gRPC %s, HTTP %s, MCP %s, data %s",
            colony.grpc_target,
            colony.http_url,
            colony.mcp_url,
            data_dir,
        )
        return colony

    @property
    def grpc_target(self) -> str:
        return f"{self.settings.grpc_host}:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        return f"http://{_shown_host(self.settings.http_host)}:{self.http_port}"

    @property
    def mcp_url(self) -> str:
        return self.http_url + MCP_PATH

    def login_url(self) -> str:
        """A one-time dashboard login URL for this machine (the plain URL without a token)."""
        if self._sessions is None:
            return self.http_url + "/"
        return f"{self.http_url}/login?key={self._sessions.mint_login_key()}"

    async def maintain_once(self) -> MaintenanceResult:
        """Roll up closed hours and enforce retention now, in the writer thread."""
        store, now = self.store, datetime.fromtimestamp(self._clock(), UTC)
        async with self._raw_rows:
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
        while not await _stopped(self._stop, self.settings.maintenance_interval_s):
            try:
                await self.maintain_once()
            except Exception:
                logger.exception("maintenance failed; will try again")

    async def compact_once(self) -> int:
        """Rewrite closed spans of raw summaries in series order, beside the writer."""
        now = datetime.fromtimestamp(self._clock(), UTC)
        async with self._raw_rows:
            return await asyncio.to_thread(self.store.compact, now)

    async def _compact_forever(self) -> None:
        while not await _stopped(self._stop, SPAN.total_seconds()):
            try:
                await self.compact_once()
            except Exception:
                logger.exception("compaction failed; will try again")

    async def _resolve_edges_forever(self) -> None:
        while not await _stopped(self._stop, EDGE_RESOLVE_INTERVAL_S):
            try:
                await self._writer.run(self.store.resolve_edges)
            except Exception:
                logger.exception("edge resolution failed; will try again")

    async def _analyse_forever(self) -> None:
        """Refresh baselines now and then; detect and correlate anomalies every minute."""
        intel, last_refresh = self.intelligence, -math.inf
        while not await _stopped(self._stop, ANALYSIS_INTERVAL_S):
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
        state: dict[str, object] = {
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
        self._resources.callback(_forget_state, data_dir)

    async def close(self) -> None:
        """Finish the loops' current round, stop accepting, commit what is queued, close
        the store."""
        self._stop.set()
        await asyncio.gather(*self._loops, return_exceptions=True)
        await self._resources.aclose()
        # What start-up froze is garbage now: given back to the collector, so the
        # interpreter's exit frees it (frozen, DuckDB's bindings found their objects
        # alive at exit and printed ~60 lines of "nanobind: leaked ..." on every stop).
        gc.unfreeze()
        logger.info("colony stopped")


#: Allocations between young-generation collections (CPython's default: 700).
GC_GEN0_THRESHOLD = 20_000


def _settle_heap() -> None:
    """What start-up made (modules, schemas, the app) is kept for good: freeze it, so the
    cyclic garbage collector stops walking it, and collect the young generation less
    often. Each ingest push and tool call allocates thousands of short-lived objects:
    with the defaults, collections took ~11 % of the event loop's time while serving
    reads (py-spy), each one holding the GIL that reads and ingestion share."""
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


def _forget_state(data_dir: Path) -> None:
    with contextlib.suppress(OSError):
        (data_dir / STATE_FILE).unlink()


async def _serve_grpc(
    s: ColonySettings,
    ingest: Ingest,
    mesh: ColonyMesh | None,
    token: str | None,
    stack: contextlib.AsyncExitStack,
) -> int:
    """Serve the colony's gRPC (and the mesh's ports); the plain gRPC port."""
    server, port = _grpc_server(s)
    add_colony_service(server, ColonyServicer(ingest, ColonyAuthorizer(token, mesh)))
    health = ColonyHealth(server)
    if mesh is not None:  # closed after the server stops: agents hear it go away
        stack.push_async_callback(mesh.close)
    stack.push_async_callback(server.stop, 2)
    if mesh is not None:
        await asyncio.to_thread(mesh.bring_up)
        mesh.bind(server, port)
    await server.start()
    if mesh is not None:
        await mesh.start()
        logger.info(
            "mesh %s: tunnel %s, mesh gRPC %s:%d, join %s:%d, mutual TLS %s:%d",
            mesh.identity.mesh_id,
            mesh.mode,
            mesh.identity.mesh_address,
            mesh.grpc_port,
            s.join_host,
            mesh.join_port,
            s.join_host,
            mesh.tls_port,
        )
    await health.serving()
    return port


async def _serve_http(app: ASGIApp, sock: socket.socket, stack: contextlib.AsyncExitStack) -> None:
    """Serve `app` on the bound socket until the stack closes."""
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=3,
        # Bounded: past this many connections at once, new ones get 503 at once.
        limit_concurrency=HTTP_MAX_CONNECTIONS,
        # Request heads within http_guard.HEAD_TIMEOUT_S; slow ones give way at the limit.
        http=GuardedH11Protocol,
        timeout_keep_alive=5,
    )
    server = _EmbeddedServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))

    async def stop() -> None:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task

    stack.push_async_callback(stop)
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
