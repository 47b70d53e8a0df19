"""What a caller measures of one callee is evidence about that callee.

The agent measures, over a service's outbound TCP connections, how long the peer takes
to answer (`tcp_wait_ms`), per peer when the service talks to two peers or more
(`tcp_wait_ms@10.0.0.5:5432`). A peer that answers slowly (a database sleeping in a
query, a store stalled on disk) may show nothing in its own process metrics; its
callers' waits on it are then the only evidence. So each per-peer series whose peer is
a known service's listening endpoint becomes a series of that callee (`wait_ms<-api`:
its answer time as api saw it), and a caller with one callee and no per-peer series
lends its own series to that callee the same way. The caller keeps its series (latency
of its outgoing calls: evidence about its callees, never against itself).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from coral_mcp.analysis.detect import Series
from coral_mcp.analysis.metric_names import FROM_CALLER, is_dependency_latency
from coral_mcp.analysis.topology import ServiceGraph
from coral_mcp.models import Event

#: The separator of a per-peer series: `METRIC@IP:PORT`.
PEER_SEPARATOR = "@"
#: Transport metrics of a caller about its peers, and their names as the callee's. The
#: round-trip time is not one of them: on a busy host it rises with the caller's own
#: scheduling delays (a CPU burn in the caller raised its rtt to an idle Redis fivefold).
PEER_METRICS = {"tcp_wait_ms": "wait_ms"}
#: Listening addresses that accept connections to any local address.
_ANY = ("0.0.0.0", "::", "[::]", "*")


def resolve_peer(peer: str, endpoints: Mapping[str, str]) -> str | None:
    """The service listening at `peer` ("IP:PORT"), by exact address or, when one
    service listens on that port on every address, by port."""
    if peer in endpoints:
        return endpoints[peer]
    port = peer.rsplit(":", 1)[-1]
    wild = {s for ep, s in endpoints.items() if ep.rsplit(":", 1)[-1] == port and _is_any(ep)}
    return next(iter(wild)) if len(wild) == 1 else None


def _is_any(endpoint: str) -> bool:
    return endpoint.rsplit(":", 1)[0] in _ANY


def callee_series(
    series: Sequence[Series], endpoints: Mapping[str, str], graph: ServiceGraph
) -> list[Series]:
    """The callees' series made from their callers' measurements of them."""
    made: list[Series] = []
    per_peer: set[tuple[str, str]] = set()
    for s in series:
        base, sep, peer = s.metric.partition(PEER_SEPARATOR)
        if not sep or base not in PEER_METRICS:
            continue
        per_peer.add((s.service, base))
        callee = resolve_peer(peer, endpoints)
        if callee is not None and callee != s.service:
            made.append(_as_callee(s, callee, PEER_METRICS[base]))
    for s in series:
        if s.metric not in PEER_METRICS or (s.service, s.metric) in per_peer:
            continue
        callees = graph.callees(s.service)
        if len(callees) == 1 and is_dependency_latency(s.metric):
            made.append(_as_callee(s, next(iter(callees)), PEER_METRICS[s.metric]))
    return made


def name_peers(events: Sequence[Event], endpoints: Mapping[str, str]) -> list[Event]:
    """Events naming a peer endpoint (`peer=IP:PORT`: a dependency lost or new) with the
    service listening there added (`peer_service`), so that a caller's lost connection
    counts against the service it lost."""
    out = []
    for e in events:
        attrs = dict(e.attributes)
        peer = attrs.get("peer")
        service = resolve_peer(peer, endpoints) if peer and "peer_service" not in attrs else None
        named = (*e.attributes, ("peer_service", service)) if service else e.attributes
        out.append(replace(e, attributes=named) if service else e)
    return out


def _as_callee(s: Series, callee: str, name: str) -> Series:
    return Series(callee, f"{name}{FROM_CALLER}{s.service}", s.ts_s, s.values, step_s=s.step_s)
