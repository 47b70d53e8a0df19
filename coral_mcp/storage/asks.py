"""`coral ask` conversations, stored beside the colony's own investigations.

One row in `investigations` per question asked: the id starts with `ask-`, `provider`
names who answered, `result` is the whole record (question, tool calls, answer,
hypotheses). `coral://investigations/{id}` reads both kinds alike.
"""

from __future__ import annotations

import json
from datetime import datetime

import duckdb

from coral_mcp.storage.analysis_store import INSERT_INVESTIGATION
from coral_mcp.storage.ops import db_time

ASK_PREFIX = "ask-"
SELECT_LATEST_ASK = """
SELECT result FROM investigations WHERE id LIKE 'ask-%' ORDER BY created_at DESC, rowid DESC LIMIT 1
"""


def insert_ask(
    cur: duckdb.DuckDBPyConnection,
    id_: str,
    created: datetime,
    question: str,
    provider: str,
    start: datetime,
    end: datetime,
    record: dict[str, object],
    duration_ms: float,
) -> None:
    cur.execute(
        INSERT_INVESTIGATION,
        [
            id_,
            db_time(created),
            question,
            None,
            db_time(start),
            db_time(end),
            provider,
            json.dumps(record),
            duration_ms,
        ],
    )


def latest_ask(cur: duckdb.DuckDBPyConnection) -> dict[str, object] | None:
    row = cur.execute(SELECT_LATEST_ASK).fetchone()
    return None if row is None else dict(json.loads(row[0]))
