"""Schema migrations, registered in code and tracked in `schema_migrations`.

Append a Migration to MIGRATIONS to change the schema; never edit one that has shipped.
`migrate()` applies, in order and each in its own transaction, those not yet recorded.
Times are UTC TIMESTAMPs (no zone), sequence numbers UBIGINT.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import duckdb

from coral_mcp.storage.transaction import transaction

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "agents, services, sockets, summaries, edges",
        """
        CREATE TABLE agents (
            agent_id VARCHAR PRIMARY KEY,
            hostname VARCHAR NOT NULL,
            agent_version VARCHAR NOT NULL,
            protocol_version INTEGER NOT NULL,
            peer VARCHAR,
            first_seen TIMESTAMP NOT NULL,
            last_seen TIMESTAMP NOT NULL,
            committed_seq UBIGINT NOT NULL DEFAULT 0
        );
        CREATE TABLE services (
            agent_id VARCHAR NOT NULL,
            name VARCHAR NOT NULL,
            spec VARCHAR NOT NULL,
            pids INTEGER[] NOT NULL,
            first_seen TIMESTAMP NOT NULL,
            last_seen TIMESTAMP NOT NULL,
            PRIMARY KEY (agent_id, name)
        );
        CREATE TABLE service_endpoints (
            agent_id VARCHAR NOT NULL,
            service VARCHAR NOT NULL,
            ip VARCHAR NOT NULL,
            port INTEGER NOT NULL,
            last_seen TIMESTAMP NOT NULL,
            PRIMARY KEY (agent_id, service, ip, port)
        );
        CREATE TABLE peer_connections (
            agent_id VARCHAR NOT NULL,
            service VARCHAR NOT NULL,
            remote_ip VARCHAR NOT NULL,
            remote_port INTEGER NOT NULL,
            connections INTEGER NOT NULL,
            first_seen TIMESTAMP NOT NULL,
            last_seen TIMESTAMP NOT NULL,
            PRIMARY KEY (agent_id, service, remote_ip, remote_port)
        );
        CREATE TABLE metric_summaries (
            agent_id VARCHAR NOT NULL,
            service VARCHAR NOT NULL,
            metric VARCHAR NOT NULL,
            window_start TIMESTAMP NOT NULL,
            window_end TIMESTAMP NOT NULL,
            min DOUBLE NOT NULL,
            max DOUBLE NOT NULL,
            avg DOUBLE NOT NULL,
            last DOUBLE NOT NULL,
            p95 DOUBLE NOT NULL,
            count INTEGER NOT NULL
        );
        CREATE TABLE edges (
            caller VARCHAR NOT NULL,
            callee VARCHAR NOT NULL,
            connections INTEGER NOT NULL,
            first_seen TIMESTAMP NOT NULL,
            last_seen TIMESTAMP NOT NULL,
            PRIMARY KEY (caller, callee)
        );
        """,
    ),
    Migration(
        2,
        "events",
        """
        CREATE TABLE events (
            agent_id VARCHAR NOT NULL,
            ts TIMESTAMP NOT NULL,
            service VARCHAR NOT NULL,
            kind VARCHAR NOT NULL,
            severity VARCHAR NOT NULL,
            message VARCHAR NOT NULL,
            attributes MAP(VARCHAR, VARCHAR) NOT NULL
        );
        """,
    ),
    Migration(
        3,
        "hourly roll-ups; tables for baselines, anomalies, correlations, investigations",
        """
        CREATE TABLE metric_summaries_hourly (
            agent_id VARCHAR NOT NULL,
            service VARCHAR NOT NULL,
            metric VARCHAR NOT NULL,
            hour TIMESTAMP NOT NULL,
            min DOUBLE NOT NULL,
            max DOUBLE NOT NULL,
            avg DOUBLE NOT NULL,
            last DOUBLE NOT NULL,
            p95 DOUBLE NOT NULL,
            count BIGINT NOT NULL,
            PRIMARY KEY (agent_id, service, metric, hour)
        );
        -- How far roll-ups have got: every hour before `upto` is rolled up.
        CREATE TABLE rollups (
            name VARCHAR PRIMARY KEY,
            upto TIMESTAMP NOT NULL
        );
        -- Learned normal per (service, metric); hour_of_day -1 means all hours.
        CREATE TABLE baselines (
            service VARCHAR NOT NULL,
            metric VARCHAR NOT NULL,
            hour_of_day SMALLINT NOT NULL,
            center DOUBLE NOT NULL,
            spread DOUBLE NOT NULL,
            samples INTEGER NOT NULL,
            window_start TIMESTAMP NOT NULL,
            window_end TIMESTAMP NOT NULL,
            updated_at TIMESTAMP NOT NULL,
            PRIMARY KEY (service, metric, hour_of_day)
        );
        CREATE TABLE anomalies (
            id VARCHAR PRIMARY KEY,
            service VARCHAR NOT NULL,
            metric VARCHAR NOT NULL,
            kind VARCHAR NOT NULL,
            onset TIMESTAMP NOT NULL,
            detected_at TIMESTAMP NOT NULL,
            ended_at TIMESTAMP,
            score DOUBLE NOT NULL,
            value DOUBLE NOT NULL,
            baseline DOUBLE,
            detail VARCHAR NOT NULL
        );
        CREATE TABLE correlations (
            id VARCHAR PRIMARY KEY,
            created_at TIMESTAMP NOT NULL,
            window_start TIMESTAMP NOT NULL,
            window_end TIMESTAMP NOT NULL,
            services VARCHAR[] NOT NULL,
            anomaly_ids VARCHAR[] NOT NULL,
            hypotheses VARCHAR NOT NULL
        );
        CREATE TABLE investigations (
            id VARCHAR PRIMARY KEY,
            created_at TIMESTAMP NOT NULL,
            question VARCHAR,
            service VARCHAR,
            range_start TIMESTAMP NOT NULL,
            range_end TIMESTAMP NOT NULL,
            provider VARCHAR NOT NULL,
            result VARCHAR NOT NULL,
            duration_ms DOUBLE NOT NULL
        );
        """,
    ),
    Migration(
        4,
        "append-only agent progress (committed sequence and last data per batch)",
        """
        CREATE TABLE agent_progress (
            agent_id VARCHAR NOT NULL,
            seq UBIGINT NOT NULL,
            seen TIMESTAMP NOT NULL
        );
        INSERT INTO agent_progress SELECT agent_id, committed_seq, last_seen FROM agents;
        """,
    ),
    Migration(
        5,
        "series_latest: each series' newest value and its current and previous hour",
        """
        CREATE TABLE series_latest (
            service VARCHAR NOT NULL,
            metric VARCHAR NOT NULL,
            last DOUBLE NOT NULL,
            window_end TIMESTAMP NOT NULL,
            hour TIMESTAMP NOT NULL,
            weighted DOUBLE NOT NULL,
            count BIGINT NOT NULL,
            min DOUBLE NOT NULL,
            max DOUBLE NOT NULL,
            prev_weighted DOUBLE NOT NULL,
            prev_count BIGINT NOT NULL,
            prev_min DOUBLE,
            prev_max DOUBLE,
            PRIMARY KEY (service, metric)
        );
        INSERT INTO series_latest
        WITH hours AS (
            SELECT service, metric, date_trunc('hour', window_start) AS hour,
                   arg_max(last, window_end) AS last, max(window_end) AS window_end,
                   sum(avg * count) AS weighted, sum(count)::BIGINT AS count,
                   min(min) AS min, max(max) AS max
            FROM metric_summaries
            WHERE window_end >= now()::TIMESTAMP - INTERVAL 1 DAY
            GROUP BY ALL
        ), newest AS (
            SELECT service, metric, max(hour) AS hour FROM hours GROUP BY ALL
        )
        SELECT h.service, h.metric, h.last, h.window_end, h.hour, h.weighted, h.count,
               h.min, h.max, coalesce(p.weighted, 0), coalesce(p.count, 0), p.min, p.max
        FROM newest n
        JOIN hours h USING (service, metric, hour)
        LEFT JOIN hours p ON p.service = n.service AND p.metric = n.metric
                         AND p.hour = n.hour - INTERVAL 1 HOUR;
        """,
    ),
    Migration(
        6,
        "component health series renamed: health_component_up:NAME -> component_health:NAME",
        """
        UPDATE metric_summaries SET metric = 'component_health:' || substr(metric, 21)
            WHERE starts_with(metric, 'health_component_up:');
        UPDATE metric_summaries_hourly SET metric = 'component_health:' || substr(metric, 21)
            WHERE starts_with(metric, 'health_component_up:');
        UPDATE baselines SET metric = 'component_health:' || substr(metric, 21)
            WHERE starts_with(metric, 'health_component_up:');
        UPDATE anomalies SET metric = 'component_health:' || substr(metric, 21)
            WHERE starts_with(metric, 'health_component_up:');
        INSERT OR REPLACE INTO series_latest
            SELECT service, 'component_health:' || substr(metric, 21), last, window_end, hour,
                   weighted, count, min, max, prev_weighted, prev_count, prev_min, prev_max
            FROM series_latest WHERE starts_with(metric, 'health_component_up:');
        DELETE FROM series_latest WHERE starts_with(metric, 'health_component_up:');
        """,
    ),
    Migration(
        7,
        "store_state: whether series_latest holds every committed summary (a clean stop)",
        """
        CREATE TABLE store_state (
            name VARCHAR PRIMARY KEY,
            value VARCHAR NOT NULL
        );
        """,
    ),
    Migration(
        8,
        "series_latest: a snapshot of the table the colony keeps in memory, without a key",
        """
        CREATE TEMP TABLE series_latest_kept AS SELECT * FROM series_latest;
        DROP TABLE series_latest;
        CREATE TABLE series_latest AS SELECT * FROM series_latest_kept;
        DROP TABLE series_latest_kept;
        """,
    ),
)

_TRACKING = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name VARCHAR NOT NULL,
    applied_at TIMESTAMP NOT NULL DEFAULT (now()::TIMESTAMP)
)
"""


def applied_versions(conn: duckdb.DuckDBPyConnection) -> set[int]:
    conn.execute(_TRACKING)
    return {int(row[0]) for row in conn.execute("SELECT version FROM schema_migrations").fetchall()}


def migrate(
    conn: duckdb.DuckDBPyConnection, migrations: tuple[Migration, ...] = MIGRATIONS
) -> list[int]:
    """Apply pending migrations in version order; return the versions applied."""
    done = applied_versions(conn)
    applied = []
    for migration in sorted(migrations, key=lambda m: m.version):
        if migration.version in done:
            continue
        with transaction(conn):
            conn.execute(migration.sql)
            conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (?, ?)",
                [migration.version, migration.name],
            )
        logger.info("applied migration %d (%s)", migration.version, migration.name)
        applied.append(migration.version)
    return applied
