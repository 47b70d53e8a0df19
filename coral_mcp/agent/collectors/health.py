"""Health probes: HTTP (status, latency, body size, JSON component health), TCP connect
and the standard gRPC health protocol (grpc.health.v1).

Each probe is bounded by its spec's timeout: a hung endpoint yields an unhealthy result
after `timeout_s`, never a stuck agent. The HTTP fetch is the seam (`http_get`); the
default speaks HTTP/1.1 through the standard library.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from coral_mcp.agent.collectors.http_fetch import HttpResponse, fetch
from coral_mcp.models.checks import CheckKind, HealthCheckSpec
from coral_mcp.models.topology import host_port

if TYPE_CHECKING:
    from coral_mcp.rpc.health_client import GrpcHealthClient

__all__ = ["HealthChecker", "HealthResult", "HttpGet", "HttpResponse", "http_get"]

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
_HEALTHY_WORDS = {"ok", "up", "pass", "healthy", "serving", "green", "true"}


HttpGet = Callable[[str, float, int], HttpResponse]


@dataclass(frozen=True, slots=True)
class HealthResult:
    """One probe's outcome. `components` are (name, healthy) pairs from a JSON body."""

    healthy: bool
    latency_s: float
    detail: str
    status: int | None = None
    body_bytes: int | None = None
    components: tuple[tuple[str, bool], ...] = ()
    version: str | None = None


def http_get(url: str, timeout_s: float, max_bytes: int = MAX_BODY_BYTES) -> HttpResponse:
    """GET `url` within `timeout_s` overall; the body cut at max_bytes.

    Plain HTTP goes through `http_fetch.fetch` (one deadline for the whole exchange);
    HTTPS through http.client (one timeout for connect and each read), imported here,
    not at the top: agents without HTTPS probes never load it. A malformed response
    raises OSError like a failed connection does.
    """
    if not url.startswith("https://"):
        return fetch(url, timeout_s, max_bytes)
    import http.client  # noqa: PLC0415

    parts = urlsplit(url)
    conn = http.client.HTTPSConnection(parts.hostname or "localhost", parts.port, timeout=timeout_s)
    try:
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn.request("GET", path, headers={"User-Agent": "coral-agent"})
        response = conn.getresponse()
        body = response.read(max_bytes)
        return HttpResponse(response.status, response.getheader("Content-Type") or "", body)
    except http.client.HTTPException as exc:
        raise OSError(f"malformed HTTP response: {exc!r}") from exc
    finally:
        conn.close()


class HealthChecker:
    """Runs one probe at a time per spec (several specs may run at once in threads).

    gRPC checks go through `rpc.health_client` (grpclib on a loop of its own, channels
    kept open while checks succeed), made at the first gRPC check.
    """

    def __init__(self, get: HttpGet = http_get, clock: Callable[[], float] = time.monotonic):
        self._get = get
        self._clock = clock
        self._grpc_client: GrpcHealthClient | None = None
        self._lock = threading.Lock()

    def check(self, spec: HealthCheckSpec) -> HealthResult:
        started = self._clock()
        try:
            if spec.kind is CheckKind.HTTP:
                return self._http(spec, started)
            if spec.kind is CheckKind.TCP:
                host, port = host_port(spec.target)
                with socket.create_connection((host, port), timeout=spec.timeout_s):
                    pass
                return HealthResult(True, self._clock() - started, "connected")
            return self._grpc(spec, started)
        except (OSError, ValueError) as exc:
            detail = (
                "timed out" if isinstance(exc, TimeoutError) else str(exc) or type(exc).__name__
            )
            return HealthResult(False, self._clock() - started, detail)

    def _http(self, spec: HealthCheckSpec, started: float) -> HealthResult:
        response = self._get(spec.target, spec.timeout_s, MAX_BODY_BYTES)
        status, body = response.status, response.body
        latency = self._clock() - started
        healthy = 200 <= status < 400
        components, version, body_healthy = _json_health(body)
        if body_healthy is False:
            healthy = False
        return HealthResult(
            healthy=healthy,
            latency_s=latency,
            detail=f"HTTP {status}",
            status=status,
            body_bytes=len(body),
            components=components,
            version=version,
        )

    def _grpc(self, spec: HealthCheckSpec, started: float) -> HealthResult:
        with self._lock:
            if self._grpc_client is None:
                # only agents with gRPC checks pay for these imports
                from coral_mcp.rpc.health_client import GrpcHealthClient  # noqa: PLC0415

                self._grpc_client = GrpcHealthClient()
            client = self._grpc_client
        serving, detail = client.check(spec.target, spec.grpc_service, spec.timeout_s)
        return HealthResult(serving, self._clock() - started, detail)

    def close(self) -> None:
        """Close the gRPC channels kept open (and their loop's thread)."""
        with self._lock:
            client, self._grpc_client = self._grpc_client, None
        if client is not None:
            client.close()


def _json_health(body: bytes) -> tuple[tuple[tuple[str, bool], ...], str | None, bool | None]:
    """(components, version, overall) from a JSON health body, when it is one."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return (), None, None
    if not isinstance(doc, dict):
        return (), None, None
    overall = _healthy_word(doc.get("status"))
    version = doc.get("version")
    found: list[tuple[str, bool]] = []
    for key in ("components", "checks", "details"):
        section = doc.get(key)
        if isinstance(section, dict):
            for name, value in section.items():
                state = value.get("status") if isinstance(value, dict) else value
                healthy = _healthy_word(state)
                if healthy is not None:
                    found.append((str(name)[:64], healthy))
    return tuple(sorted(found)), str(version)[:64] if version is not None else None, overall


def _healthy_word(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value:
        return value.strip().lower() in _HEALTHY_WORDS
    return None
