"""The colony's ingest service: what it says about the rate of what agents send."""

from __future__ import annotations

import asyncio
from pathlib import Path

from coral_mcp.colony.ingest import RATE_WINDOW_S, Ingest
from coral_mcp.models import MetricSummary, SummaryWindow
from coral_mcp.storage.store import ColonyStore
from coral_mcp.storage.writer import Writer


def test_ingestion_rates_count_the_last_minute_only(tmp_path: Path) -> None:
    now = [1_800_000_000.0]
    store = ColonyStore(tmp_path)

    def window(points: int) -> SummaryWindow:
        start_ms = int(now[0] * 1000)
        summaries = tuple(
            MetricSummary("api", f"m{i}", 1.0, 1.0, 1.0, 1.0, 1.0, 1) for i in range(points)
        )
        return SummaryWindow(start_ms, start_ms + 15_000, summaries)

    async def scenario() -> list[tuple[float, float]]:
        writer = Writer(store)
        writer.start()
        ingest = Ingest(store, writer, 60, clock=lambda: now[0])
        try:
            await ingest.register("a1", "h", "0.1.0", 1, "p", ())
            seen = [ingest.rates()]
            await ingest.ingest("a1", 1, window(30))
            now[0] += 20
            await ingest.ingest("a1", 2, window(6))
            seen.append(ingest.rates())
            now[0] += RATE_WINDOW_S - 10  # the first message is over a minute old
            seen.append(ingest.rates())
            now[0] += 20  # and the second
            seen.append(ingest.rates())
            return seen
        finally:
            await writer.close()

    try:
        seen = asyncio.run(scenario())
    finally:
        store.close()
    per_s = 1 / RATE_WINDOW_S
    assert seen == [(0.0, 0.0), (2 * per_s, 36 * per_s), (per_s, 6 * per_s), (0.0, 0.0)]
