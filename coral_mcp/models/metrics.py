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


class Sample(NamedTuple):
    """One raw observation of one series: `metric` of `service` at `ts_s` (epoch s)."""

    ts_s: float
    service: str
    metric: str
    value: float


@dataclass(frozen=True, slots=True)
class MetricSummary:
    """Statistics of one (service, metric) series over one push window."""

    service: str
    metric: str
    min: float
    max: float
    avg: float
    last: float
    p95: float
    count: int


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
