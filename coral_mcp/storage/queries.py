"""Named SQL of the colony store. Parameters are positional (`?`).

Statements that read `rows_in` read NumPy columns given for the one statement
(`transaction.execute_with_columns`): bulk writes without row-by-row statements.
"""

from datetime import timedelta

#: Sockets and peers older than this no longer make edges or count as current.
#: Agents re-send an unchanged service list every 5 minutes: three refreshes of slack.
SOCKET_FRESHNESS = timedelta(minutes=15)

UPSERT_AGENT = """
INSERT INTO agents (agent_id, hostname, agent_version, protocol_version, peer,
                    first_seen, last_seen)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (agent_id) DO UPDATE SET
    hostname = excluded.hostname,
    agent_version = excluded.agent_version,
    protocol_version = excluded.protocol_version,
    peer = excluded.peer,
    last_seen = excluded.last_seen
"""

# Sequences past 2**62 (rpc.codec.MAX_SEQ) were never real: an older colony stored them.
SELECT_COMMITTED_SEQ = (
    "SELECT max(seq) FROM agent_progress WHERE agent_id = ? AND seq <= 4611686018427387904"
)

# Appending is far cheaper in DuckDB than updating a row per batch; the committed
# sequence of an agent is the largest seq it has here (compacted by maintenance).
ADVANCE_AGENTS = "INSERT INTO agent_progress SELECT agent_id, seq, seen FROM rows_in"

COMPACT_PROGRESS = """
CREATE OR REPLACE TEMP TABLE progress_max AS
    SELECT agent_id, max(seq) AS seq, max(seen) AS seen FROM agent_progress GROUP BY agent_id;
DELETE FROM agent_progress;
INSERT INTO agent_progress SELECT agent_id, seq, seen FROM progress_max;
DROP TABLE progress_max;
"""

UPSERT_SERVICES = """
INSERT INTO services (agent_id, name, spec, pids, first_seen, last_seen)
SELECT agent_id, name, spec, pids::INTEGER[], seen, seen FROM rows_in
ON CONFLICT (agent_id, name) DO UPDATE SET
    spec = excluded.spec, pids = excluded.pids, last_seen = excluded.last_seen
"""

# A service an agent no longer reports (its processes gone, forgotten by the agent) is
# down: its pids are cleared, so a live agent's heartbeat does not keep it "up". One
# statement per agent: cheaper than one joined statement for the batch, as a batch
# rarely holds services of more than one agent.
CLEAR_UNREPORTED_SERVICES = """
UPDATE services SET pids = []::INTEGER[]
WHERE agent_id = ? AND len(pids) > 0 AND NOT list_contains(?::VARCHAR[], name)
"""

UPSERT_ENDPOINTS = """
INSERT INTO service_endpoints (agent_id, service, ip, port, last_seen)
SELECT agent_id, service, ip, port, seen FROM rows_in
ON CONFLICT (agent_id, service, ip, port) DO UPDATE SET last_seen = excluded.last_seen
"""

UPSERT_PEERS = """
INSERT INTO peer_connections (agent_id, service, remote_ip, remote_port, connections,
                              first_seen, last_seen)
SELECT agent_id, service, ip, port, connections, seen, seen FROM rows_in
ON CONFLICT (agent_id, service, remote_ip, remote_port) DO UPDATE SET
    connections = excluded.connections, last_seen = excluded.last_seen
"""

# A peer address that is another service's listening socket, both seen within the
# freshness interval (?) of the newest peer report, becomes (or refreshes) the edge
# caller -> callee.
RESOLVE_EDGES = """
INSERT INTO edges (caller, callee, connections, first_seen, last_seen)
SELECT p.service, e.service, sum(p.connections)::INTEGER, min(p.first_seen), max(p.last_seen)
FROM peer_connections p
JOIN service_endpoints e ON p.remote_ip = e.ip AND p.remote_port = e.port
WHERE p.last_seen >= (SELECT max(last_seen) FROM peer_connections) - ?::INTERVAL
  AND e.last_seen >= (SELECT max(last_seen) FROM peer_connections) - ?::INTERVAL
  AND p.service <> e.service
GROUP BY p.service, e.service
ON CONFLICT (caller, callee) DO UPDATE SET
    connections = excluded.connections,
    last_seen = greatest(edges.last_seen, excluded.last_seen)
"""

INSERT_SUMMARIES = """
INSERT INTO metric_summaries
SELECT agent_id, service, metric, window_start, window_end, min, max, avg, last, p95, count
FROM rows_in
"""

# Each series' newest value and running aggregates of its current hour (by window
# start) and the one before, from the batch in `rows_in`: reads of "now" need no scan
# of the raw rows (a colony of 10,000 services writes ~50 M of them an hour). A batch
# may hold two hours of a series (`c`: its newest hour, `p`: the one before); data for
# hours older than those kept is stored (above) but not counted here.
UPSERT_SERIES_LATEST = """
INSERT INTO series_latest
SELECT n.service, n.metric, n.last, n.window_end, n.hour,
       c.weighted, c.count, c.min, c.max,
       coalesce(p.weighted, 0), coalesce(p.count, 0), p.min, p.max
FROM (
    SELECT service, metric, arg_max(last, window_end) AS last, max(window_end) AS window_end,
           max(date_trunc('hour', window_start)) AS hour
    FROM rows_in GROUP BY ALL
) n
JOIN batch_hours c USING (service, metric, hour)
LEFT JOIN batch_hours p
    ON p.service = n.service AND p.metric = n.metric AND p.hour = n.hour - INTERVAL 1 HOUR
ON CONFLICT (service, metric) DO UPDATE SET
    last = CASE WHEN excluded.window_end >= series_latest.window_end
                THEN excluded.last ELSE series_latest.last END,
    window_end = greatest(excluded.window_end, series_latest.window_end),
    hour = greatest(excluded.hour, series_latest.hour),
    weighted = CASE
        WHEN excluded.hour = series_latest.hour THEN series_latest.weighted + excluded.weighted
        WHEN excluded.hour > series_latest.hour THEN excluded.weighted
        ELSE series_latest.weighted END,
    count = CASE
        WHEN excluded.hour = series_latest.hour THEN series_latest.count + excluded.count
        WHEN excluded.hour > series_latest.hour THEN excluded.count
        ELSE series_latest.count END,
    min = CASE
        WHEN excluded.hour = series_latest.hour THEN least(series_latest.min, excluded.min)
        WHEN excluded.hour > series_latest.hour THEN excluded.min
        ELSE series_latest.min END,
    max = CASE
        WHEN excluded.hour = series_latest.hour THEN greatest(series_latest.max, excluded.max)
        WHEN excluded.hour > series_latest.hour THEN excluded.max
        ELSE series_latest.max END,
    prev_weighted = CASE
        WHEN excluded.hour = series_latest.hour
            THEN series_latest.prev_weighted + excluded.prev_weighted
        WHEN excluded.hour = series_latest.hour + INTERVAL 1 HOUR
            THEN series_latest.weighted + excluded.prev_weighted
        WHEN excluded.hour > series_latest.hour THEN excluded.prev_weighted
        WHEN excluded.hour = series_latest.hour - INTERVAL 1 HOUR
            THEN series_latest.prev_weighted + excluded.weighted
        ELSE series_latest.prev_weighted END,
    prev_count = CASE
        WHEN excluded.hour = series_latest.hour
            THEN series_latest.prev_count + excluded.prev_count
        WHEN excluded.hour = series_latest.hour + INTERVAL 1 HOUR
            THEN series_latest.count + excluded.prev_count
        WHEN excluded.hour > series_latest.hour THEN excluded.prev_count
        WHEN excluded.hour = series_latest.hour - INTERVAL 1 HOUR
            THEN series_latest.prev_count + excluded.count
        ELSE series_latest.prev_count END,
    prev_min = CASE
        WHEN excluded.hour = series_latest.hour
            THEN least(series_latest.prev_min, excluded.prev_min)
        WHEN excluded.hour = series_latest.hour + INTERVAL 1 HOUR
            THEN least(series_latest.min, excluded.prev_min)
        WHEN excluded.hour > series_latest.hour THEN excluded.prev_min
        WHEN excluded.hour = series_latest.hour - INTERVAL 1 HOUR
            THEN least(series_latest.prev_min, excluded.min)
        ELSE series_latest.prev_min END,
    prev_max = CASE
        WHEN excluded.hour = series_latest.hour
            THEN greatest(series_latest.prev_max, excluded.prev_max)
        WHEN excluded.hour = series_latest.hour + INTERVAL 1 HOUR
            THEN greatest(series_latest.max, excluded.prev_max)
        WHEN excluded.hour > series_latest.hour THEN excluded.prev_max
        WHEN excluded.hour = series_latest.hour - INTERVAL 1 HOUR
            THEN greatest(series_latest.prev_max, excluded.max)
        ELSE series_latest.prev_max END
"""

#: The batch in `rows_in` per series and UTC hour (for UPSERT_SERIES_LATEST).
BATCH_HOURS = """
CREATE OR REPLACE TEMP TABLE batch_hours AS
SELECT service, metric, date_trunc('hour', window_start) AS hour,
       sum(avg * count) AS weighted, sum(count)::BIGINT AS count,
       min(min) AS min, max(max) AS max
FROM rows_in GROUP BY ALL
"""

DELETE_LATEST = "DELETE FROM series_latest WHERE window_end < ?"

# The stored series_latest's definition and the database holding it (for a reader's own
# copy, storage.store._LatestCopy), and that copy's filling with the rows of the services
# named ($names; NULL: every one). {stored} is the stored table's qualified name: the
# copy shadows the unqualified one.
LATEST_DDL = """
SELECT database_name, sql FROM duckdb_tables()
WHERE database_name = current_database() AND schema_name = 'main'
  AND table_name = 'series_latest'
"""
COPY_LATEST = """
INSERT INTO temp.series_latest
SELECT * FROM {stored} WHERE $names IS NULL OR list_contains($names, service)
"""

# series_latest again from the last day of raw rows (after an unclean stop: summaries
# committed but not yet folded in were lost with the process). Series silent for longer
# keep their row.
REFOLD_SERIES_LATEST = """
INSERT OR REPLACE INTO series_latest
WITH bound AS (
    SELECT date_trunc('hour', max(window_start)) - INTERVAL 1 DAY AS hour FROM metric_summaries
), hours AS (
    SELECT service, metric, date_trunc('hour', window_start) AS hour,
           arg_max(last, window_end) AS last, max(window_end) AS window_end,
           sum(avg * count) AS weighted, sum(count)::BIGINT AS count,
           min(min) AS min, max(max) AS max
    FROM metric_summaries
    WHERE window_start >= (SELECT hour FROM bound)
    GROUP BY ALL
), newest AS (
    SELECT service, metric, max(hour) AS hour FROM hours GROUP BY ALL
    HAVING max(hour) > (SELECT hour FROM bound)
)
SELECT h.service, h.metric, h.last, h.window_end, h.hour, h.weighted, h.count,
       h.min, h.max, coalesce(p.weighted, 0), coalesce(p.count, 0), p.min, p.max
FROM newest n
JOIN hours h USING (service, metric, hour)
LEFT JOIN hours p ON p.service = n.service AND p.metric = n.metric
                 AND p.hour = n.hour - INTERVAL 1 HOUR
"""

LIST_AGENTS = """
SELECT a.agent_id, a.hostname, a.agent_version, a.peer, a.first_seen,
       greatest(a.last_seen, coalesce(p.seen, a.last_seen)), coalesce(p.seq, 0)
FROM agents a
LEFT JOIN (SELECT agent_id, max(seq) AS seq, max(seen) AS seen
           FROM agent_progress GROUP BY agent_id) p USING (agent_id)
ORDER BY a.agent_id
"""

# Each takes the service names wanted as a list, or NULL for every service: a page of
# services costs a page, not the whole colony (reads stay fast while agents push).
LIST_SERVICES = """
SELECT s.name, list(DISTINCT s.agent_id ORDER BY s.agent_id), flatten(list(s.pids)),
       list(DISTINCT s.spec ORDER BY s.spec), min(s.first_seen), max(s.last_seen)
FROM services s
WHERE $names IS NULL OR list_contains($names, s.name)
GROUP BY s.name
ORDER BY s.name
"""

SERVICE_ENDPOINTS = """
SELECT service, ip, port FROM service_endpoints
WHERE last_seen >= $since AND ($names IS NULL OR list_contains($names, service))
ORDER BY service, ip, port
"""

# The newest summary of each (service, metric), for a glance at current state.
LATEST_METRICS = """
SELECT service, metric, last, window_end
FROM series_latest
WHERE window_end >= $since AND ($names IS NULL OR list_contains($names, service))
"""

# Each metric of one service reported since ?: latest value, and the count-weighted
# average and extremes of its current and previous hour (from series_latest).
RECENT_GLANCE = """
SELECT metric, last,
       (weighted + prev_weighted) / greatest(count + prev_count, 1),
       least(min, prev_min), greatest(max, prev_max), window_end
FROM series_latest
WHERE service = $service AND window_end >= $since
ORDER BY metric
"""

LIST_EDGES = """
SELECT caller, callee, connections, first_seen, last_seen
FROM edges ORDER BY caller, callee
LIMIT ?
"""

# The edges that touch any of the services named ($names): one hop of a graph walk.
EDGES_TOUCHING = """
SELECT caller, callee, connections, first_seen, last_seen
FROM edges
WHERE caller IN (SELECT unnest($names)) OR callee IN (SELECT unnest($names))
ORDER BY caller, callee
"""

SERVICE_NAMES_FIRST = "SELECT DISTINCT name FROM services ORDER BY name LIMIT ?"

COUNT_SERVICES = "SELECT count(DISTINCT name) FROM services"

HAS_SERVICE = "SELECT 1 FROM services WHERE name = ? LIMIT 1"

# Peers that are no known service's listening socket: databases, third parties. Of the
# services named ($names), or of all (NULL); at most $limit.
EXTERNAL_PEERS = """
SELECT p.service, p.remote_ip, p.remote_port, sum(p.connections)::INTEGER, max(p.last_seen)
FROM peer_connections p
WHERE p.last_seen >= $since
  AND ($names IS NULL OR p.service IN (SELECT unnest($names)))
  AND NOT EXISTS (
      SELECT 1 FROM service_endpoints e WHERE e.ip = p.remote_ip AND e.port = p.remote_port
  )
GROUP BY p.service, p.remote_ip, p.remote_port
ORDER BY p.service, p.remote_ip, p.remote_port
LIMIT $limit
"""

# One series bucketed by `step` seconds: count-weighted avg, extremes, p95, last.
# Hours before the roll-up mark come from the hourly table, the rest from raw rows.
# Parameters: step, then (service, metric, start, end, rolled) for each source.
QUERY_METRIC = """
WITH src AS (
    SELECT hour AS ts, hour + INTERVAL 1 HOUR AS ts_end, min, max, avg, last, p95, count
    FROM metric_summaries_hourly
    WHERE service = ? AND metric = ? AND hour >= ? AND hour < ? AND hour < ?
    UNION ALL
    SELECT window_start, window_end, min, max, avg, last, p95, count
    FROM metric_summaries
    WHERE service = ? AND metric = ? AND window_start >= ? AND window_start < ?
      AND window_start >= ?
)
SELECT time_bucket(to_seconds(?::BIGINT), ts) AS bucket,
       sum(avg * count) / greatest(sum(count), 1), min(min), max(max), max(p95),
       sum(count)::BIGINT, arg_max(last, ts_end)
FROM src
GROUP BY bucket
ORDER BY bucket
"""

# series_latest and the hourly roll-ups: between them (and the summaries still waiting
# to be folded in, storage.latest) they name every series with raw rows, without
# scanning the raw rows.
METRIC_NAMES = """
SELECT metric FROM series_latest WHERE service = ?
UNION
SELECT metric FROM metric_summaries_hourly WHERE service = ?
ORDER BY metric
"""

SERVICE_NAMES = "SELECT DISTINCT name FROM services ORDER BY name"

INSERT_EVENT = """
INSERT INTO events (agent_id, ts, service, kind, severity, message, attributes)
VALUES (?, ?, ?, ?, ?, ?, MAP(?::VARCHAR[], ?::VARCHAR[]))
"""

# Newest first; service and kinds filters are optional (NULL: any).
LIST_EVENTS = """
SELECT agent_id, ts, service, kind, severity, message, map_keys(attributes), map_values(attributes)
FROM events
WHERE ts >= ? AND ts < ?
  AND (?::VARCHAR IS NULL OR service = ?)
  AND (?::VARCHAR[] IS NULL OR list_contains(?::VARCHAR[], kind))
ORDER BY ts DESC, service, kind
LIMIT ? OFFSET ?
"""

# Per metric of one service reported since $since: latest value, count-weighted average
# and extremes over whole UTC hours from the one holding $since: the hourly roll-ups up to
# the hour before the series' previous one, series_latest for that hour and its current
# one. Reads one row per series and hour, never the raw rows.
METRIC_GLANCE = """
WITH latest AS (
    SELECT * FROM series_latest WHERE service = $service AND window_end >= $since
), rolled AS (
    SELECT r.metric, sum(r.avg * r.count) AS weighted, sum(r.count) AS count,
           min(r.min) AS min, max(r.max) AS max
    FROM metric_summaries_hourly r JOIN latest l USING (metric)
    WHERE r.service = $service AND r.hour >= date_trunc('hour', $since)
      AND r.hour < l.hour - INTERVAL 1 HOUR
    GROUP BY r.metric
)
SELECT l.metric, l.last,
       (l.weighted + l.prev_weighted + coalesce(r.weighted, 0))
           / greatest(l.count + l.prev_count + coalesce(r.count, 0), 1),
       least(l.min, l.prev_min, r.min), greatest(l.max, l.prev_max, r.max), l.window_end
FROM latest l LEFT JOIN rolled r USING (metric)
ORDER BY l.metric
"""
