"""Compaction: raw summaries of closed spans rewritten in series order.

Ingestion appends summaries as they arrive, every agent's series interleaved, so a
block of rows holds a little of every series and a query for one series had to read
every row of its time range (at 10,000 services, ~50 M rows an hour). Once a span of
time is closed, `compact` rewrites its rows sorted by (service, metric, window start):
DuckDB's min/max statistics of each block then let a query for one series skip every
block but the few that hold it (`storage.queries.QUERY_METRIC`).

It runs on a cursor of its own, beside the writer: it deletes and re-inserts only rows
older than the span being written, which no ingest batch touches, so neither waits for
the other. Rows that arrive for a span after it was compacted (a backlog replayed
late) stay where they were appended: found all the same, only read less cheaply.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb

from coral_mcp.storage.transaction import transaction

COMPACTED = "compacted"
#: Width of one compacted span; ingestion's unsorted tail is at most about two of them.
SPAN = timedelta(minutes=2)
#: A span is compacted once its end is this far behind the colony's clock: agents push
#: every 15 s, so its windows have arrived by then.
SETTLE = timedelta(minutes=1)

_MARK = "SELECT upto FROM rollups WHERE name = ?"
_SET_MARK = """
INSERT INTO rollups (name, upto) VALUES (?, ?)
ON CONFLICT (name) DO UPDATE SET upto = excluded.upto
"""
_SORTED_COPY = """
CREATE OR REPLACE TEMP TABLE compacting AS
SELECT * FROM metric_summaries
WHERE window_start >= ? AND window_start < ?
ORDER BY service, metric, window_start
"""
_DELETE_SPAN = "DELETE FROM metric_summaries WHERE window_start >= ? AND window_start < ?"
_REINSERT = "INSERT INTO metric_summaries SELECT * FROM compacting"
_DROP_COPY = "DROP TABLE compacting"


def span_floor(value: datetime) -> datetime:
    """The start of the span holding `value`."""
    step = int(SPAN.total_seconds())
    seconds = int((value - datetime.min).total_seconds())
    return datetime.min + timedelta(seconds=seconds - seconds % step)


def compacted_upto(cur: duckdb.DuckDBPyConnection) -> datetime | None:
    row = cur.execute(_MARK, [COMPACTED]).fetchone()
    return None if row is None else row[0]


def compact(
    cur: duckdb.DuckDBPyConnection, now: datetime, since: datetime | None = None
) -> tuple[datetime, int]:
    """Rewrite the raw rows of closed spans in series order, from where the last run
    stopped (or `since`, or, on a colony's first run, the span holding `now`: rows
    written before compaction existed are left as they are) up to the span closed
    SETTLE before `now`, one span per transaction. Return the new mark and
    the rows rewritten. `now` and `since` are naive UTC."""
    upto = span_floor(now - SETTLE)
    mark = since or compacted_upto(cur)
    if mark is None:
        mark = span_floor(now)
        cur.execute(_SET_MARK, [COMPACTED, mark])
    rewritten = 0
    while mark < upto:
        end = min(upto, mark + SPAN)
        with transaction(cur):
            cur.execute(_SORTED_COPY, [mark, end])
            row = cur.execute(_DELETE_SPAN, [mark, end]).fetchone()
            cur.execute(_REINSERT)
            cur.execute(_DROP_COPY)
            cur.execute(_SET_MARK, [COMPACTED, end])
        rewritten += int(row[0]) if row else 0
        mark = end
    return mark, rewritten
