"""The Intelligence facade over a real store: baselines, live anomalies, investigations."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from coral_mcp.colony import daemon as daemon_module
from coral_mcp.colony.daemon import ColonyDaemon
from coral_mcp.config import ColonySettings
from coral_mcp.intelligence.facade import Intelligence
from coral_mcp.intelligence.replay import import_case, load_case, write_ops
from coral_mcp.models import SummaryWindow
from coral_mcp.models.intelligence import Outcome
from coral_mcp.storage.ops import StoreSummaries, WriteOp
from coral_mcp.storage.store import ColonyStore
from coral_mcp.storage.writer import Writer
from tests.intelligence import cases


def test_investigations_are_recorded_and_fetched_by_id(tmp_path: Path) -> None:
    case = load_case(cases.latency(tmp_path / "cases"))

    async def scenario() -> None:
        store = ColonyStore(tmp_path)
        writer = Writer(store)
        writer.start()
        try:
            _, last = await import_case(case, store, writer)
            intel = Intelligence(store, writer, clock=lambda: last)
            result = await intel.investigate("why is web slow?", service="web")
            assert result.outcome is Outcome.HYPOTHESES
            assert result.hypotheses[0].service == "db"  # web's dependency, through api
            stored = await intel.investigation(result.id)
            assert stored is not None
            assert stored["id"] == result.id
            assert stored["question"] == "why is web slow?"
            assert await intel.investigation("inv-missing") is None
        finally:
            await writer.close()
            store.close()

    asyncio.run(scenario())


def quiet_then_loud(tmp_path: Path) -> tuple[list[WriteOp], float]:
    """90 quiet minutes, then the same services 3 h later with db's latency up at the end;
    and the time at the end of it all."""
    quiet = load_case(cases.no_fault(tmp_path / "a"))
    s = cases.normal()
    s[("db", "latency_ms")][cases.FAULT_AT :] *= 4
    loud = load_case(cases.write_case(tmp_path / "b", "loud", s))
    quiet_ops, _, quiet_end = write_ops(quiet)
    shift_ms = 3 * 3600 * 1000
    loud_ops, _, _ = write_ops(loud)
    later = [
        replace(op, seq=op.seq + 10_000, window=shifted(op.window, shift_ms))
        for op in loud_ops
        if isinstance(op, StoreSummaries)
    ]
    return [*quiet_ops, *later], quiet_end + 3 * 3600


def test_baselines_refresh_then_live_detection_stores_anomalies(tmp_path: Path) -> None:
    ops, now = quiet_then_loud(tmp_path)

    async def scenario() -> None:
        store = ColonyStore(tmp_path)
        writer = Writer(store)
        writer.start()
        try:
            await asyncio.gather(*(writer.write(op) for op in ops))
            intel = Intelligence(store, writer, clock=lambda: now)
            assert await intel.refresh_baselines() > 0
            baselines = await intel.baselines("db")
            assert {b.metric for b in baselines} >= {"latency_ms", "cpu_percent"}
            found = await intel.detect()
            assert [(a.service, a.metric) for a in found] == [("db", "latency_ms")]
            end = datetime.fromtimestamp(now, UTC)
            stored = await intel.anomalies(end - timedelta(hours=1), end)
            assert [a.id for a in stored] == [a.id for a in found]
            assert await intel.detect() == []  # the same anomaly again: stored once
            events = store.events(end - timedelta(hours=1), end, kinds=["anomaly"])
            assert [(e.agent_id, e.event.service) for e in events] == [("colony", "db")]
            assert dict(events[0].event.attributes)["id"] == found[0].id
            assert await intel.correlate() is None  # nothing new since
            await writer.run(lambda: store.reader().execute("DELETE FROM anomalies"))
            correlation = await intel.correlate()
            assert correlation is not None and "db" in correlation.top_hypothesis
            assert [c.id for c in await intel.correlations()] == [correlation.id]
        finally:
            await writer.close()
            store.close()

    asyncio.run(scenario())


def shifted(window: SummaryWindow, ms: int) -> SummaryWindow:
    return replace(window, start_ms=window.start_ms + ms, end_ms=window.end_ms + ms)


def test_the_colony_learns_detects_and_correlates_on_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ops, now = quiet_then_loud(tmp_path / "cases")
    (tmp_path / "colony").mkdir()
    store = ColonyStore(tmp_path / "colony")
    store.apply(ops)
    store.close()
    monkeypatch.setattr(daemon_module, "ANALYSIS_INTERVAL_S", 0.05)
    settings = ColonySettings(data_dir=tmp_path / "colony", grpc_port=0, http_port=0)

    async def scenario() -> None:
        colony = await ColonyDaemon.open(settings, clock=lambda: now)
        try:
            async with asyncio.timeout(20):
                while not (found := await colony.intelligence.correlations()):
                    await asyncio.sleep(0.05)
            assert found[0].services == ("db",)
            assert "db" in found[0].top_hypothesis
            assert await colony.intelligence.baselines("db")
        finally:
            await colony.close()

    asyncio.run(scenario())


def test_refreshing_baselines_of_an_empty_colony_learns_none_and_does_not_fail(
    tmp_path: Path,
) -> None:
    async def scenario() -> tuple[int, int]:
        store = ColonyStore(tmp_path)
        writer = Writer(store)
        writer.start()
        try:
            intel = Intelligence(store, writer)
            learned = await intel.refresh_baselines()
            return learned, len(await intel.baselines())
        finally:
            await writer.close()
            store.close()

    assert asyncio.run(scenario()) == (0, 0)


def test_refreshing_baselines_replaces_them_all_in_bulk(tmp_path: Path) -> None:
    case = load_case(cases.latency(tmp_path / "cases"))

    async def scenario() -> list[int]:
        store = ColonyStore(tmp_path)
        writer = Writer(store)
        writer.start()
        try:
            _, last = await import_case(case, store, writer)
            intel = Intelligence(store, writer, clock=lambda: last + 3 * 3600)
            counts = [await intel.refresh_baselines(), await intel.refresh_baselines()]
            counts.append(len(await intel.baselines()))
            return counts
        finally:
            await writer.close()
            store.close()

    first, second, stored = asyncio.run(scenario())
    assert first > 0 and first == second == stored  # replaced, not appended


def test_live_detection_keeps_one_anomaly_for_a_fault_longer_than_it_looks_back(
    tmp_path: Path,
) -> None:
    # db's latency is up for the case's last 30 minutes; live detection sees 15.
    s = cases.normal()
    s[("db", "latency_ms")][cases.FAULT_AT :] *= 4
    case = load_case(cases.write_case(tmp_path / "cases", "long", s))

    async def scenario() -> None:
        store = ColonyStore(tmp_path)
        writer = Writer(store)
        writer.start()
        try:
            _, last = await import_case(case, store, writer)
            clock = [last]  # baselines from the hour before the fault (they lag by 1 h)
            intel = Intelligence(store, writer, clock=lambda: clock[0])
            assert await intel.refresh_baselines() > 0
            clock[0] = float(cases.at(cases.FAULT_AT) - 60)
            new = []
            while clock[0] < last:  # the colony's analysis loop, every 3 minutes
                clock[0] = min(clock[0] + 180, last)
                new += await intel.detect()
            assert [(a.service, a.metric) for a in new] == [("db", "latency_ms")]
            end = datetime.fromtimestamp(last, UTC)
            (kept,) = await intel.anomalies(end - timedelta(hours=2), end)
            assert kept.id == new[0].id and kept.ended_at is None
            assert kept.onset <= datetime.fromtimestamp(cases.at(cases.FAULT_AT + 5), UTC)
            # It began half an hour ago and goes on: the last five minutes list it.
            recent = await intel.anomalies(end - timedelta(minutes=5), end)
            assert [a.id for a in recent] == [kept.id]
            events = store.events(end - timedelta(hours=2), end, kinds=["anomaly"])
            assert len(events) == 1
            # Twenty minutes without the fault in sight of detection: it has ended.
            clock[0] = last + 20 * 60
            assert await intel.detect() == []
            now = datetime.fromtimestamp(clock[0], UTC)
            (ended,) = await intel.anomalies(end - timedelta(hours=2), now)
            assert ended.id == kept.id and ended.ended_at == now
            after = now + timedelta(seconds=1)
            assert await intel.anomalies(after, after + timedelta(minutes=5)) == []
        finally:
            await writer.close()
            store.close()

    asyncio.run(scenario())
