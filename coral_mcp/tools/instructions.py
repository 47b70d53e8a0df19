"""What an assistant reads about Coral when it connects (the MCP `instructions`): one
string, in a module of its own so that `coral-mcp serve` can send it without importing
the tools."""

INSTRUCTIONS = """\
Coral watches the components of one distributed application through local agents and
keeps what they report in a colony. When something is wrong, call investigate first:
it ranks root-cause hypotheses with evidence. Otherwise start with list_services,
then get_service for one service, get_topology for who talks to whom, get_events for
what changed (crashes, restarts, deploys, OOM kills, health flips) and query_metrics for
a metric's history; find_anomalies and get_baselines show what is abnormal and what
normal is; query_agent fetches raw detail from the host itself. Times are UTC;
ranges accept RFC 3339, epoch seconds and relative forms ('15m', 'now-1h'). Coral only
observes: it never changes the application; recommend, never act."""
