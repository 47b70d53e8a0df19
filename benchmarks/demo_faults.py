"""Coral on a live application: each fault of `coral demo`, several times, on one running
shop (web -> api -> PostgreSQL + Redis, one agent per service, `--service NAME=port:N`
only). Per scenario: how often the top hypothesis is right (service, fault kind and the
injected change in its evidence), the time from the fault to the first right answer,
the rank of the true cause and the stated confidence. The reference in the same run: the
no-fault runs, where the right answer is "no significant anomaly".

    flock /tmp/coral-bench.lock python benchmarks/demo_faults.py --runs 3 --json out.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from common import append_result

from coral_mcp.demo.scenarios import SCENARIOS
from coral_mcp.demo.stack import Diagnosis, Stack, Timing

#: Faults that restart api last (each run has a fresh colony and agents anyway).
ORDER = [
    "latency",
    "cpu_saturation",
    "connection_leak",
    "dependency_down",
    "bad_deploy",
    "memory_leak",
    "crash_loop",
]


def _say(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)


def _record(d: Diagnosis) -> dict[str, Any]:
    top = d.result.get("hypotheses") or []
    return {
        "scenario": d.scenario.name if d.scenario else "no_fault",
        "truth": [d.scenario.service, list(d.scenario.kinds)] if d.scenario else None,
        "correct": d.verdict.correct,
        "rank": d.verdict.rank,
        "confidence": d.verdict.confidence,
        "seconds_to_correct": d.seconds_to_correct,
        "questions": d.questions,
        "reason": d.verdict.reason,
        "outcome": d.result.get("outcome"),
        "summary": d.result.get("summary"),
        "top": [
            {
                "service": h["service"],
                "kind": h["kind"],
                "confidence": h["confidence"],
                "evidence": [f"{e['source']}: {e['description']}" for e in h["evidence"]][:6],
            }
            for h in top[:3]
        ],
    }


def _line(name: str, runs: list[dict[str, Any]]) -> str:
    if name == "no_fault":
        quiet = sum(r["correct"] for r in runs)
        tops = "; ".join(
            r["top"][0]["service"] + " " + r["top"][0]["kind"] for r in runs if r["top"]
        )
        return f"no_fault (reference): {quiet}/{len(runs)} said no significant anomaly" + (
            f"; otherwise top was {tops}" if tops else ""
        )
    right = [r for r in runs if r["correct"]]
    times = [r["seconds_to_correct"] for r in right]
    ranks = ",".join("-" if r["rank"] is None else str(r["rank"]) for r in runs)
    confs = ",".join("-" if r["confidence"] is None else f"{r['confidence']:.2f}" for r in runs)
    tops = "; ".join(
        (r["top"][0]["service"] + " " + r["top"][0]["kind"]) if r["top"] else "none" for r in runs
    )
    median = f"median {statistics.median(times):.0f} s" if times else "never"
    return (
        f"{name}: right {len(right)}/{len(runs)}, time to right answer {median};"
        f" rank of truth per run {ranks}; top confidence per run {confs}; top per run: {tops}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scenarios", default=",".join(ORDER))
    parser.add_argument("--reference", type=float, default=20.0, help="seconds normal before")
    parser.add_argument("--deadline", type=float, default=60.0, help="seconds after the fault")
    parser.add_argument("--settle", type=float, default=0.0)
    parser.add_argument("--json", type=Path, default=None, help="write every run here")
    parser.add_argument("--no-append", action="store_true")
    parser.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="keep each run's colony data here (investigated again by demo_replay.py)",
    )
    args = parser.parse_args()
    names = [n for n in args.scenarios.split(",") if n]
    timing = Timing(deadline_s=args.deadline)
    results: dict[str, list[dict[str, Any]]] = {n: [] for n in ["no_fault", *names]}
    started = time.monotonic()
    with Stack(timing, _say, keep=args.keep) as stack:
        stack.run_normally(20)
        first = True
        for run in range(args.runs):
            for name in ["no_fault", *names]:
                _say(f"run {run + 1}/{args.runs}: {name}")
                scenario = None if name == "no_fault" else SCENARIOS[name]
                d = stack.run_scenario(scenario, args.reference, args.settle, fresh=not first)
                first = False
                results[name].append(_record(d))
                if args.json:
                    args.json.write_text(json.dumps(results, indent=2))
    wall = time.monotonic() - started
    lines = [
        f"setup: one shop for all runs (web, api as Python processes; PostgreSQL 15 and Redis 7"
        f" from Debian); colony + 4 agents given only --service NAME=port:N, interval"
        f" {timing.interval_s:g} s, push {timing.push_s:g} s, socket scan {timing.socket_scan_s:g}"
        f" s; load {timing.rate_per_s:g} req/s; per run a fresh colony and agents (the shop"
        f" runs on), {args.reference:g} s normal, fault,"
        f" Coral asked from {timing.first_look_s:g} s every {timing.poll_s:g} s until right or"
        f" {args.deadline:g} s; investigated range = the normal stretch + the fault; rank and"
        " confidence are those of the answer judged (the first right one, else the last)",
        *[_line(n, results[n]) for n in results],
        f"wall time {wall / 60:.1f} min",
    ]
    command = "flock /tmp/coral-bench.lock python benchmarks/demo_faults.py " + " ".join(
        sys.argv[1:]
    )
    text = (
        "\n".join(lines)
        if args.no_append
        else append_result("Live faults on the demo shop (coral demo scenarios)", command, lines)
    )
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
