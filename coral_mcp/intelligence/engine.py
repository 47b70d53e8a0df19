"""The investigation pipeline: store -> analysis -> hypotheses. One code path for the
live colony (scheduled and on demand) and for offline replay (`coral investigate
--replay`, `coral eval`). Runs in a reader thread; writing results is the caller's job.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

from coral_mcp.analysis.baselines import Baseline, baseline_at, learn_baselines
from coral_mcp.analysis.detect import MetricAnomaly, Series, detect_against_baseline
from coral_mcp.analysis.diagnose import Diagnosis, diagnose, screen
from coral_mcp.analysis.hypotheses import named, to_hypothesis
from coral_mcp.analysis.peers import callee_series, name_peers
from coral_mcp.analysis.ranking import PRIOR_BEFORE_S
from coral_mcp.analysis.symptom import closest_names
from coral_mcp.analysis.topology import ServiceGraph
from coral_mcp.models.intelligence import AnomalyView, Hypothesis, InvestigationResult, Outcome
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
#: A range longer than about 6 h is read thinned before its last DETAIL_TAIL: as about
#: REFERENCE_BUCKETS samples per series (buckets of whole minutes, at least
#: THIN_FROM_S). Only the fast screen runs on that; the series it keeps (those that may
#: hold an anomaly: a few in a quiet colony) are read again in full, so their analysis
#: is that of a full read. (A 24 h range of 1-minute windows is read as 220 + 120
#: samples per series instead of 1,440.)
DETAIL_TAIL = timedelta(hours=2)
REFERENCE_BUCKETS = 240
THIN_FROM_S = 120
#: Anomalies kept with a result (the strongest): a colony of thousands of services can
#: have tens of thousands at once, and the result is stored and sent whole.
MAX_ANOMALIES = 200


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
    #: The symptom asked about: a service and, optionally, its metric (a name, or a
    #: class such as latency or errors). None: inferred from what is anomalous.
    service: str | None = None
    #: A given incident time: a weak hint only (it may be wrong).
    incident_time: datetime | None = None
    metric: str | None = None


def investigate(store: ColonyStore, req: Request) -> InvestigationResult:
    started = time.perf_counter()
    series = _series(store, req)
    cur = store.reader()
    try:
        edges = st.load_edges(cur, req.start - EDGE_FRESHNESS)
        endpoints = st.load_endpoints(cur, req.start - EDGE_FRESHNESS)
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
    graph = ServiceGraph(edges)
    series += callee_series(series, endpoints, graph)
    events = name_peers(events, endpoints)
    known = {s.service for s in series} | graph.services() | {e.service for e in events}
    if req.service is not None and req.service not in known:
        return _result(req, started, Outcome.UNKNOWN_SERVICE, (), _unknown(req.service, known))
    hint = req.incident_time.timestamp() if req.incident_time else None
    found = diagnose(
        series, events, graph, req.end.timestamp(), learned, hint, req.service, req.metric
    )
    hypotheses = tuple(to_hypothesis(c, req.metric) for c in found.ranked[:10])
    if not hypotheses:
        outcome = Outcome.NO_SIGNIFICANT_ANOMALY
    else:
        outcome = Outcome.HYPOTHESES if found.clear else Outcome.NO_CLEAR_ROOT_CAUSE
    strongest = sorted(found.anomalies, key=lambda a: -a.score)[:MAX_ANOMALIES]
    anomalies = tuple(anomaly_views(strongest, req.now))
    return _result(req, started, outcome, hypotheses, _summary(found, hypotheses), anomalies)


def _series(store: ColonyStore, req: Request) -> list[Series]:
    """The range's series: a long range thinned, with what may hold an anomaly read
    again in full."""
    thinning = thinning_for(req)
    cur = store.reader()
    try:
        series = st.load_series(cur, req.start, req.end, thinning=thinning)
        if thinning is None:
            return series
        wanted = [(s.service, s.metric) for s in screen(series, req.end.timestamp())]
        full = st.load_series(cur, req.start, req.end, only=wanted) if wanted else []
    finally:
        cur.close()
    again = set(wanted)
    kept = [s for s in series if (s.service, s.metric) not in again]
    return sorted(kept + full, key=lambda s: (s.service, s.metric))


def thinning_for(req: Request) -> st.Thinning | None:
    """How to read the request's range: None (in full) unless it is long."""
    reference_s = (req.end - req.start - DETAIL_TAIL).total_seconds()
    bucket_s = math.ceil(reference_s / REFERENCE_BUCKETS / 60) * 60
    if bucket_s < THIN_FROM_S:
        return None
    return st.Thinning(bucket_s, req.end - DETAIL_TAIL)


def _result(
    req: Request,
    started: float,
    outcome: Outcome,
    hypotheses: tuple[Hypothesis, ...],
    summary: str,
    anomalies: tuple[AnomalyView, ...] = (),
) -> InvestigationResult:
    return InvestigationResult(
        id=f"inv-{uuid.uuid4().hex[:12]}",
        created_at=req.now,
        question=req.question,
        service=req.service,
        start=req.start,
        end=req.end,
        outcome=outcome,
        hypotheses=hypotheses,
        summary=summary,
        anomalies=anomalies,
        duration_ms=(time.perf_counter() - started) * 1000,
    )


def _unknown(service: str, known: set[str]) -> str:
    close = closest_names(service, known)
    hint = f"closest: {', '.join(close)}" if close else "list_services shows the names"
    return f"unknown service {service!r}: Coral has no data on it ({hint})"


def _symptom_text(d: Diagnosis) -> str:
    s = d.symptom
    what = named(s.services) if s.services else "nothing"
    if s.metric:
        what += f" {s.metric}"
    head = f"symptom {'(inferred) ' if s.inferred else ''}{what}"
    if s.onset_s is not None:
        head += f", onset {_at(s.onset_s):%H:%M:%S} UTC ({s.note})"
    return head


def _summary(d: Diagnosis, hypotheses: Sequence[Hypothesis]) -> str:
    if not hypotheses and d.set_aside:
        leads = named([f"{c.service} ({c.confidence:.2f})" for c in d.set_aside], 3)
        return f"no significant anomaly: leads set aside ({leads}): {d.set_aside_why}"
    if not hypotheses:
        return NO_ANOMALY
    top = hypotheses[0]
    if not d.clear:
        return (
            f"no clear root cause ({_symptom_text(d)}): checked {d.series_checked} series of"
            f" {d.services_checked} services; nothing explains the symptom well. Strongest"
            f" lead {top.kind} in {top.service} (confidence {top.confidence:.2f});"
            f" {len(d.anomalies)} anomalous series"
        )
    return (
        f"most likely {top.kind} in {top.service} (confidence {top.confidence:.2f}), "
        f"from {len(d.anomalies)} anomalous series ({_symptom_text(d)}); {top.recommendation}"
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
        learned = st.baseline_map(st.load_baselines(cur, None))
        # Nothing learned yet (a young colony): no series to load (at 10,000 services
        # that is millions of rows a minute for nothing).
        series = st.load_series(cur, now - RECENT, now) if learned else []
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
