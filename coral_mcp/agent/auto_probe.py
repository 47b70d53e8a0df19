"""Health, metrics and version of watched services, found without configuration.

For each listening port of a watched service (at most MAX_PORTS per service) the agent
asks once, in a background thread, whether it speaks HTTP: GET of the conventional
endpoints (`/health`, `/healthz`, `/ready`, `/livez`, `/metrics`, `/version`), each
bounded by PROBE_TIMEOUT_S and PROBE_MAX_BYTES. A port that answers with HTTP/2 frames
is asked the standard gRPC health question instead. A port that answers neither is
left alone until another process listens on it; an HTTP port is looked at again when
its processes change and every REDISCOVER_S for endpoints that appeared.

What was found is then polled like configured checks: health (verdict, latency, body
components; `health_up`, `health_latency_ms`...) every sample, Prometheus metrics with
the usual series cap, and `/version` every VERSION_EVERY_S (a changed answer is a
`deploy` event with old and new version).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass

from coral_mcp.agent.collectors.health import HealthChecker, HttpGet, http_get
from coral_mcp.agent.collectors.http_fetch import NotHttpError
from coral_mcp.agent.collectors.prometheus import Scraper
from coral_mcp.agent.health_monitor import HealthMonitor
from coral_mcp.models import Endpoint, Event, EventKind, Sample, Severity
from coral_mcp.models.checks import CheckKind, HealthCheckSpec, ScrapeSpec

logger = logging.getLogger(__name__)

HEALTH_PATHS = ("/health", "/healthz", "/ready", "/livez")
METRICS_PATH = "/metrics"
VERSION_PATH = "/version"
PROBE_TIMEOUT_S = 1.0
PROBE_MAX_BYTES = 64 * 1024
REDISCOVER_S = 300.0
VERSION_EVERY_S = 60.0
MAX_PORTS = 4
_WORKERS = 4


@dataclass(frozen=True, slots=True)
class Finding:
    """What one port of a service turned out to be. `kind`: http, grpc or none."""

    service: str
    port: int
    kind: str
    health: str | None = None
    metrics: str | None = None
    version: str | None = None
    detail: str = ""

    def describe(self) -> str:
        if self.kind == "none":
            return f"{self.port}: not HTTP ({self.detail})"
        if self.kind == "grpc":
            return f"{self.port}: gRPC health"
        found = [
            u.split(str(self.port), 1)[-1] for u in (self.health, self.metrics, self.version) if u
        ]
        return f"{self.port}: HTTP {' '.join(found) or '(no known endpoint)'}"


def discover(
    service: str,
    endpoint: Endpoint,
    get: HttpGet = http_get,
    checker: HealthChecker | None = None,
) -> Finding:
    """Ask one port what it speaks and which conventional endpoints it has."""
    host = f"[{endpoint.ip}]" if ":" in endpoint.ip else endpoint.ip
    base = f"http://{host}:{endpoint.port}"
    found: dict[str, str] = {}
    for path in (*HEALTH_PATHS, METRICS_PATH, VERSION_PATH):
        role = "health" if path in HEALTH_PATHS else path.strip("/")
        if role in found:
            continue
        try:
            response = get(base + path, PROBE_TIMEOUT_S, PROBE_MAX_BYTES)
        except NotHttpError as exc:
            if exc.http2:
                return _grpc(service, endpoint, checker)
            return Finding(service, endpoint.port, "none", detail=str(exc))
        except OSError as exc:
            if not found:  # the first question unanswered: not an HTTP port
                detail = "no answer" if isinstance(exc, TimeoutError) else str(exc)
                return Finding(service, endpoint.port, "none", detail=detail)
            continue
        if response.status == 404 or (response.status >= 500 and role != "health"):
            continue
        if role == "health" and response.status in (401, 403, 405):
            continue
        if role == "metrics" and not _looks_like_metrics(response.body):
            continue
        found[role] = base + path
    return Finding(
        service,
        endpoint.port,
        "http",
        health=found.get("health"),
        metrics=found.get("metrics"),
        version=found.get("version"),
    )


def _grpc(service: str, endpoint: Endpoint, checker: HealthChecker | None) -> Finding:
    target = f"{endpoint.ip}:{endpoint.port}"
    spec = HealthCheckSpec(service, CheckKind.GRPC, target, timeout_s=PROBE_TIMEOUT_S)
    asking = HealthChecker() if checker is None else checker
    try:
        result = asking.check(spec)
    finally:
        if checker is None:  # a checker of its own: its channel is not kept
            asking.close()
    if result.detail.startswith("gRPC ") and "unimplemented" not in result.detail:
        return Finding(service, endpoint.port, "grpc", health=target, detail=result.detail)
    return Finding(
        service, endpoint.port, "none", detail=f"HTTP/2 without gRPC health ({result.detail})"
    )


def _looks_like_metrics(body: bytes) -> bool:
    text = body[:4096].decode("utf-8", "replace")
    return "# TYPE" in text or "# HELP" in text


def version_from(body: bytes) -> str | None:
    """The version a `/version` answer names: JSON `version` (or `tag`, `commit`), or
    the first line of plain text; None when it names none."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        doc = None
    if isinstance(doc, dict):
        for key in ("version", "Version", "tag", "commit", "gitCommit", "build"):
            if isinstance(doc.get(key), str | int | float) and str(doc[key]):
                return str(doc[key])[:64]
        return None
    if isinstance(doc, str | int | float):
        return str(doc)[:64] or None
    line = body[:256].decode("utf-8", "replace").strip().splitlines()
    return line[0][:64] if line and line[0].isprintable() else None


class AutoProber:
    def __init__(
        self,
        interval_s: float,
        skip: Iterable[str] = (),
        get: HttpGet = http_get,
    ) -> None:
        self._interval_s = interval_s
        self._skip = frozenset(skip)
        self._get = get
        self._pool: ThreadPoolExecutor | None = None
        self._pending: dict[tuple[str, int], Future[Finding]] = {}
        #: a service's listening endpoints -> those probed (the same at most samples)
        self._endpoints: dict[tuple[Endpoint, ...], list[Endpoint]] = {}
        #: (service, port) -> (finding, the pids listening when it was made, when)
        self._findings: dict[tuple[str, int], tuple[Finding, tuple[int, ...], float]] = {}
        self._checker = HealthChecker(get)
        self._health = HealthMonitor((), self._checker)
        self._scraper = Scraper(())
        self._versions: dict[str, str] = {}
        self._version_due: dict[str, float] = {}
        self._polled: tuple[Finding, ...] = ()
        self._submitted: dict[tuple[str, int], tuple[tuple[int, ...], float]] = {}
        #: services seen without processes at the last update
        self._absent: frozenset[str] = frozenset()

    def wait(self, timeout_s: float) -> None:
        """Wait (at most timeout_s) for the probes under way to finish."""
        futures_wait(list(self._pending.values()), timeout=timeout_s)

    def findings(self, service: str) -> list[Finding]:
        return [f for (s, _), (f, _, _) in sorted(self._findings.items()) if s == service]

    @property
    def health(self) -> HealthMonitor:
        return self._health

    @property
    def scraper(self) -> Scraper:
        return self._scraper

    def update(
        self, now_s: float, services: Iterable[tuple[str, tuple[int, ...], tuple[Endpoint, ...]]]
    ) -> None:
        """Start discovery where due, take in what finished, forget what is gone."""
        alive: set[tuple[str, int]] = set()
        # a service seen for a moment without its processes (gone and remembered, or a
        # socket scan that missed them) keeps its findings: the same pids back are not
        # a reason to ask again
        absent: set[str] = set()
        for name, pids, listen in services:
            if name in self._skip:
                continue
            if not pids:
                absent.add(name)
                continue
            endpoints = self._endpoints.get(listen)
            if endpoints is None:
                if len(self._endpoints) > 4096:
                    self._endpoints.clear()
                endpoints = self._endpoints[listen] = _probe_endpoints(listen)
            for endpoint in endpoints:
                key = (name, endpoint.port)
                alive.add(key)
                known = self._findings.get(key)
                due = (
                    known is None
                    or known[1] != pids
                    or (known[0].kind != "none" and now_s - known[2] >= REDISCOVER_S)
                )
                if due and key not in self._pending:
                    self._pending[key] = self._submit(name, endpoint, pids, now_s)
        finished = False
        for key, future in list(self._pending.items()):
            if future.done():
                finished = True
                del self._pending[key]
                try:
                    finding = future.result()
                except Exception:  # a probe thread's surprise must not stop the agent
                    logger.exception("probing %s port %d failed", *key)
                    continue
                pids, at = self._submitted.pop(key, ((), now_s))
                self._findings[key] = (finding, pids, at)
                logger.info("%s: probed port %s", key[0], finding.describe())
        changed = finished or absent != self._absent
        self._absent = frozenset(absent)  # kept, but not polled while away
        for key in [k for k in self._findings if k not in alive and k[0] not in absent]:
            del self._findings[key]
            changed = True
        if not self._pending and self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None
        if changed:
            self._rebuild()

    def _submit(
        self, name: str, endpoint: Endpoint, pids: tuple[int, ...], now_s: float
    ) -> Future[Finding]:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="probe")
        self._submitted[(name, endpoint.port)] = (pids, now_s)
        return self._pool.submit(discover, name, endpoint, self._get)

    def _rebuild(self) -> None:
        useful = tuple(
            sorted(
                (
                    f
                    for f, _, _ in self._findings.values()
                    if (f.health or f.metrics or f.version) and f.service not in self._absent
                ),
                key=lambda f: (f.service, f.port),
            )
        )
        if useful == self._polled:
            return
        self._polled = useful
        timeout = min(PROBE_TIMEOUT_S, self._interval_s / 2)
        checks = [
            HealthCheckSpec(
                f.service,
                CheckKind.GRPC if f.kind == "grpc" else CheckKind.HTTP,
                f.health,
                interval_s=self._interval_s,
                timeout_s=timeout,
            )
            for f in useful
            if f.health
        ]
        scrapes = [
            ScrapeSpec(f.service, f.metrics, interval_s=self._interval_s, timeout_s=timeout)
            for f in useful
            if f.metrics
        ]
        self._health = HealthMonitor(checks, self._checker, carry_from=self._health)
        self._scraper = Scraper(scrapes, get=self._get)

    def run_due(self, now_s: float) -> tuple[list[Sample], list[Event]]:
        samples, health_events = self._health.run_due(now_s)
        samples += self._scraper.run_due(now_s)
        # versions from health bodies and /version answers are one story per service
        events = [e for e in health_events if e.kind != EventKind.DEPLOY]
        for finding in self._polled:
            for spec, result in self._health.results_for(finding.service):
                if result.version and spec.target == finding.health:
                    events += self._version(now_s, finding.service, result.version, spec.target)
            if finding.version and now_s >= self._version_due.get(finding.version, 0.0):
                self._version_due[finding.version] = now_s + VERSION_EVERY_S
                answered = self._ask_version(finding.version)
                if answered is not None:
                    events += self._version(now_s, finding.service, answered, finding.version)
        return samples, events

    def _ask_version(self, url: str) -> str | None:
        try:
            response = self._get(url, PROBE_TIMEOUT_S, PROBE_MAX_BYTES)
        except OSError:
            return None
        return version_from(response.body) if response.status == 200 else None

    def _version(self, now_s: float, service: str, version: str, source: str) -> list[Event]:
        before = self._versions.get(service)
        self._versions[service] = version
        if before is None or before == version:
            return []
        return [
            Event(
                int(now_s * 1000),
                service,
                EventKind.DEPLOY,
                Severity.INFO,
                f"new version deployed ({before} -> {version}, answered by {source})",
                (
                    ("old_version", before),
                    ("new_version", version),
                    ("changed", "version answer"),
                    ("source", source),
                ),
            )
        ]


def _probe_endpoints(listen: Iterable[Endpoint]) -> list[Endpoint]:
    """One address per port (loopback first, where it listens), at most MAX_PORTS."""
    by_port: dict[int, Endpoint] = {}
    for endpoint in sorted(listen, key=lambda e: (e.port, not e.ip.startswith("127."), e.ip)):
        by_port.setdefault(endpoint.port, endpoint)
    return [by_port[p] for p in sorted(by_port)][:MAX_PORTS]
