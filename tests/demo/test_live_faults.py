"""The live fault suite: Coral diagnosing the real demo shop, end to end.

One shop for the whole module (web and api as Python processes, a private PostgreSQL and
Redis from Debian, steady load), a real colony and one real agent per service given only
`--service NAME=port:N`. Each scenario starts a fresh colony and agents (so that no earlier fault
is part of its history), runs normally for a while, injects its fault, asks
the colony's `investigate` tool (the official MCP client) until the answer is right or
the deadline passes, then heals the fault. The top hypothesis must name the true service
and fault kind, with the injected change in its evidence; with no fault, the answer
must be "no significant anomaly".

A scenario marked xfail is one today's analysis does not get right in every run (see
benchmarks/RESULTS.md, "Live faults on the demo shop"); the assertion itself is the
issue's, unweakened.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from coral_mcp.demo.scenarios import SCENARIOS
from coral_mcp.demo.stack import Diagnosis, Stack, Timing
from coral_mcp.demo.stores import check_installed
from coral_mcp.errors import ConfigError

# One worker runs the whole suite, so the shop (a module fixture) is made once; under
# `make test` it starts first, beside everything else (tests/conftest.py, START_FIRST).
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("live-faults"), pytest.mark.timeout(900)]

#: Seconds of normal running before each fault (the investigated range starts there).
REFERENCE_S = 20.0
#: Seconds for the shop to recover after a fault is healed (the next scenario's fresh
#: colony and agents take ~8 s to start as well).
SETTLE_S = 0.0
#: Asked from 15 s after the fault, every 5 s, until right or 60 s: generous, as the
#: machine running the suite may be busy (a leak needs ~40 s to show as a trend).
TIMING = Timing(first_look_s=15.0, poll_s=5.0, deadline_s=60.0)


def _today(reason: str) -> pytest.MarkDecorator:
    return pytest.mark.xfail(strict=False, reason=f"live runs: {reason}")


#: Each scenario gets a fresh colony and agents (the shop runs on), so that one fault's
#: events are not priors for the next. A scenario keeps an xfail mark only while it is
#: not right in 3 of 3 live runs (RESULTS.md, "Live faults on the demo shop"), with what
#: Coral answered instead. Every scenario was right in 3 of 3 runs of demo_faults.py on a
#: loaded machine (2026-11-28 13:53-15:00, the last beside an extra bursty CPU load) once
#: a dependency's activity from an all-zero reference no longer made its caller a victim
#: (before: cpu_saturation 2/3, connection_leak failed in CI), and with no fault Coral
#: was quiet in 11 of 11 answers beside that load once slowdowns the host's CPU queue
#: explains were no incident (before: 8/10).
UNRELIABLE: dict[str, str] = {}
ORDER = [
    pytest.param(name, marks=[_today(UNRELIABLE[name])] if name in UNRELIABLE else [])
    for name in (
        "latency",
        "cpu_saturation",
        "connection_leak",
        "dependency_down",
        "bad_deploy",
        "memory_leak",
        "crash_loop",
    )
]


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    try:
        check_installed()
    except ConfigError as exc:
        pytest.skip(f"{exc.message} ({exc.hint})")
    log = tmp_path_factory.mktemp("demo") / "progress.log"

    def say(message: str) -> None:
        with log.open("a") as out:
            out.write(message + "\n")

    # CORAL_DEMO_KEEP=DIR keeps each scenario's colony data for benchmarks/demo_replay.py.
    keep = os.environ.get("CORAL_DEMO_KEEP")
    with Stack(TIMING, say, keep=Path(keep) if keep else None) as stack:
        stack.run_normally(10)
        yield stack


def _explain(d: Diagnosis) -> str:
    hyps = (d.result.get("hypotheses") or [])[:3]
    lines = [f"{d.verdict.reason}; answers over time: {[(t, v.top[:1]) for t, v in d.history]}"]
    for h in hyps:
        evidence = [f"{e['source']}: {e['description']}" for e in h["evidence"][:4]]
        lines.append(f"  {h['service']} {h['kind']} {h['confidence']}: {evidence}")
    return "\n".join(lines)


@pytest.mark.parametrize("name", ORDER)
def test_coral_names_the_faulty_service_the_fault_and_the_change(shop: Stack, name: str) -> None:
    scenario = SCENARIOS[name]
    d = shop.run_scenario(scenario, REFERENCE_S, SETTLE_S, fresh=True)
    assert d.verdict.correct, _explain(d)


def test_with_no_fault_coral_sees_no_significant_anomaly(shop: Stack) -> None:
    """Last, with a fresh colony and agents as every scenario has: the shop running
    steadily, nothing injected. Run first, its reference fell in the first seconds of
    `make test`, when every other worker starts its processes on the same two cores at
    once; beside that burst the shop's answers get 3-8 times slower and Coral has named
    a latency lead (3 of 5 full-suite runs on 2026-11-28: a known limitation, recorded in
    benchmarks/RESULTS.md, "No fault beside the start of the test suite")."""
    d = shop.run_scenario(None, REFERENCE_S, SETTLE_S, fresh=True)
    assert d.verdict.correct, _explain(d)
