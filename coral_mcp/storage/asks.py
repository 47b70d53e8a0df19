"""`coral ask` conversations, stored beside the colony's own investigations.

One row in `investigations` per question asked: the id starts with `ask-`, `provider`
names who answered, `result` is the whole record (question, tool calls, answer,
hypotheses). `coral://investigations/{id}` reads both kinds.
"""

from __future__ import annotations

import json
from datetime import datetime

import duckdb

from coral_mcp.storage.analysis_store import insert_investigation

SELECT_LATEST_ASK = """
SELECT result FROM investigations WHERE id LIKE 'ask-%' ORDER BY created_at DESC, rowid DESC
LIMIT 1
"""


def insert_ask(
    cur: duckdb.DuckDBPyConnection,
    created: datetime,
    start: datetime,
    end: datetime,
    record: dict[str, object],
) -> None:
    duration_ms = record.get("duration_ms")
    insert_investigation(
        cur,
        str(record["id"]),
        created,
        str(record["question"]),
        None,
        start,
        end,
        record,
        float(duration_ms) if isinstance(duration_ms, int | float) else 0.0,
        provider=str(record["provider"]),
    )


def latest_ask(cur: duckdb.DuckDBPyConnection) -> dict[str, object] | None:
    row = cur.execute(SELECT_LATEST_ASK).fetchone()
    return None if row is None else dict(json.loads(row[0]))
