"""The investigation pipeline: store -> analysis -> hypotheses. One code path for the
live colony (scheduled and on demand) and for offline replay (`coral investigate
--replay`, `coral eval`). Runs in a reader thread; writing results is the caller's job.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

from coral_mcp.analysis.baselines import Baseline, baseline_at, learn_baselines
from coral_mcp.analysis.detect import (
    MetricAnomaly,
    detect_against_baseline,
    detect_series,
    stale,
    worth_a_look,
)
from coral_mcp.analysis.hypotheses import to_hypothesis
from coral_mcp.analysis.metric_names import is_limit, limit_of
from coral_mcp.analysis.ranking import PRIOR_BEFORE_S, rank_candidates
from coral_mcp.analysis.topology import ServiceGraph
from coral_mcp.models.intelligence import AnomalyView, InvestigationResult, Outcome
from coral_mcp.storage import analysis_store as st
from coral_mcp.storage.store import ColonyStore

#: Baselines learn from this much history, ending this long before now (so that what
#: is happening now does not become normal before it is investigated).
BASELINE_WINDOW = timedelta(days=7)
BASELINE_LAG = timedelta(hours=1)
#: Live detection looks at this much recent data.
RECENT = timedelta(minutes=15)
#: Edges not seen for this long before the range are left out of the graph.
EDGE_FRESHNESS = timedelta(days=1)
#: Events fetched per investigation at most.
MAX_EVENTS = 10_000


NO_ANOMALY = (
    "no significant anomaly: every metric stayed within its normal range"
    " and no crash, OOM kill or restart was seen"
)


@dataclass(frozen=True, slots=True)
class Request:
    start: datetime
    end: datetime
    now: datetime
    question: str | None = None
    service: str | None = None
    #: A given incident time: a weak hint only (it may be wrong).
    incident_time: datetime | None = None


def investigate(store: ColonyStore, req: Request) -> InvestigationResult:
    started = time.perf_counter()
    cur = store.reader()
    try:
        series = st.load_series(cur, req.start, req.end)
        edges = st.load_edges(cur, req.start - EDGE_FRESHNESS)
        learned = st.baseline_map(
            [b for b in st.load_baselines(cur, None) if b.window_end <= req.start]
        )
    finally:
        cur.close()
    events = [
        v.event
        for v in store.events(
            req.start - timedelta(seconds=PRIOR_BEFORE_S), req.end, limit=MAX_EVENTS
        )
    ]
    end_s = req.end.timestamp()
    limits = {(s.service, s.metric): float(s.values[-1]) for s in series if is_limit(s.metric)}
    found: list[MetricAnomaly] = []
    for s, look in zip(series, worth_a_look(series), strict=True):
        if is_limit(s.metric) or not (look or stale(s, end_s)):
            continue
        base = baseline_at(learned, s.service, s.metric, float(s.ts_s[-1]))
        anomaly = detect_series(s, end_s, base, limits.get((s.service, limit_of(s.metric))))
        if anomaly is not None:
            found.append(anomaly)
    graph = ServiceGraph(edges)
    if req.service is not None:
        scope = {req.service} | graph.dependencies(req.service)
        found = [a for a in found if a.service in scope]
        events = [e for e in events if e.service in scope or e.kind == "dependency_lost"]
    hint = req.incident_time.timestamp() if req.incident_time else None
    ranked = rank_candidates(found, events, graph, hint)
    hypotheses = tuple(to_hypothesis(c) for c in ranked[:10])
    outcome = Outcome.HYPOTHESES if hypotheses else Outcome.NO_SIGNIFICANT_ANOMALY
    duration_ms = (time.perf_counter() - started) * 1000
    return InvestigationResult(
        id=f"inv-{uuid.uuid4().hex[:12]}",
        created_at=req.now,
        question=req.question,
        service=req.service,
        start=req.start,
        end=req.end,
        outcome=outcome,
        hypotheses=hypotheses,
        summary=_summary(hypotheses, len(found)),
        anomalies=tuple(anomaly_views(found, req.now)),
        duration_ms=duration_ms,
    )


def _summary(hypotheses: Sequence[Any], n_anomalies: int) -> str:
    if not hypotheses:
        return NO_ANOMALY
    top = hypotheses[0]
    return (
        f"most likely {top.kind} in {top.service} (confidence {top.confidence:.2f}), "
        f"from {n_anomalies} anomalous series; {top.recommendation}"
    )


def _id(prefix: str, *parts: str) -> str:
    digest = hashlib.sha1("\x00".join(parts).encode(), usedforsecurity=False).hexdigest()
    return f"{prefix}-{digest[:12]}"


def _at(ts_s: float) -> datetime:
    return datetime.fromtimestamp(ts_s, UTC)


def anomaly_views(found: Sequence[MetricAnomaly], now: datetime) -> list[AnomalyView]:
    return [
        AnomalyView(
            id=_id("an", a.service, a.metric, a.kind, f"{a.onset_s:.0f}"),
            service=a.service,
            metric=a.metric,
            kind=a.kind,
            onset=_at(a.onset_s),
            detected_at=now,
            score=round(a.score, 2),
            value=a.value,
            baseline=a.baseline,
            detail=a.detail,
        )
        for a in sorted(found, key=lambda a: (a.onset_s, a.service, a.metric))
    ]


def learn(store: ColonyStore, now: datetime) -> list[Baseline]:
    """Baselines from the trailing window (reader side; store them with the writer)."""
    cur = store.reader()
    try:
        series = st.load_series(cur, now - BASELINE_LAG - BASELINE_WINDOW, now - BASELINE_LAG)
    finally:
        cur.close()
    return learn_baselines(series)


def detect_recent(store: ColonyStore, now: datetime) -> list[AnomalyView]:
    """Live detection: the last RECENT of every series against its learned baseline."""
    cur = store.reader()
    try:
        series = st.load_series(cur, now - RECENT, now)
        learned = st.baseline_map(st.load_baselines(cur, None))
    finally:
        cur.close()
    found = []
    for s in series:
        base = baseline_at(learned, s.service, s.metric, float(s.ts_s[-1]))
        if base is not None and (a := detect_against_baseline(s, base)) is not None:
            found.append(a)
    return anomaly_views(found, now)


def document(value: Any) -> Any:
    """A result as JSON-ready data (times RFC 3339)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: document(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [document(v) for v in value]
    return value
