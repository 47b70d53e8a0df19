"""The two ways Coral talks to DuckDB beyond plain statements: a transaction, and a
statement that reads NumPy columns as a table."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import duckdb


@contextmanager
def transaction(cur: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """BEGIN; COMMIT when the block ends, ROLLBACK (and re-raise) when it raises."""
    cur.execute("BEGIN TRANSACTION")
    try:
        yield
        cur.execute("COMMIT")
    except BaseException:
        # A COMMIT that failed (a full disk) has ended the transaction already, and
        # DuckDB then refuses the ROLLBACK: that refusal must not hide the cause.
        with contextlib.suppress(duckdb.TransactionException):
            cur.execute("ROLLBACK")
        raise


def execute_with_columns(
    cur: duckdb.DuckDBPyConnection,
    sql: str | Sequence[str],
    columns: Mapping[str, Any],
    params: Sequence[object] | Mapping[str, object] = (),
) -> None:
    """Run `sql` (with `params`, positional or named; several statements in turn),
    which reads `columns` (name -> NumPy array, all one length) as the table `rows_in`,
    for these statements only.

    DuckDB finds `rows_in` as a local variable of this function (its replacement scan
    of the running frame). A view registered per call (`cur.register`) would name the
    table freely, but it is a catalog change inside the transaction: about 1.5 ms more
    CPU each, which made the colony's ingest path dearer (benchmarks/RESULTS.md, issue 10).
    """
    rows_in = dict(columns)
    if len({len(column) for column in rows_in.values()}) > 1:
        raise ValueError("columns of unequal length")
    values = dict(params) if isinstance(params, Mapping) else list(params)
    for statement in [sql] if isinstance(sql, str) else sql:
        cur.execute(statement, values)
