"""Generate the scenario library: fault cases in the replay format (docs/replay.md).

Usage: python scripts/gen_scenarios.py [OUT_DIR]   (default: tests/data/scenarios)

Deterministic (seeded). Seven fault kinds x three topologies (chain, fan-out, shared
database) x two variants, plus cases with no fault. Variants add heavy noise, missing
samples and gaps, a concurrent unrelated anomaly, an unrelated deploy, and a given
incident time that is off by 60-300 s or absent; the hardest make the root show only 15 %
of its effect while its callers show all of it ("subtle"), or put a deploy on a
caller of the root just before the incident ("confounder"). Faults propagate to every dependent
(callers) a minute or two later, with smaller effect.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from coral_mcp.intelligence.replay import save_case

ROOT = Path(__file__).resolve().parent.parent
STEP_S = 60
POINTS = 120
START_S = 1_767_225_600  # 2026-01-01T00:00:00Z

TOPOLOGIES: dict[str, list[tuple[str, str]]] = {
    "chain": [("frontend", "api"), ("api", "worker"), ("worker", "db")],
    "fanout": [
        ("frontend", "cart"),
        ("frontend", "catalog"),
        ("frontend", "checkout"),
        ("checkout", "payment"),
        ("cart", "redis"),
    ],
    "shared_db": [
        ("gateway", "orders"),
        ("gateway", "users"),
        ("gateway", "inventory"),
        ("orders", "postgres"),
        ("users", "postgres"),
        ("inventory", "postgres"),
    ],
}
#: Root-cause service per (topology, kind).
ROOTS = {
    "chain": {
        "memory_leak": "worker",
        "crash_loop": "api",
        "dependency_down": "db",
        "cpu_saturation": "worker",
        "latency": "db",
        "bad_deploy": "api",
        "resource_exhaustion": "worker",
    },
    "fanout": {
        "memory_leak": "catalog",
        "crash_loop": "payment",
        "dependency_down": "redis",
        "cpu_saturation": "checkout",
        "latency": "payment",
        "bad_deploy": "checkout",
        "resource_exhaustion": "cart",
    },
    "shared_db": {
        "memory_leak": "users",
        "crash_loop": "inventory",
        "dependency_down": "postgres",
        "cpu_saturation": "postgres",
        "latency": "postgres",
        "bad_deploy": "orders",
        "resource_exhaustion": "postgres",
    },
}
KINDS = list(ROOTS["chain"])
UNRELATED = "batch"

Series = dict[tuple[str, str], np.ndarray]


def _services(edges: list[tuple[str, str]]) -> list[str]:
    return sorted({s for e in edges for s in e} | {UNRELATED})


def _dependents(edges: list[tuple[str, str]], root: str) -> set[str]:
    out, stack = set(), [root]
    while stack:
        node = stack.pop()
        for caller, callee in edges:
            if callee == node and caller not in out:
                out.add(caller)
                stack.append(caller)
    return out


def _normal(rng: np.random.Generator, services: list[str], noise: float) -> Series:
    series: Series = {}
    for s in services:
        cpu = rng.uniform(10, 40)
        series[(s, "cpu_percent")] = cpu + rng.normal(0, noise * 0.05 * cpu, POINTS)
        rss = rng.uniform(1e8, 4e8)
        series[(s, "rss_bytes")] = rss + rng.normal(0, noise * 0.01 * rss, POINTS)
        series[(s, "rss_bytes_limit")] = np.full(POINTS, 1e9)
        series[(s, "fds")] = np.round(rng.uniform(30, 80) + rng.normal(0, noise, POINTS))
        series[(s, "fds_limit")] = np.full(POINTS, 1024.0)
        series[(s, "connections")] = np.round(rng.uniform(5, 20) + rng.normal(0, noise, POINTS))
        lat = rng.uniform(20, 80)
        series[(s, "latency_ms")] = lat + rng.normal(0, noise * 0.06 * lat, POINTS)
        series[(s, "error_rate")] = np.abs(0.005 + rng.normal(0, noise * 0.002, POINTS))
        for i in rng.choice(POINTS, 3, replace=False):  # one-sample blips: not anomalies
            series[(s, "latency_ms")][i] *= 2.5
    return series


def _propagate(series: Series, victims: set[str], at: int, rng: np.random.Generator) -> None:
    for v in victims:
        lag = at + int(rng.integers(1, 3))
        series[(v, "latency_ms")][lag:] *= rng.uniform(1.6, 2.5)
        series[(v, "error_rate")][lag:] += rng.uniform(0.02, 0.06)


def _inject(
    kind: str,
    series: Series,
    root: str,
    at: int,
    rng: np.random.Generator,
    events: list[list[str]],
    victims: set[str],
) -> None:
    ts = [str(START_S + i * STEP_S) for i in range(POINTS)]
    n = POINTS - at
    if kind == "memory_leak":
        base = series[(root, "rss_bytes")][at]
        series[(root, "rss_bytes")][at:] += np.linspace(0, 0.85e9 - base, n)
        series[(root, "latency_ms")][at + n // 2 :] *= 1.5
        if rng.random() < 0.5:
            events.append([ts[POINTS - 3], root, "oom_kill", "rss over limit"])
        _propagate(series, victims, at + n // 2, rng)
        return
    if kind == "crash_loop":
        for i in range(at, POINTS, 4):
            events.append([ts[i], root, "crash", "exit status 1"])
            events.append([str(START_S + i * STEP_S + 5), root, "restart", "restarted"])
            series[(root, "rss_bytes")][i : i + 2] *= 0.3
        series[(root, "error_rate")][at:] += 0.2
    elif kind == "dependency_down":
        for key in list(series):
            if key[0] == root:
                series[key][at:] = np.nan
        if rng.random() < 0.6:
            events.append([ts[at], root, "health_flip", "healthy -> unreachable"])
        for caller in sorted(c for c, e in TOPO_EDGES if e == root):
            events.append([ts[at + 1], caller, "dependency_lost", f"peer={root}"])
    elif kind == "cpu_saturation":
        series[(root, "cpu_percent")][at:] = rng.uniform(95, 99.5, n)
        series[(root, "latency_ms")][at:] *= 2.0
    elif kind == "latency":
        series[(root, "latency_ms")][at:] *= rng.uniform(3, 5)
    elif kind == "bad_deploy":
        events.append(
            [
                str(START_S + at * STEP_S - 30),
                root,
                "deploy",
                "version=2.3.0 previous_version=2.2.5",
            ]
        )
        series[(root, "error_rate")][at:] += rng.uniform(0.08, 0.2)
        series[(root, "latency_ms")][at:] *= 1.3
    elif kind == "resource_exhaustion":
        metric, limit = ("fds", 1024.0)
        start = series[(root, metric)][at]
        ramp = np.minimum(np.linspace(start, limit * 1.3, n), limit)
        series[(root, metric)][at:] = np.round(ramp)
        series[(root, "error_rate")][at + n // 3 :] += 0.1
    _propagate(series, victims, at, rng)


TOPO_EDGES: list[tuple[str, str]] = []


def make_case(
    out: Path, name: str, topology: str, kind: str | None, seed: int, variant: dict[str, bool]
) -> Path:
    global TOPO_EDGES  # noqa: PLW0603 - read by _inject for dependency_lost events
    rng = np.random.default_rng(seed)
    edges = TOPOLOGIES[topology]
    TOPO_EDGES = edges
    services = _services(edges)
    series = _normal(rng, services, 3.0 if variant.get("noisy") else 1.0)
    events: list[list[str]] = []
    at = int(rng.integers(60, 85))
    root = ROOTS[topology][kind] if kind else None
    if kind and root:
        before = {k: v.copy() for k, v in series.items() if k[0] == root}
        _inject(kind, series, root, at, rng, events, _dependents(edges, root))
        if variant.get("subtle"):  # the root shows 15 % of the effect; callers all of it
            for key, old in before.items():
                new = series[key]
                series[key] = np.where(np.isnan(new), new, old + 0.15 * (new - old))
        if variant.get("confounder"):  # a caller of the root deployed just before
            caller = sorted(c for c, e in edges if e == root)[0]
            ts = START_S + at * STEP_S - int(rng.integers(60, 240))
            events.append([str(ts), caller, "deploy", "version=3.1.0 previous_version=3.0.9"])
    if variant.get("concurrent"):
        other = int(rng.integers(at - 8, at + 9))  # around the incident
        series[(UNRELATED, "cpu_percent")][other:] += rng.uniform(15, 30)
    if variant.get("unrelated_deploy"):
        target = sorted(set(services) - {root or ""})[0]
        events.append(
            [
                str(START_S + (at - 40) * STEP_S),
                target,
                "deploy",
                "version=1.4.1 previous_version=1.4.0",
            ]
        )
    if variant.get("missing"):
        for key in series:
            series[key][rng.random(POINTS) < 0.05] = np.nan
        series[(UNRELATED, "fds")][30:35] = np.nan
    incident: float | None = START_S + at * STEP_S
    if variant.get("offset"):
        incident = incident + float(rng.choice([-1, 1]) * rng.integers(60, 301))  # type: ignore[operator]
    if variant.get("no_time"):
        incident = None
    doc = {
        "variant": sorted(k for k, on in variant.items() if on),
        "incident_time": incident,
        "root_cause": {"service": root, "kind": kind} if kind else None,
    }
    rows = (
        (START_S + i * STEP_S, service, metric, f"{values[i]:.6g}")
        for i in range(POINTS)
        for (service, metric), values in sorted(series.items())
        if not np.isnan(values[i])
    )
    ordered = sorted(events, key=lambda e: float(e[0]))
    return save_case(out / name, rows, ordered, edges, doc)


VARIANTS = [
    {"noisy": True, "offset": True},
    {"missing": True, "concurrent": True, "no_time": False, "offset": True},
    {"unrelated_deploy": True, "no_time": True},
    {"concurrent": True, "offset": True},
    {"missing": True},
    {"noisy": True, "no_time": True, "concurrent": True},
    {"subtle": True, "offset": True},
    {"confounder": True, "missing": True},
]


def generate(out: Path) -> list[Path]:
    cases = []
    seed = 0
    for topology in TOPOLOGIES:
        for k, kind in enumerate(KINDS):
            for rep in range(2):
                seed += 1
                variant = VARIANTS[(k * 2 + rep + len(topology)) % len(VARIANTS)]
                cases.append(
                    make_case(out, f"{topology}-{kind}-{rep}", topology, kind, seed, variant)
                )
    quiet = [{"noisy": True}, {"missing": True}, {"unrelated_deploy": True, "no_time": True}]
    for i, topology in enumerate(TOPOLOGIES):
        cases.append(make_case(out, f"{topology}-no_fault", topology, None, 1000 + i, quiet[i]))
    return cases


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "tests" / "data" / "scenarios"
    made = generate(target)
    print(f"wrote {len(made)} cases to {target}")
