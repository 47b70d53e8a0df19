"""Small hand-checkable replay cases: web -> api -> db, plus an unrelated batch job.

Every series is a flat level with a fixed five-step wiggle; a fault changes the root at
sample FAULT_AT and its callers one or two samples later. Easy to check by eye.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from coral_mcp.intelligence.replay import save_case

T0 = 1_767_225_600
STEP = 60
N = 90
FAULT_AT = 60
EDGES = [("web", "api"), ("api", "db")]
SERVICES = ["web", "api", "db", "batch"]
LEVELS = {
    "cpu_percent": 20.0,
    "rss_bytes": 2e8,
    "fds": 40.0,
    "latency_ms": 50.0,
    "error_rate": 0.01,
}

Series = dict[tuple[str, str], np.ndarray]


def _wiggle(level: float) -> np.ndarray:
    return level * (1 + 0.03 * np.array([(-1, 0, 1, 0.5, -0.5)[i % 5] for i in range(N)]))


def normal() -> Series:
    series = {(s, m): _wiggle(v) for s in SERVICES for m, v in LEVELS.items()}
    for s in SERVICES:
        series[(s, "fds_limit")] = np.full(N, 1024.0)
        series[(s, "rss_bytes_limit")] = np.full(N, 1e9)
    return series


def slower_callers(series: Series, root: str) -> None:
    callers = {"db": ["api", "web"], "api": ["web"]}.get(root, [])
    for lag, caller in enumerate(callers, start=1):
        series[(caller, "latency_ms")][FAULT_AT + lag :] *= 2
        series[(caller, "error_rate")][FAULT_AT + lag :] += 0.05


def at(i: int) -> int:
    return T0 + i * STEP


def write_case(
    root_dir: Path,
    name: str,
    series: Series,
    events: list[tuple[int, str, str, str]] = (),  # type: ignore[assignment]
    label: tuple[str, str] | None = None,
    incident_time: int | None = at(FAULT_AT),
) -> Path:
    rows = (
        (at(i), service, metric, repr(float(values[i])))
        for i in range(N)
        for (service, metric), values in sorted(series.items())
        if not np.isnan(values[i])
    )
    root = {"service": label[0], "kind": label[1]} if label else None
    doc: dict[str, object] = {"incident_time": incident_time, "root_cause": root}
    return save_case(root_dir / name, rows, events, EDGES, doc)


def memory_leak(d: Path) -> Path:
    s = normal()
    s[("api", "rss_bytes")][FAULT_AT:] += 8e6 * np.arange(N - FAULT_AT)
    return write_case(d, "memory_leak", s, label=("api", "memory_leak"))


def crash_loop(d: Path) -> Path:
    s = normal()
    s[("db", "error_rate")][FAULT_AT:] += 0.3
    slower_callers(s, "db")
    events = [
        (at(i) + k, "db", kind, "exit status 1")
        for i in range(FAULT_AT, N, 3)
        for k, kind in ((0, "crash"), (5, "restart"))
    ]
    return write_case(d, "crash_loop", s, events, ("db", "crash_loop"))


def dependency_down(d: Path) -> Path:
    s = normal()
    for key in s:
        if key[0] == "db":
            s[key][FAULT_AT:] = np.nan
    slower_callers(s, "db")
    events = [(at(FAULT_AT + 1), "api", "dependency_lost", "peer=db")]
    return write_case(d, "dependency_down", s, events, ("db", "dependency_down"))


def cpu_saturation(d: Path) -> Path:
    s = normal()
    s[("api", "cpu_percent")][FAULT_AT:] = 98.0
    s[("api", "latency_ms")][FAULT_AT:] *= 2
    slower_callers(s, "api")
    return write_case(d, "cpu_saturation", s, label=("api", "cpu_saturation"))


def latency(d: Path) -> Path:
    s = normal()
    s[("db", "latency_ms")][FAULT_AT:] *= 4
    slower_callers(s, "db")
    return write_case(d, "latency", s, label=("db", "latency"))


def bad_deploy(d: Path) -> Path:
    s = normal()
    s[("api", "error_rate")][FAULT_AT:] += 0.15
    slower_callers(s, "api")
    events = [(at(FAULT_AT) - 30, "api", "deploy", "version=2.3.0 previous_version=2.2.5")]
    return write_case(d, "bad_deploy", s, events, ("api", "bad_deploy"))


def resource_exhaustion(d: Path) -> Path:
    s = normal()
    s[("db", "fds")][FAULT_AT:] = np.minimum(40 + 40 * np.arange(N - FAULT_AT), 1024)
    slower_callers(s, "db")
    return write_case(d, "resource_exhaustion", s, label=("db", "resource_exhaustion"))


def no_fault(d: Path) -> Path:
    return write_case(d, "no_fault", normal(), incident_time=None)


FAULTS: dict[str, Callable[[Path], Path]] = {
    f.__name__: f
    for f in (
        memory_leak,
        crash_loop,
        dependency_down,
        cpu_saturation,
        latency,
        bad_deploy,
        resource_exhaustion,
    )
}
