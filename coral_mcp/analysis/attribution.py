"""Latency attribution along the call graph: which callee slowed its callers.

A delayed or slow callee often barely moves its own metrics (a network delay on its
interface leaves its CPU, memory and even its server-side latency alone): what moves is
the latency its callers see on their outgoing calls. When callers slow down and no
anomalous callee of theirs explains it, the cause is a callee whose fault does not show,
and the call graph says which one fits:

- every caller of it slowed down (a slow callee is slow for all who call it), counted
  once per caller; a caller that slowed down because a slowed caller of the callee passed
  the delay on (its own served latency rose) counts too;
- a caller of it that kept its usual outgoing latency is evidence against it (weighed
  less than agreement: a caller's outgoing latency mixes all of its callees, so a little
  delay on one of them can vanish in the mix);
- a service that slowed its own outgoing calls while calling nothing known is its own
  suspect (the slow part is its own network, or a dependency nobody reported);
- a service whose own outgoing calls slowed down passes latency on from below: that counts
  against it as the cause.

Pure: per-service changes at the onset in, scored suspects out.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass

from coral_mcp.analysis.topology import ServiceGraph

#: A change of at least this robust z (persisting, upward) at the onset is a slowdown.
SLOWED_Z = 3.0
#: Weight of a caller that did not slow down, against one that did.
AGAINST_WEIGHT = 0.5
#: Weight of a service's own slowed outgoing calls when it calls nothing known.
SELF_WEIGHT = 0.5
#: Weight against a suspect whose own outgoing calls slowed (something below it).
PASSES_ON_WEIGHT = 1.0


@dataclass(frozen=True, slots=True)
class Slowdowns:
    """Per service, the rise (robust z at the onset, persisting, upward) of the latency
    it sees on its outgoing calls, and of the latency it serves with (needed only for
    services whose calls slowed); a service without such a series is absent (no
    evidence either way)."""

    outgoing: Mapping[str, float]
    served: Mapping[str, float]
    #: The onset the rises were measured at (epoch s).
    onset_s: float


@dataclass(frozen=True, slots=True)
class Attribution:
    service: str
    #: Agreement of the callers' slowdowns with this service being slow (see module doc).
    score: float
    #: Slowed callers (and callers' callers the delay reached) it explains.
    explained: tuple[str, ...]
    #: Callers whose outgoing latency did not change.
    unchanged: tuple[str, ...]
    #: The largest slowdown (robust z) among the callers it explains.
    strength: float


def attribute(
    graph: ServiceGraph,
    outgoing: Mapping[str, float],
    served: Mapping[str, float],
    anomalous: Set[str] = frozenset(),
) -> list[Attribution]:
    """Suspects for slowdowns no anomalous callee explains, best first.

    `outgoing[s]`: the rise (robust z at the onset) of the latency `s` sees on its
    outgoing calls, for services that report one; `served[s]`: the rise of the latency
    it serves with; `anomalous`: services with evidence of their own (never suspects
    here, and a slowdown of their callers is theirs to explain)."""
    slowed = {p for p, z in outgoing.items() if z >= SLOWED_Z}
    unexplained = {p for p in slowed if not (graph.callees(p) & anomalous)}
    if not unexplained:
        return []
    candidates: set[str] = set()
    for p in unexplained:
        candidates |= graph.callees(p) or {p}
    out = []
    for c in sorted(candidates - anomalous):
        found = _attribution(c, graph, outgoing, served, slowed, unexplained)
        if found is not None:
            out.append(found)
    return sorted(out, key=lambda a: (-a.score, -a.strength, a.service))


def _attribution(
    c: str,
    graph: ServiceGraph,
    outgoing: Mapping[str, float],
    served: Mapping[str, float],
    slowed: set[str],
    unexplained: set[str],
) -> Attribution | None:
    callers = graph.callers(c)
    explained = set(callers & slowed)
    # The delay travels on through callers that serve slower themselves.
    passing = [q for q in callers & slowed if served.get(q, 0.0) >= SLOWED_Z]
    for q in passing:
        explained |= graph.callers(q) & slowed
    explained.discard(c)
    own = c in unexplained and not graph.callees(c)
    if not own and not (explained & unexplained):
        return None
    unchanged = sorted(p for p in callers if p in outgoing and p not in slowed)
    score = len(explained) + (SELF_WEIGHT if own else 0.0) - AGAINST_WEIGHT * len(unchanged)
    if c in slowed and graph.callees(c):
        score -= PASSES_ON_WEIGHT
    if score <= 0:
        return None
    strength = max((outgoing[p] for p in explained), default=0.0)
    return Attribution(c, score, tuple(sorted(explained)), tuple(unchanged), strength)
