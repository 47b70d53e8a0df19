"""A real colony (ColonyDaemon: DuckDB, gRPC, HTTP with REST and MCP) on free ports, in a
thread of its own, loaded with a replay case and living at the case's end time."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from coral_mcp.colony.daemon import ColonyDaemon
from coral_mcp.config import ColonySettings
from coral_mcp.intelligence.replay import AGENT, import_case, load_case
from coral_mcp.models.topology import ServiceState
from coral_mcp.storage.ops import RegisterAgent
from coral_mcp.storage.store import ColonyStore
from coral_mcp.storage.writer import Writer
from tests.conftest import START_S


@dataclass(frozen=True)
class Loaded:
    url: str
    #: The case's first sample, RFC 3339: what `--since` covers the whole case with.
    since: str


async def _import(case_dir: Path, data_dir: Path) -> tuple[float, float]:
    data_dir.mkdir(parents=True, exist_ok=True)
    store = ColonyStore(data_dir)
    writer = Writer(store)
    writer.start()
    try:
        case = load_case(case_dir)
        first, last = await import_case(case, store, writer)
        # The replay format has no service registrations; a live agent would send them.
        names = sorted({m[1] for m in case.metrics})
        states = tuple(ServiceState(n, f"name:{n}", (1000 + i,), ()) for i, n in enumerate(names))
        await writer.write(
            RegisterAgent(AGENT, "replay", "replay", 1, "", states, round(last * 1000))
        )
        return first, last
    finally:
        await writer.close()
        store.close()


@contextmanager
def loaded_colony(case_dir: Path, data_dir: Path, baselines: bool = False) -> Iterator[Loaded]:
    """`baselines`: learn them at once, as a colony running for a while has (the daemon's
    first refresh comes a minute after it starts)."""
    first, last = asyncio.run(_import(case_dir, data_dir))
    ready = threading.Event()
    failed: list[BaseException] = []
    holder: dict[str, object] = {}

    async def main() -> None:
        stop = asyncio.Event()
        settings = ColonySettings(data_dir, grpc_port=0, http_port=0, require_token=False)
        try:
            daemon = await ColonyDaemon.open(settings, clock=lambda: last)
            if baselines:
                await daemon.intelligence.refresh_baselines()
        except BaseException as exc:
            failed.append(exc)
            ready.set()
            return
        holder.update(url=daemon.http_url, stop=stop, loop=asyncio.get_running_loop())
        ready.set()
        try:
            await stop.wait()
        finally:
            await daemon.close()

    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    thread.start()
    # Generous: on a loaded machine opening DuckDB and the servers can take long.
    if not ready.wait(START_S):
        raise TimeoutError(f"the loaded colony did not open within {START_S:.0f} s")
    if failed:
        raise failed[0]
    since = datetime.fromtimestamp(first, UTC).isoformat().replace("+00:00", "Z")
    try:
        yield Loaded(str(holder["url"]), since)
    finally:
        loop = holder["loop"]
        assert isinstance(loop, asyncio.AbstractEventLoop)
        stop = holder["stop"]
        assert isinstance(stop, asyncio.Event)
        loop.call_soon_threadsafe(stop.set)
        # Closed before the next test runs: a colony thread still closing would stop or
        # fail beside a later test (whose result an error here would then become).
        thread.join(START_S)
        assert not thread.is_alive(), f"the loaded colony did not close within {START_S:.0f} s"
