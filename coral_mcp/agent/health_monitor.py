"""Runs health checks on their own intervals and turns results into samples and events.

A check runs when its interval has passed (checked at each sample). Its result becomes
series of its service (`health_up`, `health_latency_ms`, `health_status`,
`health_body_bytes`, `component_health:NAME`) and, when the verdict changes, a
`health_flip` event; a new version in the health body is a `deploy` event.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from coral_mcp.agent.collectors.health import HealthChecker, HealthResult
from coral_mcp.models import Event, EventKind, Sample, Severity
from coral_mcp.models.checks import HealthCheckSpec
from coral_mcp.models.metrics import component_health

logger = logging.getLogger(__name__)
T = TypeVar("T")
#: Checks run at once at most (a thread each; threads are made as needed, then kept).
MAX_THREADS = 8


class HealthMonitor:
    def __init__(
        self,
        specs: Sequence[HealthCheckSpec],
        checker: HealthChecker | None = None,
        carry_from: HealthMonitor | None = None,
    ):
        """`carry_from`: a monitor whose checks' verdicts, versions and due times this one
        takes over (for the checks both have), so replacing the set of checks does not
        forget what the unchanged ones saw."""
        self._specs = list(specs)
        self._checker = checker or HealthChecker()
        #: Threads for running several checks at once, made once and kept.
        self._pool: ThreadPoolExecutor | None = None
        self._due_s: dict[int, float] = {}
        self._healthy: dict[int, bool] = {}
        self._version: dict[int, str] = {}
        self._latest: dict[int, HealthResult] = {}
        if carry_from is not None:
            self._pool, carry_from._pool = carry_from._pool, None
            old = {spec: i for i, spec in enumerate(carry_from._specs)}
            for i, spec in enumerate(self._specs):
                j = old.get(spec)
                if j is None:
                    continue
                _carry(self._due_s, carry_from._due_s, i, j)
                _carry(self._healthy, carry_from._healthy, i, j)
                _carry(self._version, carry_from._version, i, j)
                _carry(self._latest, carry_from._latest, i, j)

    def run_due(self, now_s: float) -> tuple[list[Sample], list[Event]]:
        """Run the checks whose interval has passed, concurrently; samples and events."""
        due = [i for i, _ in enumerate(self._specs) if now_s >= self._due_s.get(i, 0.0)]
        if not due:
            return [], []
        for i in due:
            self._due_s[i] = now_s + self._specs[i].interval_s
        results = self._run(due)
        samples: list[Sample] = []
        events: list[Event] = []
        for i, result in zip(due, results, strict=True):
            spec = self._specs[i]
            self._latest[i] = result
            samples += _samples(now_s, spec, result)
            events += self._changes(now_s, i, spec, result)
        return samples, events

    def results_for(self, service: str) -> list[tuple[HealthCheckSpec, HealthResult]]:
        """The latest result of each of the service's checks that has run."""
        return [
            (spec, self._latest[i])
            for i, spec in enumerate(self._specs)
            if spec.service == service and i in self._latest
        ]

    def _run(self, due: list[int]) -> list[HealthResult]:
        def check(i: int) -> HealthResult:
            return self._checker.check(self._specs[i])

        if len(due) == 1:
            return [check(due[0])]
        # Several checks at once: a hung endpoint costs one timeout, not one per check.
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=MAX_THREADS, thread_name_prefix="health")
        return list(self._pool.map(check, due))

    def close(self) -> None:
        """Stop the check threads (and close what the checker keeps open)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None
        self._checker.close()

    def _changes(
        self, now_s: float, index: int, spec: HealthCheckSpec, result: HealthResult
    ) -> list[Event]:
        ts_ms = int(now_s * 1000)
        events: list[Event] = []
        before = self._healthy.get(index)
        self._healthy[index] = result.healthy
        if before is not None and before != result.healthy:
            verdict = "healthy" if result.healthy else "unhealthy"
            events.append(
                Event(
                    ts_ms,
                    spec.service,
                    EventKind.HEALTH_FLIP,
                    Severity.INFO if result.healthy else Severity.CRITICAL,
                    f"{spec.name} is now {verdict} ({result.detail})",
                    (
                        ("check", spec.name),
                        ("healthy", str(result.healthy).lower()),
                        ("detail", result.detail),
                    ),
                )
            )
        if result.version is not None:
            previous = self._version.get(index)
            self._version[index] = result.version
            if previous is not None and previous != result.version:
                events.append(
                    Event(
                        ts_ms,
                        spec.service,
                        EventKind.DEPLOY,
                        Severity.INFO,
                        f"version changed from {previous} to {result.version}",
                        (
                            ("old_version", previous),
                            ("new_version", result.version),
                            ("source", spec.name),
                        ),
                    )
                )
        return events


def _samples(now_s: float, spec: HealthCheckSpec, result: HealthResult) -> list[Sample]:
    service = spec.service
    samples = [
        Sample(now_s, service, "health_up", 1.0 if result.healthy else 0.0),
        Sample(now_s, service, "health_latency_ms", result.latency_s * 1000),
    ]
    if result.status is not None:
        samples.append(Sample(now_s, service, "health_status", float(result.status)))
    if result.body_bytes is not None:
        samples.append(Sample(now_s, service, "health_body_bytes", float(result.body_bytes)))
    samples += [
        Sample(now_s, service, component_health(name), 1.0 if ok else 0.0)
        for name, ok in result.components
    ]
    return samples


def _carry(mine: dict[int, T], theirs: dict[int, T], i: int, j: int) -> None:
    if j in theirs:
        mine[i] = theirs[j]
