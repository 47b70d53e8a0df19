"""Reads and writes of the intelligence layer: series for analysis, baselines, anomalies,
correlations and investigations. Functions take a cursor: readers pass `store.reader()`,
writes run in the writer thread (`writer.run`) inside a transaction of their own.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt

from coral_mcp.analysis.baselines import Baseline
from coral_mcp.analysis.detect import Series
from coral_mcp.analysis.robust import FloatArray, Robust
from coral_mcp.models import Endpoint
from coral_mcp.models.intelligence import AnomalyView, BaselineView, CorrelationView
from coral_mcp.models.metrics import REFRESH_WINDOWS, dead_band
from coral_mcp.storage.ops import db_time, from_db_time
from coral_mcp.storage.queries import INSERT_EVENT
from coral_mcp.storage.transaction import execute_with_columns, transaction

# Window averages per (service, metric) in [lo, hi) and each window's last value (what
# the agent holds a steady series against): integer series ids (1-based, in
# (service, metric) order) and agent ids with raw rows (non-finite ones too), unsorted;
# filling in, sorting and merging agents reporting one service happen in NumPy (much
# faster than ORDER BY over strings).
SELECT_SERIES_KEYS = """
SELECT DISTINCT service, metric FROM metric_summaries
WHERE window_start >= ? AND window_start < ? ORDER BY service, metric
"""
SELECT_SERIES = """
WITH k AS (
    SELECT service, metric, (row_number() OVER (ORDER BY service, metric))::BIGINT AS series
    FROM (SELECT DISTINCT service, metric FROM metric_summaries
          WHERE window_start >= ? AND window_start < ?)
), a AS (
    SELECT agent_id, (row_number() OVER (ORDER BY agent_id))::BIGINT AS agent
    FROM (SELECT DISTINCT agent_id FROM metric_summaries
          WHERE window_start >= ? AND window_start < ?)
)
SELECT k.series, a.agent, epoch_us(m.window_start) // 1000 AS ts_ms, m.avg AS value,
       m.last AS last
FROM metric_summaries m JOIN k USING (service, metric) JOIN a USING (agent_id)
WHERE m.window_start >= ? AND m.window_start < ?
  AND (epoch_us(m.window_start) // 15_000_000) % ? = 0
"""
# A long range read thinned (see `Thinning`). The keys: each (series, agent) with a
# 64-bit hash of the three names, to join on (much cheaper than on three strings; the
# caller checks that the hashes are distinct) and its row count.
SELECT_THINNED_KEYS = """
SELECT service, metric, agent_id, hash(agent_id, service, metric) AS h, count(*) AS n
FROM metric_summaries WHERE window_start >= ? AND window_start < ?
GROUP BY service, metric, agent_id
"""
# The rows, joined to `keys_in` (h -> series, agent, dense): from the fine part's start
# on every window as stored; before it one per bucket (? us = ? ms) placed at the
# bucket's start: for a dense (series, agent), sent in (nearly) every window, the
# window that begins the bucket (a plain filter); for the others, sent only when they
# moved, their first row in the bucket.
SELECT_THINNED = """
SELECT k.series, k.agent, epoch_us(m.window_start) // 1000 AS ts_ms, m.avg AS value,
       m.last AS last
FROM metric_summaries m JOIN keys_in k ON hash(m.agent_id, m.service, m.metric) = k.h
WHERE m.window_start >= ? AND m.window_start < ?
UNION ALL
SELECT k.series, k.agent, epoch_us(m.window_start) // ? * ? AS ts_ms, m.avg AS value,
       m.last AS last
FROM metric_summaries m JOIN keys_in k ON hash(m.agent_id, m.service, m.metric) = k.h
WHERE m.window_start >= ? AND m.window_start < ? AND k.dense
  AND epoch_us(m.window_start) % ? < epoch_us(m.window_end) - epoch_us(m.window_start)
UNION ALL
SELECT k.series, k.agent, epoch_us(m.window_start) // ? * ? AS ts_ms,
       arg_min(m.avg, m.window_start) AS value, arg_min(m.last, m.window_start) AS last
FROM metric_summaries m JOIN keys_in k ON hash(m.agent_id, m.service, m.metric) = k.h
WHERE m.window_start >= ? AND m.window_start < ? AND NOT k.dense
GROUP BY ALL
"""
# The stored window length of the series in the fine part (their full resolution,
# which the thinned samples before it no longer show).
SELECT_FINE_STEPS = """
SELECT service, metric, min(epoch_us(window_end) - epoch_us(window_start)) / 1e6 AS step_s
FROM metric_summaries WHERE window_start >= ? AND window_start < ? GROUP BY service, metric
"""
# Some series only (`wanted_in`: service, metric, series), every window as stored.
SELECT_SOME_SERIES = """
WITH a AS (
    SELECT agent_id, (row_number() OVER (ORDER BY agent_id))::BIGINT AS agent
    FROM (SELECT DISTINCT agent_id FROM metric_summaries
          WHERE window_start >= ? AND window_start < ?)
)
SELECT k.series, a.agent, epoch_us(m.window_start) // 1000 AS ts_ms, m.avg AS value,
       m.last AS last
FROM metric_summaries m JOIN wanted_in k USING (service, metric) JOIN a USING (agent_id)
WHERE m.window_start >= ? AND m.window_start < ?
"""
# Edges seen since a time (the graph as it was recently, not every edge ever seen).
SELECT_EDGES = "SELECT caller, callee FROM edges WHERE last_seen >= ? ORDER BY caller, callee"
SELECT_ENDPOINTS = """
SELECT service, ip, port FROM service_endpoints WHERE last_seen >= ? ORDER BY service, ip, port
"""
UPSERT_EDGE = """
INSERT INTO edges (caller, callee, connections, first_seen, last_seen) VALUES (?, ?, 1, ?, ?)
ON CONFLICT (caller, callee) DO UPDATE SET last_seen = excluded.last_seen
"""
DELETE_BASELINES = "DELETE FROM baselines"
# Reads `rows_in`, NumPy columns given for the statement
# (execute_with_columns): a refresh can hold hundreds of thousands of baselines, far
# too many for executemany.
INSERT_BASELINES = """
INSERT INTO baselines (service, metric, hour_of_day, center, spread, samples,
                       window_start, window_end, updated_at)
SELECT service, metric, hour_of_day, center, spread, samples, window_start, window_end,
       ?::TIMESTAMP
FROM rows_in
"""
SELECT_BASELINES = """
SELECT service, metric, hour_of_day, center, spread, samples, window_start, window_end
FROM baselines WHERE ? IS NULL OR service = ? ORDER BY service, metric, hour_of_day
"""
INSERT_ANOMALY = """
INSERT INTO anomalies (id, service, metric, kind, onset, detected_at, ended_at, score, value,
                       baseline, detail)
VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING
"""
SELECT_KNOWN_ANOMALIES = "SELECT id FROM anomalies WHERE list_contains(?::VARCHAR[], id)"
# Anomalies still going on (no end yet), earliest onset first: the one a series' new
# detection extends.
SELECT_OPEN_ANOMALIES = """
SELECT id, service, metric, score FROM anomalies WHERE ended_at IS NULL ORDER BY onset, id
"""
EXTEND_ANOMALY = "UPDATE anomalies SET score = ?, value = ?, detail = ? WHERE id = ?"
REOPEN_ANOMALIES = "UPDATE anomalies SET ended_at = NULL WHERE list_contains(?::VARCHAR[], id)"
# What detection no longer finds has ended.
CLOSE_ANOMALIES = """
UPDATE anomalies SET ended_at = ?
WHERE ended_at IS NULL AND NOT list_contains(?::VARCHAR[], id)
"""
#: Events written by the colony itself (anomalies) carry this agent id and kind.
COLONY_AGENT = "colony"
ANOMALY_EVENT = "anomaly"
# Anomalies going on at some time in [start, end): begun before its end and not ended
# before its start.
SELECT_ANOMALIES = """
SELECT id, service, metric, kind, onset, detected_at, score, value, baseline, detail, ended_at
FROM anomalies WHERE onset < ? AND (ended_at IS NULL OR ended_at >= ?)
  AND (? IS NULL OR service = ?)
ORDER BY onset, service, metric LIMIT ?
"""
INSERT_CORRELATION = """
INSERT INTO correlations (id, created_at, window_start, window_end, services, anomaly_ids,
                          hypotheses)
VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING
"""
SELECT_CORRELATIONS = """
SELECT id, created_at, window_start, window_end, services, anomaly_ids, hypotheses
FROM correlations ORDER BY window_start DESC LIMIT ?
"""
INSERT_INVESTIGATION = """
INSERT INTO investigations (id, created_at, question, service, range_start, range_end,
                            provider, result, duration_ms)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
SELECT_INVESTIGATION = "SELECT result FROM investigations WHERE id = ?"
SELECT_RECENT_INVESTIGATIONS = """
SELECT result FROM investigations ORDER BY created_at DESC, id LIMIT ?
"""


#: Most raw points loaded at once (about 24 bytes each in memory). Longer ranges over
#: many series keep every n-th push window instead, so memory stays bounded however big
#: the colony grows (a week of 20,000 series at 15 s would otherwise be 800 M points).
ROW_BUDGET = 8_000_000
WINDOW_S = 15
#: How far before a range its series are read to fill in what was steady at its start
#: (a steady series is sent once per REFRESH_WINDOWS default push windows).
UNCHANGED_LOOKBACK = timedelta(seconds=REFRESH_WINDOWS * WINDOW_S)


def stride_for(series: int, start: datetime, end: datetime, budget: int = ROW_BUDGET) -> int:
    """Keep one push window in `stride` so series x windows stays within the budget."""
    windows = max(1.0, (end - start).total_seconds() / WINDOW_S)
    return max(1, math.ceil(series * windows / budget))


@dataclass(frozen=True, slots=True)
class Thinning:
    """Read a long range coarsely where detail does not matter: before `fine_from`,
    windows in buckets of `bucket_s` seconds (counted from the epoch) one per bucket,
    per series and agent (the bucket's first window, placed at its start); from the
    bucket holding `fine_from` on, every window as stored. The first sample of each
    bucket has the spread of any stored window (an average over the bucket would be
    smoother than the windows it is compared with): a thinned reference gives the same
    robust centre and spread, from fewer samples."""

    bucket_s: int
    fine_from: datetime

    def fine_start(self) -> datetime:
        """`fine_from` rounded down to its bucket's start."""
        ts = math.floor(self.fine_from.timestamp() / self.bucket_s) * self.bucket_s
        return datetime.fromtimestamp(ts, UTC)


#: A (series, agent) with at least this share of the agent's most rows is dense: sent
#: in (nearly) every window, thinned by a plain filter.
DENSE_SHARE = 0.9
Columns = dict[str, npt.NDArray[Any]]
Key = tuple[str, str]


def _read_thinned(
    cur: duckdb.DuckDBPyConnection, lo: datetime, hi: datetime, thinning: Thinning
) -> tuple[list[Key], Columns, dict[Key, float]] | None:
    """Keys, rows and full-resolution steps of a thinned read; None when two hashes
    collide (then the caller reads in full)."""
    found = cur.execute(SELECT_THINNED_KEYS, [lo, hi]).fetchall()
    if len({row[3] for row in found}) != len(found):
        return None
    names = sorted({(str(s), str(m)) for s, m, _, _, _ in found})
    series_id = {key: i for i, key in enumerate(names, 1)}
    agent_id = {a: i for i, a in enumerate(sorted({row[2] for row in found}), 1)}
    most: dict[str, int] = {}
    for _, _, agent, _, n in found:
        most[agent] = max(most.get(agent, 0), n)
    # Read by SELECT_THINNED as `keys_in` (DuckDB's replacement scan of this frame).
    keys_in = {  # noqa: F841
        "h": np.array([row[3] for row in found], dtype=np.uint64),
        "series": np.array([series_id[(s, m)] for s, m, _, _, _ in found], dtype=np.int64),
        "agent": np.array([agent_id[row[2]] for row in found], dtype=np.int64),
        "dense": np.array([n >= DENSE_SHARE * most[a] for _, _, a, _, n in found]),
    }
    fine = db_time(max(thinning.fine_start(), from_db_time(lo)))
    us, ms = thinning.bucket_s * 1_000_000, thinning.bucket_s * 1000
    params = [fine, hi, us, ms, lo, fine, us, us, ms, lo, fine]
    cols = cur.execute(SELECT_THINNED, params).fetchnumpy()
    steps = {
        (str(s), str(m)): float(step)
        for s, m, step in cur.execute(SELECT_FINE_STEPS, [fine, hi]).fetchall()
    }
    return names, cols, steps


def _read_some(
    cur: duckdb.DuckDBPyConnection, lo: datetime, hi: datetime, wanted: Sequence[Key]
) -> tuple[list[Key], Columns]:
    names = sorted(set(wanted))
    # Read by SELECT_SOME_SERIES as `wanted_in` (DuckDB's replacement scan of this frame).
    wanted_in = {  # noqa: F841
        "service": np.array([s for s, _ in names], dtype=object),
        "metric": np.array([m for _, m in names], dtype=object),
        "series": np.arange(1, len(names) + 1, dtype=np.int64),
    }
    return names, cur.execute(SELECT_SOME_SERIES, [lo, hi, lo, hi]).fetchnumpy()


def load_series(
    cur: duckdb.DuckDBPyConnection,
    start: datetime,
    end: datetime,
    budget: int = ROW_BUDGET,
    thinning: Thinning | None = None,
    only: Sequence[Key] | None = None,
) -> list[Series]:
    """The series of [start, end) as the analysis reads them (see `fill_unchanged`):
    sorted by (service, metric), agents reporting one service averaged. `thinning`
    reads the range coarsely before its fine part (a series seen in that part then
    carries its stored step, which its thinned samples no longer show); `only` reads
    just these (service, metric) series, in full."""
    # From a little earlier: the value a steady series last had before `start`.
    lo, hi = db_time(start - UNCHANGED_LOOKBACK), db_time(end)
    steps: dict[Key, float] = {}
    with transaction(cur):  # one snapshot for every query
        thinned = None if thinning is None else _read_thinned(cur, lo, hi, thinning)
        if thinned is not None:
            names, cols, steps = thinned
        elif only is not None:
            names, cols = _read_some(cur, lo, hi, only)
        else:
            keys = cur.execute(SELECT_SERIES_KEYS, [lo, hi]).fetchall()
            names = [(str(s), str(m)) for s, m in keys]
            stride = stride_for(len(names), start, end, budget)
            cols = cur.execute(SELECT_SERIES, [lo, hi, lo, hi, lo, hi, stride]).fetchnumpy()
    if not names:
        return []
    series, ts_ms, values, filled = fill_unchanged(
        np.asarray(cols["agent"], dtype=np.int64),
        np.asarray(cols["series"], dtype=np.int64),
        np.asarray(cols["ts_ms"], dtype=np.int64),
        np.asarray(cols["value"], dtype=np.float64),
        np.asarray(cols["last"], dtype=np.float64),
    )
    # A non-finite value sent (replay's "no value here") ends a hold; then it is dropped.
    inside = (ts_ms >= int(start.timestamp() * 1000)) & np.isfinite(values)
    series, ts_ms, values = series[inside], ts_ms[inside], values[inside]
    if not series.size:
        return []
    held = set(np.unique(series[filled[inside]]).tolist())
    key = (series << _TS_BITS) | ts_ms
    order = np.argsort(key, kind="stable")
    key = key[order]
    values = values[order]
    first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    if first.size != key.size:  # several agents report one service: average them
        counts = np.diff(np.r_[first, key.size])
        values = np.add.reduceat(values, first) / counts
        key = key[first]
    ids = key >> _TS_BITS
    ts = (key & ((1 << _TS_BITS) - 1)).astype(np.float64) / 1000.0
    cuts = np.flatnonzero(ids[1:] != ids[:-1]) + 1
    bounds = [0, *cuts.tolist(), ids.size]
    out = []
    for a, b in itertools.pairwise(bounds):
        service, metric = names[ids[a] - 1]
        x = values[a:b]
        # A value held within the agent's dead band is known to half its width or so.
        known = dead_band(metric, float(np.median(x))) / 2 if int(ids[a]) in held else 0.0
        step_s = steps.get((service, metric), 0.0)
        out.append(Series(service, metric, ts[a:b], x, known, step_s))
    return out


#: Bits of the epoch-millisecond part of a (series, time) sort key (enough to 2109).
_TS_BITS = 42
Int64s = npt.NDArray[np.int64]


def fill_unchanged(
    agent: Int64s,
    series: Int64s,
    ts_ms: Int64s,
    values: FloatArray,
    held: FloatArray | None = None,
) -> tuple[Int64s, Int64s, FloatArray, npt.NDArray[np.bool_]]:
    """Each agent's rows with the windows it left out as unchanged filled in.

    An agent sends a steady series only when it moved, and at least once per
    REFRESH_WINDOWS windows (`agent.summarize.drop_unchanged`): a window of that agent
    (one it pushed other series in) without the series means its last value held.
    Every row is repeated on the agent's following windows until the series' next row,
    for at most REFRESH_WINDOWS windows (after that the series stopped). Without this a
    level shift that then holds steady reaches the analysis as one or two samples.
    `held`: per row, the value the agent held the series against on the windows after
    it (its window's last value; default `values`): a window whose average a burst
    lifted (0, 5 -> 2.5) ended at 0, and 0 is what the windows it left out held.
    Returns series ids, times, values and which rows were filled in."""
    if agent.size == 0:
        return series, ts_ms, values, np.zeros(0, dtype=np.bool_)
    grid = np.unique((agent << _TS_BITS) | ts_ms)  # each agent's windows, in order
    order = np.lexsort((ts_ms, series, agent))
    agent, series, ts_ms, values = agent[order], series[order], ts_ms[order], values[order]
    after = values if held is None else held[order]
    here = np.searchsorted(grid, (agent << _TS_BITS) | ts_ms)
    agent_end = np.searchsorted(grid, (agent + 1) << _TS_BITS)
    same = (agent[1:] == agent[:-1]) & (series[1:] == series[:-1])
    following = np.where(same, here[1:], agent_end[:-1])
    upto = np.minimum(np.r_[following, agent_end[-1]], here + REFRESH_WINDOWS)
    length = np.maximum(upto - here, 0)
    rows = np.repeat(np.arange(agent.size), length)
    starts = np.cumsum(length) - length
    step = np.arange(int(length.sum())) - np.repeat(starts, length)
    at = here[rows] + step
    filled = step > 0
    out = np.where(filled, after[rows], values[rows])
    return series[rows], grid[at] & ((1 << _TS_BITS) - 1), out, filled


def load_edges(cur: duckdb.DuckDBPyConnection, since: datetime) -> list[tuple[str, str]]:
    rows = cur.execute(SELECT_EDGES, [db_time(since)]).fetchall()
    return [(str(a), str(b)) for a, b in rows]


def load_endpoints(cur: duckdb.DuckDBPyConnection, since: datetime) -> dict[str, str]:
    """Listening endpoints ("IP:PORT", IPv6 in brackets) seen since then -> service."""
    rows = cur.execute(SELECT_ENDPOINTS, [db_time(since)]).fetchall()
    found: dict[str, str] = {}
    for service, ip, port in rows:
        found.setdefault(str(Endpoint(str(ip), int(port))), str(service))
    return found


def upsert_edges(
    cur: duckdb.DuckDBPyConnection, edges: Sequence[tuple[str, str]], seen: datetime
) -> None:
    t = db_time(seen)
    for caller, callee in edges:
        cur.execute(UPSERT_EDGE, [caller, callee, t, t])


def replace_baselines(
    cur: duckdb.DuckDBPyConnection, baselines: Sequence[Baseline], now: datetime
) -> None:
    with transaction(cur):
        cur.execute(DELETE_BASELINES)
        if baselines:
            learned = {
                "service": np.array([b.service for b in baselines], dtype=object),
                "metric": np.array([b.metric for b in baselines], dtype=object),
                "hour_of_day": np.array([b.hour_of_day for b in baselines], dtype=np.int16),
                "center": np.array([b.stats.center for b in baselines], dtype=np.float64),
                "spread": np.array([b.stats.spread for b in baselines], dtype=np.float64),
                "samples": np.array([b.stats.samples for b in baselines], dtype=np.int32),
                "window_start": np.array(
                    [round(b.window_start_s * 1000) for b in baselines], dtype="datetime64[ms]"
                ),
                "window_end": np.array(
                    [round(b.window_end_s * 1000) for b in baselines], dtype="datetime64[ms]"
                ),
            }
            execute_with_columns(cur, INSERT_BASELINES, learned, [db_time(now)])


def load_baselines(cur: duckdb.DuckDBPyConnection, service: str | None) -> list[BaselineView]:
    rows = cur.execute(SELECT_BASELINES, [service, service]).fetchall()
    return [
        BaselineView(s, m, int(h), float(c), float(sp), int(n), from_db_time(a), from_db_time(b))
        for s, m, h, c, sp, n, a, b in rows
    ]


def baseline_map(views: Sequence[BaselineView]) -> dict[tuple[str, str, int], Robust]:
    return {
        (v.service, v.metric, v.hour_of_day): Robust(v.center, v.spread, v.samples) for v in views
    }


def store_anomalies(
    cur: duckdb.DuckDBPyConnection, anomalies: Sequence[AnomalyView], now: datetime
) -> list[AnomalyView]:
    """Record one detection run; return the anomalies that are new.

    A series already anomalous (an open anomaly: no end yet) keeps that anomaly, its
    onset and id, however long it lasts: live detection sees only the last minutes,
    so a long anomaly is found again and again with a later onset, and is one anomaly
    all the same (its score rises to the highest seen). A new one is stored, also as an
    event of kind `anomaly` from the colony, so event queries show it beside crashes
    and deploys. Open anomalies this run did not find have ended at `now`."""
    with transaction(cur):
        open_by_series: dict[tuple[str, str], tuple[str, float]] = {}
        for id_, service, metric, score in cur.execute(SELECT_OPEN_ANOMALIES).fetchall():
            open_by_series.setdefault((service, metric), (id_, float(score)))
        ids = [a.id for a in anomalies]
        known = {row[0] for row in cur.execute(SELECT_KNOWN_ANOMALIES, [ids]).fetchall()}
        going_on: list[str] = []
        reopened: list[str] = []
        new: list[AnomalyView] = []
        for a in anomalies:
            found = open_by_series.get((a.service, a.metric))
            if found is not None:
                going_on.append(found[0])
                if a.score > found[1]:
                    cur.execute(EXTEND_ANOMALY, [a.score, a.value, a.detail, found[0]])
            elif a.id in known:  # it ended, and is found again from the same onset
                going_on.append(a.id)
                reopened.append(a.id)
            else:
                new.append(a)
                going_on.append(a.id)
                _insert_anomaly(cur, a)
        if reopened:
            cur.execute(REOPEN_ANOMALIES, [reopened])
        cur.execute(CLOSE_ANOMALIES, [db_time(now), going_on])
    return new


def _insert_anomaly(cur: duckdb.DuckDBPyConnection, a: AnomalyView) -> None:
    cur.execute(
        INSERT_EVENT,
        [
            COLONY_AGENT,
            db_time(a.onset),
            a.service,
            ANOMALY_EVENT,
            "warning",
            a.detail,
            ["id", "metric", "kind", "score"],
            [a.id, a.metric, a.kind, f"{a.score:.1f}"],
        ],
    )
    cur.execute(
        INSERT_ANOMALY,
        [
            a.id,
            a.service,
            a.metric,
            a.kind,
            db_time(a.onset),
            db_time(a.detected_at),
            a.score,
            a.value,
            a.baseline,
            a.detail,
        ],
    )


def load_anomalies(
    cur: duckdb.DuckDBPyConnection, start: datetime, end: datetime, service: str | None, limit: int
) -> list[AnomalyView]:
    rows = cur.execute(
        SELECT_ANOMALIES, [db_time(end), db_time(start), service, service, limit]
    ).fetchall()
    return [
        AnomalyView(
            i,
            s,
            m,
            k,
            from_db_time(o),
            from_db_time(d),
            float(sc),
            float(v),
            None if b is None else float(b),
            det,
            None if e is None else from_db_time(e),
        )
        for i, s, m, k, o, d, sc, v, b, det, e in rows
    ]


def insert_correlation(cur: duckdb.DuckDBPyConnection, c: CorrelationView) -> None:
    cur.execute(
        INSERT_CORRELATION,
        [
            c.id,
            db_time(c.created_at),
            db_time(c.window_start),
            db_time(c.window_end),
            list(c.services),
            list(c.anomaly_ids),
            c.top_hypothesis,
        ],
    )


def load_correlations(cur: duckdb.DuckDBPyConnection, limit: int) -> list[CorrelationView]:
    rows = cur.execute(SELECT_CORRELATIONS, [limit]).fetchall()
    return [
        CorrelationView(
            i, from_db_time(c), from_db_time(a), from_db_time(b), tuple(s), tuple(ids), h
        )
        for i, c, a, b, s, ids, h in rows
    ]


def insert_investigation(
    cur: duckdb.DuckDBPyConnection,
    id_: str,
    created: datetime,
    question: str | None,
    service: str | None,
    start: datetime,
    end: datetime,
    document: dict[str, object],
    duration_ms: float,
    provider: str = "builtin",
) -> None:
    """Record an investigation; `coral ask` conversations too (see storage/asks.py)."""
    cur.execute(
        INSERT_INVESTIGATION,
        [
            id_,
            db_time(created),
            question,
            service,
            db_time(start),
            db_time(end),
            provider,
            json.dumps(document),
            duration_ms,
        ],
    )


def load_investigation(cur: duckdb.DuckDBPyConnection, id_: str) -> dict[str, object] | None:
    row = cur.execute(SELECT_INVESTIGATION, [id_]).fetchone()
    return None if row is None else dict(json.loads(row[0]))


def recent_investigations(cur: duckdb.DuckDBPyConnection, limit: int) -> list[dict[str, object]]:
    """The newest recorded investigations, newest first, as stored."""
    return [
        dict(json.loads(row[0]))
        for row in cur.execute(SELECT_RECENT_INVESTIGATIONS, [limit]).fetchall()
    ]
