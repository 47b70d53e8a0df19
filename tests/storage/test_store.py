from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from coral_mcp.errors import DataDirError, StorageError
from coral_mcp.models import (
    Endpoint,
    MetricSummary,
    Peer,
    ServiceBatch,
    ServiceState,
    SummaryWindow,
)
from coral_mcp.storage.migrations import MIGRATIONS, Migration, migrate
from coral_mcp.storage.ops import RegisterAgent, SkipMessage, StoreServices, StoreSummaries
from coral_mcp.storage.store import ColonyStore
from coral_mcp.storage.writer import Writer

NOW_MS = 1_790_000_000_000
NOW = datetime.fromtimestamp(NOW_MS / 1000, UTC)


def register(agent: str = "a1") -> RegisterAgent:
    return RegisterAgent(agent, "host", "0.1.0", 1, "ipv4:127.0.0.1:1", (), NOW_MS)


def state(name: str, port: int, *peers: tuple[str, int, int]) -> ServiceState:
    return ServiceState(
        name=name,
        spec=f"port:{port}",
        pids=(port,),
        listen=(Endpoint("10.0.0.1", port),),
        peers=tuple(Peer(Endpoint(ip, p), n) for ip, p, n in peers),
    )


def test_migrations_are_recorded_and_not_applied_twice(tmp_path: Path) -> None:
    ColonyStore(tmp_path).close()
    conn = duckdb.connect(str(tmp_path / "colony.duckdb"))
    rows = conn.execute("SELECT version, name FROM schema_migrations").fetchall()
    assert rows == [(m.version, m.name) for m in MIGRATIONS]
    assert migrate(conn) == []
    extra = Migration(len(MIGRATIONS) + 1, "probe", "CREATE TABLE probe (x INTEGER)")
    assert migrate(conn, (*MIGRATIONS, extra)) == [extra.version]
    conn.close()


def test_a_failing_migration_leaves_nothing_half_applied(tmp_path: Path) -> None:
    conn = duckdb.connect(str(tmp_path / "x.duckdb"))
    broken = Migration(1, "broken", "CREATE TABLE ok (x INTEGER); CREATE TABLE bad (")
    with pytest.raises(duckdb.Error):
        migrate(conn, (broken,))
    tables = {
        r[0] for r in conn.execute("SELECT table_name FROM information_schema.tables").fetchall()
    }
    assert "ok" not in tables
    assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone() == (0,)


def test_a_data_dir_from_before_the_rename_shows_component_health_under_its_new_name(
    tmp_path: Path,
) -> None:
    """Upgrading keeps stored component series readable: migration 6 renames
    `health_component_up:NAME` (the name before issue 17) to `component_health:NAME`,
    also in the newest-value table migration 5 fills from the stored summaries."""
    recent = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=5)  # newest values: a day
    conn = duckdb.connect(str(tmp_path / "colony.duckdb"))
    migrate(conn, tuple(m for m in MIGRATIONS if m.version < 5))
    rows = {  # $m the metric, $t a time
        "metric_summaries": "('a1', 'api', $m, $t, $t, 0, 1, 1, 1, 1, 4)",
        "metric_summaries_hourly": "('a1', 'api', $m, $t, 0, 1, 1, 1, 1, 4)",
        "baselines": "('api', $m, -1, 1, 0, 9, $t, $t, $t)",
        "anomalies": "('x', 'api', $m, 'drop', $t, $t, NULL, 5, 0, 1, '')",
    }
    for table, values in rows.items():
        conn.execute(f"INSERT INTO {table} VALUES {values}",
                     {"m": "health_component_up:db", "t": recent})  # fmt: skip
    conn.execute(f"INSERT INTO metric_summaries VALUES {rows['metric_summaries']}",
                 {"m": "cpu_percent", "t": recent})  # fmt: skip
    conn.close()
    store = ColonyStore(tmp_path)
    assert store.metric_names("api") == ["component_health:db", "cpu_percent"]
    store.close()
    conn = duckdb.connect(str(tmp_path / "colony.duckdb"))
    for table in ("metric_summaries_hourly", "baselines", "anomalies"):
        stored = conn.execute(f"SELECT metric FROM {table}").fetchall()
        assert stored == [("component_health:db",)], table
    latest = conn.execute("SELECT metric FROM series_latest ORDER BY metric").fetchall()
    assert latest == [("component_health:db",), ("cpu_percent",)]
    conn.close()


def test_peer_on_another_services_listening_socket_becomes_an_edge(tmp_path: Path) -> None:
    store = ColonyStore(tmp_path)
    store.apply([register("a1"), register("a2")])
    # api (agent a1) connects to db's socket, reported by another agent (a2), later.
    api = state("api", 8080, ("10.0.0.1", 5432, 3), ("93.184.216.34", 443, 1))
    store.apply([StoreServices("a1", 1, ServiceBatch(NOW_MS, (api,)))])
    assert store.resolve_edges()
    assert store.topology(NOW).edges == ()
    store.apply([StoreServices("a2", 1, ServiceBatch(NOW_MS + 1000, (state("db", 5432),)))])
    assert store.resolve_edges()
    assert not store.resolve_edges()  # nothing changed since
    topo = store.topology(NOW)
    assert [(e.caller, e.callee, e.connections) for e in topo.edges] == [("api", "db", 3)]
    assert [(x.service, str(x.remote)) for x in topo.external] == [("api", "93.184.216.34:443")]
    assert set(topo.services) == {"api", "db"}


def test_committed_sequence_advances_only_with_stored_data_and_survives_reopen(
    tmp_path: Path,
) -> None:
    store = ColonyStore(tmp_path)
    store.apply([register()])
    assert store.committed_seq("a1") == 0
    window = SummaryWindow(
        NOW_MS - 15_000, NOW_MS, (MetricSummary("api", "cpu_percent", 1, 3, 2, 3, 2.9, 3),)
    )
    store.apply([StoreSummaries("a1", 1, window), SkipMessage("a1", 2, NOW_MS)])
    store.close()
    reopened = ColonyStore(tmp_path)
    assert reopened.committed_seq("a1") == 2
    (point,) = reopened.metric_series("api", "cpu_percent", datetime.fromtimestamp(0, UTC), NOW, 60)
    assert (point.min, point.max, point.avg, point.count) == (1, 3, 2, 3)


def test_windows_of_several_agents_in_one_batch_are_stored_row_for_row(tmp_path: Path) -> None:
    store = ColonyStore(tmp_path)
    store.apply([register("a1"), register("a2")])
    a1 = SummaryWindow(
        NOW_MS - 15_000,
        NOW_MS,
        (
            MetricSummary("api", "cpu", 1.0, 3.0, 2.0, 2.5, 2.9, 15),
            MetricSummary("db", "rss", 10.0, 30.0, 20.0, 25.0, 29.0, 14),
        ),
    )
    empty = SummaryWindow(NOW_MS - 30_000, NOW_MS - 15_000, ())
    a2 = SummaryWindow(
        NOW_MS - 10_000, NOW_MS + 5_000, (MetricSummary("web", "cpu", 0.5, 0.5, 0.5, 0.5, 0.5, 1),)
    )
    ops = [StoreSummaries("a1", 1, a1), StoreSummaries("a2", 1, empty), StoreSummaries("a2", 2, a2)]
    store.apply(ops)
    cur = store.reader()
    stored = cur.execute(
        "SELECT agent_id, service, metric, epoch_ms(window_start), epoch_ms(window_end), min,"
        " max, avg, last, p95, count FROM metric_summaries ORDER BY agent_id, service"
    ).fetchall()
    cur.close()
    assert stored == [
        ("a1", "api", "cpu", NOW_MS - 15_000, NOW_MS, 1.0, 3.0, 2.0, 2.5, 2.9, 15),
        ("a1", "db", "rss", NOW_MS - 15_000, NOW_MS, 10.0, 30.0, 20.0, 25.0, 29.0, 14),
        ("a2", "web", "cpu", NOW_MS - 10_000, NOW_MS + 5_000, 0.5, 0.5, 0.5, 0.5, 0.5, 1),
    ]
    assert (store.committed_seq("a1"), store.committed_seq("a2")) == (1, 2)
    store.close()


def test_failed_transaction_commits_none_of_its_operations(tmp_path: Path) -> None:
    store = ColonyStore(tmp_path)
    store.apply([register()])
    bad = StoreServices("a1", 1, ServiceBatch(NOW_MS, (state("x" * 10, 2**40),)))
    window = SummaryWindow(NOW_MS, NOW_MS, (MetricSummary("api", "m", 1, 1, 1, 1, 1, 1),))
    with pytest.raises(StorageError):
        store.apply([StoreSummaries("a1", 1, window), bad])
    assert store.committed_seq("a1") == 0
    assert store.metric_names("api") == []


def test_writer_isolates_a_bad_operation_so_the_rest_commit(tmp_path: Path) -> None:
    store = ColonyStore(tmp_path)
    store.apply([register()])

    async def scenario() -> list[BaseException | None]:
        writer = Writer(store)
        writer.start()
        window = SummaryWindow(NOW_MS, NOW_MS, (MetricSummary("api", "m", 1, 1, 1, 1, 1, 1),))
        bad = StoreServices("a1", 2, ServiceBatch(NOW_MS, (state("x", 2**40),)))
        results = await asyncio.gather(
            writer.write(StoreSummaries("a1", 1, window)),
            writer.write(bad),
            writer.write(SkipMessage("a1", 3, NOW_MS)),
            return_exceptions=True,
        )
        await writer.close()
        return list(results)

    first, second, third = asyncio.run(scenario())
    assert first is None and third is None
    assert isinstance(second, StorageError)
    assert store.committed_seq("a1") == 3
    assert store.metric_names("api") == ["m"]


def test_writer_stores_no_message_of_an_agent_after_one_of_its_that_failed(
    tmp_path: Path,
) -> None:
    store = ColonyStore(tmp_path)
    store.apply([register("a1"), register("a2")])
    window = SummaryWindow(NOW_MS, NOW_MS, (MetricSummary("api", "m", 1, 1, 1, 1, 1, 1),))
    bad = StoreServices("a1", 2, ServiceBatch(NOW_MS, (state("x", 2**40),)))

    async def scenario() -> list[BaseException | None]:
        writer = Writer(store)
        writer.start()
        futures = [
            writer.submit(StoreSummaries("a1", 1, window), chain="a1"),
            writer.submit(bad, chain="a1"),
            writer.submit(SkipMessage("a1", 3, NOW_MS), chain="a1"),
            writer.submit(SkipMessage("a2", 1, NOW_MS), chain="a2"),
        ]
        results = list(await asyncio.gather(*futures, return_exceptions=True))
        # Once nothing of a1 waits, its messages are stored again (the agent resent them).
        await writer.submit(SkipMessage("a1", 2, NOW_MS), chain="a1")
        await writer.close()
        return results

    first, second, third, other = asyncio.run(scenario())
    assert first is None and other is None
    assert isinstance(second, StorageError)
    assert isinstance(third, StorageError) and "earlier message" in str(third)
    assert store.committed_seq("a1") == 2  # never 3 while 2 was not stored
    assert store.committed_seq("a2") == 1
    assert store.metric_names("api") == ["m"]


def test_second_store_on_the_same_file_is_refused(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; db = duckdb.connect(sys.argv[1]); print('ok', flush=True);"
            " time.sleep(30)",
            str(tmp_path / "colony.duckdb"),
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"ok\n"
        with pytest.raises(DataDirError, match="another process is using"):
            ColonyStore(tmp_path)
    finally:
        holder.kill()
        holder.wait()
        assert holder.stdout is not None
        holder.stdout.close()


def test_a_service_its_agent_stops_reporting_is_down_and_stays_down_after_reopen(
    tmp_path: Path,
) -> None:
    store = ColonyStore(tmp_path)
    store.apply([register("a1"), register("a2")])
    both = ServiceBatch(NOW_MS, (state("api", 8080), state("batch", 9090)))
    store.apply([StoreServices("a1", 1, both)])
    store.apply([StoreServices("a2", 1, ServiceBatch(NOW_MS, (state("db", 5432),)))])
    # a1's next batch no longer has "batch" (its process is gone and forgotten)
    store.apply([StoreServices("a1", 2, ServiceBatch(NOW_MS + 15_000, (state("api", 8080),)))])
    store.close()
    reopened = ColonyStore(tmp_path)
    pids = {view.name: view.pids for view in reopened.services(NOW)}
    assert pids == {"api": (8080,), "batch": (), "db": (5432,)}


def test_services_dropped_by_several_agents_in_one_batch_are_each_down(tmp_path: Path) -> None:
    store = ColonyStore(tmp_path)
    store.apply([register("a1"), register("a2"), register("a3")])
    store.apply(
        [
            StoreServices("a1", 1, ServiceBatch(NOW_MS, (state("api", 8080), state("jobs", 81)))),
            StoreServices("a2", 1, ServiceBatch(NOW_MS, (state("db", 5432),))),
            StoreServices("a3", 1, ServiceBatch(NOW_MS, (state("cache", 6379),))),
        ]
    )
    later = NOW_MS + 15_000
    # one group commit: a1 reports twice (its newer batch counts), a2 reports nothing
    store.apply(
        [
            StoreServices("a1", 2, ServiceBatch(later + 1, (state("api", 8080),))),
            StoreServices("a1", 3, ServiceBatch(later, (state("jobs", 81),))),
            StoreServices("a2", 2, ServiceBatch(later, ())),
        ]
    )
    pids = {view.name: view.pids for view in store.services(NOW)}
    assert pids == {"api": (8080,), "jobs": (), "db": (), "cache": (6379,)}
    store.close()


def test_a_service_that_comes_back_and_goes_again_is_down_each_time(tmp_path: Path) -> None:
    store = ColonyStore(tmp_path)
    store.apply([register("a1")])
    both = (state("api", 8080), state("batch", 9090))
    down: list[tuple[int, ...]] = []
    for seq, states in enumerate([both, both, both[:1], both[:1], both, both[:1]], start=1):
        store.apply([StoreServices("a1", seq, ServiceBatch(NOW_MS + seq * 15_000, states))])
        down.append(next(v.pids for v in store.services(NOW) if v.name == "batch"))
    assert down == [(9090,), (9090,), (), (), (9090,), ()]
    store.close()
