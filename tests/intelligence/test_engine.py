"""The investigation engine over a real store: a long range is read thinned away from
the incident, and answers as the same range read in full."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from coral_mcp.intelligence import engine
from coral_mcp.models import MetricSummary, SummaryWindow
from coral_mcp.models.intelligence import InvestigationResult
from coral_mcp.storage import analysis_store as st
from coral_mcp.storage.ops import RegisterAgent, StoreSummaries, WriteOp
from coral_mcp.storage.store import ColonyStore

T0 = 1_767_225_600
HOURS = 12
#: db slows down at 03:01 for 40 minutes (its callers a minute later): an incident
#: long before the end of the range, off the thinned reference's 3-minute buckets.
FAULT_MIN = 181
LEVELS = {"cpu_percent": 20.0, "latency_ms": 40.0, "error_rate": 0.01}


def incident_ops() -> list[WriteOp]:
    rng = np.random.default_rng(3)
    minutes = HOURS * 60
    values = {
        (service, metric): level * (1 + 0.03 * rng.standard_normal(minutes))
        for service in ("web", "api", "db")
        for metric, level in LEVELS.items()
    }
    fault = slice(FAULT_MIN, FAULT_MIN + 40)
    values[("db", "latency_ms")][fault] *= 4
    for caller in ("api", "web"):
        values[(caller, "latency_ms")][FAULT_MIN + 1 : FAULT_MIN + 40] *= 2
    ops: list[WriteOp] = [RegisterAgent("a", "h", "1", 1, "", (), T0 * 1000)]
    for m in range(minutes):
        start_ms = (T0 + 60 * m) * 1000
        rows = tuple(
            MetricSummary(s, k, float(v[m]), float(v[m]), float(v[m]), float(v[m]), 1.0, 1)
            for (s, k), v in values.items()
        )
        ops.append(StoreSummaries("a", m + 1, SummaryWindow(start_ms, start_ms + 60_000, rows)))
    return ops


def investigate(tmp_path: Path) -> tuple[InvestigationResult, engine.Request]:
    tmp_path.mkdir()
    store = ColonyStore(tmp_path)
    try:
        store.apply(incident_ops())
        end = datetime.fromtimestamp(T0 + HOURS * 3600, UTC)
        cur = store.reader()
        try:
            st.upsert_edges(cur, [("web", "api"), ("api", "db")], end)
        finally:
            cur.close()
        req = engine.Request(end - timedelta(hours=HOURS), end, end)
        return engine.investigate(store, req), req
    finally:
        store.close()


def test_a_long_range_read_thinned_finds_an_old_incident_at_full_resolution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    thinned, req = investigate(tmp_path / "thinned")
    assert engine.thinning_for(req) is not None, "a 12 h range is read thinned"
    monkeypatch.setattr(engine, "THIN_FROM_S", 10**9)  # never thinned
    assert engine.thinning_for(req) is None
    full, _ = investigate(tmp_path / "full")
    fault_at = datetime.fromtimestamp(T0 + 60 * FAULT_MIN, UTC)
    for result in (thinned, full):
        top = result.hypotheses[0]
        assert (top.service, top.kind, top.onset) == ("db", "latency", fault_at)
        assert f"onset {fault_at:%H:%M:%S} UTC" in result.summary
    assert [(h.service, h.kind) for h in thinned.hypotheses] == [
        (h.service, h.kind) for h in full.hypotheses
    ]
    assert abs(thinned.hypotheses[0].confidence - full.hypotheses[0].confidence) < 0.05
