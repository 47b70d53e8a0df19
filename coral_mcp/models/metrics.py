"""Metric values: raw samples (hot path) and per-window summaries."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import NamedTuple

#: Prefix of a component's health series: `component_health:NAME`, 1 healthy, 0 not
#: (from the SDK's components or a health endpoint's JSON body).
COMPONENT_HEALTH = "component_health:"
#: The same series' earlier name, still sent by agents built before the rename: the colony
#: renames it on arrival (`rpc.codec`), and storage migration 5 renames what was stored.
LEGACY_COMPONENT_HEALTH = "health_component_up:"


def component_health(component: str) -> str:
    """Name of the health series of `component`."""
    return COMPONENT_HEALTH + component


def current_metric_name(metric: str) -> str:
    """`metric` under today's naming (an older agent's component series renamed)."""
    if metric.startswith(LEGACY_COMPONENT_HEALTH):
        return COMPONENT_HEALTH + metric[len(LEGACY_COMPONENT_HEALTH) :]
    return metric


#: A service's mean wait for a CPU per timeslice of its processes' threads and their
#: descendants, in ms (the kernel's run delay, `/proc/PID/task/TID/schedstat`): what a
#: busy host does to the service, never a fault of the service's own.
CPU_WAIT = "sched_wait_ms"
#: The prefix of the scheduler's series: neither CPU use nor latency of the service.
SCHED_PREFIX = "sched_"


class Sample(NamedTuple):
    """One raw observation of one series: `metric` of `service` at `ts_s` (epoch s)."""

    ts_s: float
    service: str
    metric: str
    value: float


class MetricSummary(NamedTuple):
    """Statistics of one (service, metric) series over one push window. A NamedTuple:
    the colony decodes one per series per push (13,000 a second from 1,000 agents),
    and a frozen dataclass took more than half of that decoding."""

    service: str
    metric: str
    min: float
    max: float
    avg: float
    last: float
    p95: float
    count: int  # type: ignore[assignment]  # the field shadows tuple.count, unused here


#: An agent leaves a steady series out of a push window when it stayed within a dead
#: band of the value last sent, and sends it anyway at least once per this many windows:
#: between two sent values (and up to this many windows after the last one) a window
#: the series is missing from means "unchanged" (the colony fills it in for analysis).
REFRESH_WINDOWS = 20
#: The dead band around the value last sent: this share of it, or an absolute width,
#: whichever is wider.
DEAD_BAND_RELATIVE = 0.05
DEAD_BAND_ABSOLUTE = 0.1
#: Absolute widths for series that jitter without meaning: the kernel's round-trip time
#: on a fast link moves by fractions of a millisecond, a caller's wait by a few
#: milliseconds. Keyed by metric name (before any `@peer`).
ABSOLUTE_BANDS = {"tcp_rtt_ms": 1.0, "tcp_wait_ms": 20.0}
#: Durations in seconds (Prometheus latency quantiles): a millisecond matters.
SECONDS_BAND = 0.001


def absolute_band(metric: str, default: float = DEAD_BAND_ABSOLUTE) -> float:
    """The absolute width of a series' dead band (see REFRESH_WINDOWS)."""
    base = metric.split("@", 1)[0]
    if base in ABSOLUTE_BANDS:
        return ABSOLUTE_BANDS[base]
    if "_seconds" in base and not base.endswith(":rate"):
        return SECONDS_BAND
    return default


def dead_band(metric: str, reference: float) -> float:
    """How far a series may move from the value last sent before it is sent again."""
    return max(abs(reference) * DEAD_BAND_RELATIVE, absolute_band(metric))


@dataclass(frozen=True, slots=True)
class SummaryWindow:
    """All summaries of one push window [start_ms, end_ms), epoch milliseconds."""

    start_ms: int
    end_ms: int
    summaries: tuple[MetricSummary, ...]

    def halves(self) -> tuple[SummaryWindow, SummaryWindow] | None:
        """The window split in two (to fit a message bound), or None for one summary."""
        mid = len(self.summaries) // 2
        if mid == 0:
            return None
        return replace(self, summaries=self.summaries[:mid]), replace(
            self, summaries=self.summaries[mid:]
        )
