"""What a metric measures, read from its name: the analysis reasons by class, not name.

Names follow the agent's (`cpu_percent`, `rss_bytes`, `fds`, `connections`) and common
Prometheus habits (`*latency*`, `*error*`, `*_seconds`). A series named `<metric>_limit`
is the limit of `<metric>` (e.g. `fds_limit`, `rss_bytes_limit`).

Two roles matter to the diagnosis beyond the class. Host-level series (the agent's
pseudo-service `host`, or a service's `node_*` / `host_*` metrics, as Kubernetes exports
the node a pod runs on) describe the machine, not the service: they are context, never a
root cause. Throughput (request rate) moves with load or with an upstream failure: an
effect, not a cause on its own.
"""

from __future__ import annotations

import re
from enum import StrEnum
from functools import lru_cache

from coral_mcp.models.metrics import ABSOLUTE_BANDS, CPU_WAIT, SCHED_PREFIX

LIMIT_SUFFIX = "_limit"
#: The agent's pseudo-service for host-wide series.
HOST_SERVICE = "host"
#: Metric-name prefixes of host-level series reported beside a service's own.
HOST_PREFIXES = ("node_", "host_", "machine_")


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
    # connections opened or closed per second: churn moves with traffic
    (MetricClass.THROUGHPUT, ("_opened", "_closed", "accepted")),
    (MetricClass.ERRORS, ("connect_fail",)),
    (MetricClass.CPU, ("cpu",)),
    (MetricClass.MEMORY, ("rss", "mem", "heap")),
    (MetricClass.FDS, ("fds", "file_desc", "open_files")),
    (MetricClass.CONNECTIONS, ("conn", "pool", "socket")),
    (MetricClass.LATENCY, ("latency", "duration", "response_time", "_seconds", "_ms")),
    (MetricClass.ERRORS, ("error", "5xx", "fail")),
    (MetricClass.THROUGHPUT, ("request", "rps", "qps", "throughput")),
)


#: `wait_ms<-api`: a callee's series made from what its caller api measured of it
#: (analysis.peers); the caller's name says nothing about the class.
FROM_CALLER = "<-"
#: The count of a latency histogram or summary (`..._seconds_count`): how many requests
#: were timed, i.e. throughput.
_TIMED_COUNT = re.compile(r"(seconds|_ms|milliseconds|duration|latency)_count")
#: A status-code label of a server error (`code="503"`, `status="5xx"`).
_SERVER_ERROR = re.compile(r'(code|status)(_code)?="5(\d\d|xx)"')


@lru_cache(maxsize=8192)
def metric_class(name: str) -> MetricClass:
    lowered = name.lower().split(FROM_CALLER, 1)[0]
    if lowered.startswith(SCHED_PREFIX):
        # The scheduler's (`sched_wait_ms`: how long the service waited for a CPU): the
        # host's doing, neither the service's CPU use nor its latency.
        return MetricClass.OTHER
    if _SERVER_ERROR.search(lowered):
        return MetricClass.ERRORS
    if _TIMED_COUNT.search(lowered):
        return MetricClass.THROUGHPUT
    for cls, needles in _PATTERNS:
        if any(needle in lowered for needle in needles):
            return cls
    return MetricClass.OTHER


#: Counts of things (one more or less is the smallest change they can make) and the
#: percent of a core (the kernel's clock ticks make an idle process's CPU jump by
#: fractions of a percent): half a unit is the least spread their noise can have.
_COUNTED = frozenset({MetricClass.FDS, MetricClass.CONNECTIONS})
_COUNT_NAMES = ("processes", "threads")
HALF_UNIT = 0.5


def resolution(name: str) -> float:
    """The least spread the metric's noise can have, from its class and unit: a change of
    a few of these is the smallest that means anything (0: no such floor known)."""
    lowered = name.lower().split(FROM_CALLER, 1)[0]
    band = _transport_band(lowered.split("@", 1)[0])
    if band:
        return band / 2
    cls = metric_class(name)
    if cls in _COUNTED or lowered in _COUNT_NAMES:
        return HALF_UNIT
    if cls is MetricClass.CPU and ("percent" in lowered or "pct" in lowered):
        return HALF_UNIT
    return 0.0


def _transport_band(base: str) -> float:
    """The agent's dead band of one of its transport series (`tcp_wait_ms`, `tcp_rtt_ms`,
    per peer too, and a callee's `wait_ms<-caller` made from its caller's `tcp_wait_ms`
    by analysis.peers): what the agent itself treats as jitter without meaning. A caller's
    wait is a snapshot of the request in flight at a socket scan, 0 between requests: on a
    busy host it jumps by tens of milliseconds from an all-zero reference, which no
    spread measured from that reference can weigh. 0 for other series."""
    return ABSOLUTE_BANDS.get(base) or ABSOLUTE_BANDS.get(f"tcp_{base}", 0.0)


#: The agent's records of how it observed a service, not of the service: how many
#: Prometheus series it kept or dropped, the size of a health answer, when the process
#: started (a restart is an event of its own).
BOOKKEEPING = frozenset(
    {
        "prom_series",
        "prom_series_dropped",
        "health_body_bytes",
        "start_time_s",
        "prom:process_start_time_seconds",
    }
)


def is_bookkeeping(name: str) -> bool:
    """A series about the observing, never evidence about the service."""
    return name in BOOKKEEPING


def names_a_fault(metric: str) -> bool:
    """The metric is of a known class (CPU, memory, descriptors, connections, latency,
    errors, throughput): a change of it can be read as a fault. A change of a metric of no
    known class (disk bytes, context switches, a runtime's counters) shows activity: a
    service writing a few KB/s after an all-zero stretch, or doing the work a caller
    asked of it, has not failed."""
    return metric_class(metric) is not MetricClass.OTHER


def is_cpu_wait(metric: str) -> bool:
    """How long a service waited for a CPU (the agent's `sched_wait_ms`): it rises when
    the host is busy, whatever the service does."""
    return metric == CPU_WAIT


def is_limit(name: str) -> bool:
    return name.endswith(LIMIT_SUFFIX)


def limit_of(name: str) -> str:
    return name + LIMIT_SUFFIX


def is_host_level(service: str, metric: str) -> bool:
    """The series describes the machine, not the service (context, never a cause)."""
    return service == HOST_SERVICE or metric.lower().startswith(HOST_PREFIXES)


def is_effect(metric: str) -> bool:
    """Throughput: it moves with load or an upstream failure, not a cause on its own."""
    return metric_class(metric) is MetricClass.THROUGHPUT


#: Words that mark a latency measured by the caller of its dependencies (the agent's
#: `tcp_rtt_ms` / `tcp_wait_ms` are over a service's outbound connections; `X@IP:PORT`
#: is one peer's).
_DEPENDENCY_WORDS = (
    "client",
    "outbound",
    "upstream",
    "downstream",
    "dependency",
    "peer",
    "tcp_rtt",
    "tcp_wait",
    "@",
)


@lru_cache(maxsize=8192)
def is_dependency_latency(metric: str) -> bool:
    """Latency a service sees as a client of its dependencies (its outgoing calls): it
    says "what I call is slow", evidence about the callees rather than the caller."""
    lowered = metric.lower().split(FROM_CALLER, 1)[0]
    return metric_class(metric) is MetricClass.LATENCY and any(
        w in lowered for w in _DEPENDENCY_WORDS
    )
