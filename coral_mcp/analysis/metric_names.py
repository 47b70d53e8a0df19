"""What a metric measures, read from its name: the analysis reasons by class, not name.

Names follow the agent's (`cpu_percent`, `rss_bytes`, `fds`, `connections`) and common
Prometheus habits (`*latency*`, `*error*`, `*_seconds`). A series named `<metric>_limit`
is the limit of `<metric>` (e.g. `fds_limit`, `rss_bytes_limit`).
"""

from __future__ import annotations

from enum import StrEnum

LIMIT_SUFFIX = "_limit"


class MetricClass(StrEnum):
    CPU = "cpu"
    THROTTLE = "throttle"
    MEMORY = "memory"
    FDS = "fds"
    CONNECTIONS = "connections"
    LATENCY = "latency"
    ERRORS = "errors"
    THROUGHPUT = "throughput"
    OTHER = "other"


_PATTERNS: tuple[tuple[MetricClass, tuple[str, ...]], ...] = (
    (MetricClass.THROTTLE, ("throttl",)),
    (MetricClass.CPU, ("cpu",)),
    (MetricClass.MEMORY, ("rss", "mem", "heap")),
    (MetricClass.FDS, ("fds", "file_desc", "open_files")),
    (MetricClass.CONNECTIONS, ("conn", "pool", "socket")),
    (MetricClass.LATENCY, ("latency", "duration", "response_time", "_seconds", "_ms")),
    (MetricClass.ERRORS, ("error", "5xx", "fail")),
    (MetricClass.THROUGHPUT, ("request", "rps", "qps", "throughput")),
)


def metric_class(name: str) -> MetricClass:
    lowered = name.lower()
    for cls, needles in _PATTERNS:
        if any(needle in lowered for needle in needles):
            return cls
    return MetricClass.OTHER


def is_limit(name: str) -> bool:
    return name.endswith(LIMIT_SUFFIX)


def limit_of(name: str) -> str:
    return name + LIMIT_SUFFIX
