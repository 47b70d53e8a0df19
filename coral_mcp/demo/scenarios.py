"""The demo's faults, each with its ground truth, and the judge of Coral's answer.

A scenario names the service that is the root cause, the fault kinds that describe it
correctly (Coral's `FaultKind` has no `connection_leak`: a connection leak is
`resource_exhaustion`), and what the evidence of a right answer must mention: the
injected change itself (the deploy, the crashes, the stopped database, the CPU burn,
the slow answers, the growing connections). The judge reads an `investigate` result
(the MCP tool's structured output) and says whether, and at which rank, Coral found it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    #: What is done to the application, for a person.
    description: str
    #: The root-cause service (ground truth).
    service: str
    #: Fault kinds that describe the truth correctly (Coral's vocabulary).
    kinds: tuple[str, ...]
    #: A regex that the right hypothesis's evidence must match (source or description).
    evidence: str
    #: What a person would call the injected change, shown beside the verdict.
    change: str


NO_FAULT = "no_fault"

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "memory_leak",
            "api is redeployed as 1.5.0, which keeps every response it serves in memory",
            "api",
            ("memory_leak",),
            r"\bdeploy|version|1\.5\.0",
            "deploy of api 1.5.0 (leaks ~100 KB per request)",
        ),
        Scenario(
            "crash_loop",
            "api starts exiting with status 70 a few seconds after every start;"
            " its supervisor restarts it each time",
            "api",
            ("crash_loop",),
            r"crash|exit|restart",
            "api exits (status 70) ~4 s after each start",
        ),
        Scenario(
            "dependency_down",
            "PostgreSQL stops (fast shutdown): api answers 503, web answers 502",
            "postgres",
            ("dependency_down",),
            r"exit|stop|crash|down|gone|lost|health",
            "PostgreSQL stopped",
        ),
        Scenario(
            "cpu_saturation",
            "a busy loop starts inside api and takes a whole core",
            "api",
            ("cpu_saturation",),
            r"cpu",
            "CPU burn in api",
        ),
        Scenario(
            "latency",
            "the database function behind every item lookup starts sleeping 250 ms"
            " (pg_sleep in the query path)",
            "postgres",
            ("latency",),
            r"latenc|duration|slow|rtt|wait|_seconds",
            "pg_sleep(0.25) in shop_get_item()",
        ),
        Scenario(
            "connection_leak",
            "api opens a new PostgreSQL connection about once a second and never closes it",
            "api",
            ("resource_exhaustion", "connection_leak"),
            r"\bfds?\b|fd_|conn|socket",
            "api leaks one PostgreSQL connection per second",
        ),
        Scenario(
            "bad_deploy",
            "api is redeployed as 1.5.0, which fails a third of item requests with 500",
            "api",
            ("bad_deploy",),
            r"\bdeploy|version|1\.5\.0",
            "deploy of api 1.5.0 (500 on a third of requests)",
        ),
    )
}


@dataclass(frozen=True, slots=True)
class Verdict:
    """How Coral's answer compares with the ground truth."""

    #: 1-based rank of the first hypothesis naming the true service and a right kind
    #: (None: not among the hypotheses).
    rank: int | None
    #: The top hypothesis names the true service and a right kind, with the change in
    #: its evidence.
    correct: bool
    #: Confidence stated for the top hypothesis (None: no hypothesis).
    confidence: float | None
    #: "service: kind (confidence)" of the top hypotheses, best first.
    top: tuple[str, ...]
    #: Why the answer is not right, for a person ("" when it is).
    reason: str


def hypotheses(result: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list(result.get("hypotheses") or [])


def _evidence_text(hypothesis: Mapping[str, Any]) -> str:
    items: Sequence[Mapping[str, Any]] = hypothesis.get("evidence") or []
    return " | ".join(f"{e.get('source', '')} {e.get('description', '')}" for e in items)


def _line(h: Mapping[str, Any]) -> str:
    return f"{h['service']}: {h['kind']} ({float(h['confidence']):.2f})"


def judge(scenario: Scenario | None, result: Mapping[str, Any]) -> Verdict:
    """Judge an investigation against a scenario (None: no fault was injected)."""
    hyps = hypotheses(result)
    top = tuple(_line(h) for h in hyps[:5])
    confidence = float(hyps[0]["confidence"]) if hyps else None
    if scenario is None:
        quiet = result.get("outcome") == "no_significant_anomaly"
        reason = "" if quiet else f"no fault was injected, yet Coral answered {top[:3]}"
        return Verdict(None, quiet, confidence, top, reason)
    rank = next(
        (
            i
            for i, h in enumerate(hyps, 1)
            if h["service"] == scenario.service and h["kind"] in scenario.kinds
        ),
        None,
    )
    if not hyps:
        return Verdict(None, False, None, top, "Coral saw no significant anomaly")
    first = hyps[0]
    if rank != 1:
        return Verdict(rank, False, confidence, top, f"top hypothesis is {_line(first)}")
    if not re.search(scenario.evidence, _evidence_text(first), re.IGNORECASE):
        return Verdict(
            rank,
            False,
            confidence,
            top,
            f"evidence does not show the injected change ({scenario.change})",
        )
    return Verdict(rank, True, confidence, top, "")
