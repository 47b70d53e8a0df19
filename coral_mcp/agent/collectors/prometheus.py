"""Scrapes a service's Prometheus `/metrics` (text exposition or OpenMetrics).

Parsing is prometheus-client's own parser; the rest is ours: counters become per-second
rates, gauges are kept, histograms become p50/p95/p99 of the observations between two
scrapes, summaries keep their quantiles. At most `max_series` series per target are
kept; the rest are counted in `prom_series_dropped` and named in `last_dropped`.
Malformed exposition is logged and yields `scrape_up 0`, never an agent failure.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import sys
import time
import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from coral_mcp.agent.collectors.health import HttpGet, http_get
from coral_mcp.agent.rates import Rates
from coral_mcp.models import Sample
from coral_mcp.models.checks import ScrapeSpec

logger = logging.getLogger(__name__)

MAX_SCRAPE_BYTES = 4 * 1024 * 1024
MAX_METRIC_CHARS = 120
QUANTILES = (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))
#: Requests a histogram must have counted since a quantile's last estimate before that
#: quantile is estimated again: at least MIN_QUANTILE_COUNT, and TAIL_REQUESTS beyond
#: it (p50 10, p95 40, p99 200). The "p99" of a dozen requests is the slowest of them
#: (a health check that once waited for a busy CPU), not a quantile; a quiet route's
#: estimate spans as many scrapes as it takes.
MIN_QUANTILE_COUNT = 10
TAIL_REQUESTS = 2
_PARSE_ERRORS = (ValueError, IndexError, KeyError, TypeError, UnicodeDecodeError)


def quantile_needs(q: float) -> float:
    """The requests a q-quantile's estimate rests on, at least."""
    return max(MIN_QUANTILE_COUNT, round(TAIL_REQUESTS / (1 - q)))


@dataclass(slots=True)
class Exposition:
    """One scrape, flattened: series name -> value, and histogram buckets."""

    gauges: dict[str, float] = field(default_factory=dict)
    counters: dict[str, float] = field(default_factory=dict)
    # series name -> [(upper bound, cumulative count)], sorted by bound
    histograms: dict[str, list[tuple[float, float]]] = field(default_factory=dict)


def series_name(name: str, labels: dict[str, str], drop: Iterable[str] = ()) -> str:
    """`prom:name{k="v",...}` with labels sorted, cut to MAX_METRIC_CHARS."""
    skip = set(drop)
    parts = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k not in skip)
    text = f"prom:{name}{{{parts}}}" if parts else f"prom:{name}"
    return text[:MAX_METRIC_CHARS]


def _parsers_without_ssl() -> None:
    """In the lean agent (`ssl` fenced off), make prometheus_client's parsers importable:
    its package `__init__` imports its HTTP exposition, which imports `ssl`; the parser
    modules themselves need neither. An empty package module stands in for it."""
    if "prometheus_client" in sys.modules or sys.modules.get("ssl", True) is not None:
        return
    spec = importlib.util.find_spec("prometheus_client")
    if spec is None or spec.submodule_search_locations is None:
        return
    package = types.ModuleType("prometheus_client")
    package.__path__ = list(spec.submodule_search_locations)
    package.__spec__ = spec
    sys.modules["prometheus_client"] = package


def parse_exposition(text: str, content_type: str = "") -> Exposition:
    """Flatten an exposition; raises ValueError (and kin) when it is malformed."""
    _parsers_without_ssl()
    if content_type.startswith("application/openmetrics-text"):
        from prometheus_client.openmetrics.parser import (  # noqa: PLC0415 - lazy: heavy
            text_string_to_metric_families,
        )
    else:
        from prometheus_client.parser import text_string_to_metric_families  # noqa: PLC0415
    out = Exposition()
    for family in text_string_to_metric_families(text):  # type: ignore[no-untyped-call]
        _flatten(family, out)
    for buckets in out.histograms.values():
        buckets.sort()
    return out


def _flatten(family: Any, out: Exposition) -> None:
    kind = family.type
    for sample in family.samples:
        name, labels, value = sample.name, dict(sample.labels), float(sample.value)
        if name.endswith("_created") or not math.isfinite(value):
            continue
        if kind == "counter":
            out.counters[series_name(name, labels)] = value
        elif kind in ("histogram", "gaugehistogram"):
            if name.endswith("_bucket") and "le" in labels:
                key = series_name(family.name, labels, drop=("le",))
                out.histograms.setdefault(key, []).append((float(labels["le"]), value))
            elif name.endswith("_count"):
                out.counters[series_name(name, labels)] = value
        elif kind == "summary" and (name.endswith("_sum") or name.endswith("_count")):
            out.counters[series_name(name, labels)] = value
        else:  # gauge, untyped/unknown, summary quantiles, info, stateset
            out.gauges[series_name(name, labels)] = value


def bucket_quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """The q-quantile from cumulative (bound, count) buckets, as Prometheus estimates it."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    total = buckets[-1][1]
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (
                count - lower_count
            )
        lower_bound, lower_count = bound, count
    return buckets[-1][0]


class Scraper:
    """Scrapes targets on their intervals, keeping what rates and deltas need."""

    def __init__(
        self,
        specs: Iterable[ScrapeSpec],
        get: HttpGet = http_get,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._specs = list(specs)
        self._get = get
        self._clock = clock
        self._due_s: dict[int, float] = {}
        self._rates = Rates()
        #: Per (target, histogram, quantile): the buckets its next estimate counts from.
        self._buckets: dict[tuple[int, str, str], list[tuple[float, float]]] = {}
        self.last_dropped: dict[str, list[str]] = {}

    def run_due(self, now_s: float) -> list[Sample]:
        samples: list[Sample] = []
        for index, spec in enumerate(self._specs):
            if now_s < self._due_s.get(index, 0.0):
                continue
            self._due_s[index] = now_s + spec.interval_s
            samples += self.scrape(index, spec, now_s)
        return samples

    def scrape(self, index: int, spec: ScrapeSpec, now_s: float) -> list[Sample]:
        started = self._clock()
        try:
            response = self._get(spec.url, spec.timeout_s, MAX_SCRAPE_BYTES)
            if response.status != 200:
                raise ValueError(f"HTTP {response.status}")
            exposition = parse_exposition(response.body.decode(), response.content_type)
        except (OSError, *_PARSE_ERRORS) as exc:
            logger.warning("scrape of %s for %s failed: %s", spec.url, spec.service, exc)
            return [Sample(now_s, spec.service, "scrape_up", 0.0)]
        took_ms = (self._clock() - started) * 1000
        values = self._values(index, now_s, exposition)
        kept = dict(sorted(values.items())[: spec.max_series])
        dropped = sorted(values.keys() - kept.keys())
        self.last_dropped[spec.service] = dropped
        if dropped:
            logger.info(
                "%s: kept %d series of %d, dropped e.g. %s",
                spec.url,
                len(kept),
                len(values),
                dropped[0],
            )
        samples = [Sample(now_s, spec.service, name, value) for name, value in kept.items()]
        samples += [
            Sample(now_s, spec.service, "scrape_up", 1.0),
            Sample(now_s, spec.service, "scrape_duration_ms", took_ms),
            Sample(now_s, spec.service, "prom_series", float(len(kept))),
            Sample(now_s, spec.service, "prom_series_dropped", float(len(dropped))),
        ]
        return samples

    def _quantile(
        self, key: tuple[int, str, str], q: float, buckets: list[tuple[float, float]]
    ) -> float | None:
        """The q-quantile of the requests since its last estimate, once there are enough
        of them (`quantile_needs`); None while they are too few, on the first scrape, and
        when the process restarted (counts went down)."""
        previous = self._buckets.get(key)
        if previous is None or len(previous) != len(buckets):
            self._buckets[key] = buckets
            return None
        delta = [(b, c - pc) for (b, c), (_, pc) in zip(buckets, previous, strict=True)]
        if any(count < 0 for _, count in delta):
            self._buckets[key] = buckets
            return None
        if delta[-1][1] < quantile_needs(q):
            return None
        self._buckets[key] = buckets
        return bucket_quantile(q, delta)

    def _values(self, index: int, now_s: float, exposition: Exposition) -> dict[str, float]:
        values = dict(exposition.gauges)
        for name, total in exposition.counters.items():
            rate = self._rates.rate((index, name), now_s, total)
            if rate is not None:
                values[f"{name}:rate"[:MAX_METRIC_CHARS]] = rate
        for name, buckets in exposition.histograms.items():
            for label, q in QUANTILES:
                estimate = self._quantile((index, name, label), q, buckets)
                if estimate is not None:
                    values[f"{name}:{label}"[:MAX_METRIC_CHARS]] = estimate
        return values
