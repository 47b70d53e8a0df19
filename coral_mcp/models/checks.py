"""What an agent is told to probe: health checks and Prometheus scrape targets."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class CheckKind(StrEnum):
    HTTP = "http"  # GET a URL: 2xx/3xx is healthy; a JSON body may name components
    TCP = "tcp"  # connect to HOST:PORT
    GRPC = "grpc"  # the standard grpc.health.v1 Check on HOST:PORT


@dataclass(frozen=True, slots=True)
class HealthCheckSpec:
    """Probe `target` (a URL for http, HOST:PORT otherwise) for `service`."""

    service: str
    kind: CheckKind
    target: str
    interval_s: float = 10.0
    timeout_s: float = 2.0
    #: gRPC only: the service name asked about ("" = the whole server).
    grpc_service: str = ""

    @property
    def name(self) -> str:
        return f"{self.kind.value}:{self.target}"


@dataclass(frozen=True, slots=True)
class ScrapeSpec:
    """Scrape Prometheus metrics of `service` from `url` (text format or OpenMetrics)."""

    service: str
    url: str
    interval_s: float = 10.0
    timeout_s: float = 2.0
    #: Most series kept per scrape; the rest are dropped and counted.
    max_series: int = 200
