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

# series_latest (storage.latest keeps it in memory): its snapshot in the file, loaded
# at open (times as epoch ms, a missing previous hour's extremes as +/-inf; a NULL is a
# NaN, which DuckDB stored from `rows_in` as NULL) and written from `rows_in` by
# maintenance and at close.
LOAD_SERIES_LATEST = """
SELECT service, metric, coalesce(last, 'nan'::DOUBLE) AS last,
       epoch_ms(window_end) AS window_end, epoch_ms(hour) AS hour,
       coalesce(weighted, 'nan'::DOUBLE) AS weighted, count,
       coalesce(min, 'nan'::DOUBLE) AS min, coalesce(max, 'nan'::DOUBLE) AS max,
       coalesce(prev_weighted, 'nan'::DOUBLE) AS prev_weighted, prev_count,
       coalesce(prev_min, 'inf'::DOUBLE) AS prev_min,
       coalesce(prev_max, '-inf'::DOUBLE) AS prev_max
FROM series_latest
"""
SAVE_SERIES_LATEST = (
    "DELETE FROM series_latest",
    """
    INSERT INTO series_latest
    SELECT service, metric, last, window_end, hour, weighted, count, min, max,
           prev_weighted, prev_count, nullif(prev_min, 'inf'::DOUBLE),
           nullif(prev_max, '-inf'::DOUBLE)
    FROM rows_in
    """,
)

# series_latest again from the last day of raw rows, as LOAD_SERIES_LATEST gives it
# (after an unclean stop: summaries committed since the last snapshot were lost with
# the process). Series silent for longer are not here: they keep the snapshot's row.
REFOLDED_SERIES_LATEST = """
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
SELECT h.service, h.metric, h.last, epoch_ms(h.window_end) AS window_end,
       epoch_ms(h.hour) AS hour, h.weighted, h.count, h.min, h.max,
       coalesce(p.weighted, 0) AS prev_weighted, coalesce(p.count, 0) AS prev_count,
       coalesce(p.min, 'inf'::DOUBLE) AS prev_min, coalesce(p.max, '-inf'::DOUBLE) AS prev_max
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

# A service's series_latest rows (storage.latest), given in `rows_in`, as the table `kept`.
# DuckDB reads a NaN in a NumPy column as NULL: replayed values may be NaN, which the
# arithmetic below keeps as NaN, as it did when the rows were a table's.
_KEPT = """
kept AS (
    SELECT * REPLACE (
        coalesce(last, 'nan'::DOUBLE) AS last, coalesce(weighted, 'nan'::DOUBLE) AS weighted,
        coalesce(min, 'nan'::DOUBLE) AS min, coalesce(max, 'nan'::DOUBLE) AS max,
        coalesce(prev_weighted, 'nan'::DOUBLE) AS prev_weighted,
        coalesce(prev_min, 'nan'::DOUBLE) AS prev_min,
        coalesce(prev_max, 'nan'::DOUBLE) AS prev_max
    )
    FROM rows_in
)"""

# Each metric of one service reported since $since: latest value, and the count-weighted
# average and extremes of its current and previous hour (a missing previous hour's
# extremes are +/-inf).
RECENT_GLANCE = f"""
WITH {_KEPT}
SELECT metric, last,
       (weighted + prev_weighted) / greatest(count + prev_count, 1),
       least(min, prev_min), greatest(max, prev_max), window_end
FROM kept
WHERE window_end >= $since
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

# The hourly roll-ups: with series_latest (storage.latest) they name every series with
# raw rows, without scanning the raw rows.
METRIC_NAMES = "SELECT DISTINCT metric FROM metric_summaries_hourly WHERE service = ?"

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
# one (the service's rows in `rows_in`, as for RECENT_GLANCE). Reads one row per series
# and hour, never the raw rows.
METRIC_GLANCE = f"""
WITH {_KEPT}, latest AS (
    SELECT * FROM kept WHERE window_end >= $since
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
