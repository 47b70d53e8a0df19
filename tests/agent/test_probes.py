"""Health checks and Prometheus scrapes against real servers, and their events."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from grpc_health.v1 import health_pb2

from coral_mcp.agent.collectors.health import HealthChecker, HttpResponse
from coral_mcp.agent.collectors.prometheus import (
    Scraper,
    bucket_quantile,
    parse_exposition,
    quantile_needs,
)
from coral_mcp.models import EventKind, Severity
from coral_mcp.models.checks import CheckKind, HealthCheckSpec, ScrapeSpec
from tests.agent.apps import (
    events_of,
    grpc_health_server,
    has_event,
    observe_until,
    sensor_for,
    start_app,
)
from tests.conftest import Processes, free_port, wait_for


def _metrics(samples: object, service: str) -> dict[str, float]:
    return {s.metric: s.value for s in samples if s.service == service}  # type: ignore[attr-defined]


def test_health_flips_and_version_changes_are_events(tmp_path: Path, procs: Processes) -> None:
    control = tmp_path / "control.json"
    control.write_text(json.dumps({"healthy": True, "version": "1.0"}))
    _, port = start_app(procs, "web", "--control", str(control))
    check = HealthCheckSpec("web", CheckKind.HTTP, f"http://127.0.0.1:{port}/health", 0.01, 2.0)
    sensor = sensor_for(tmp_path, f"web=port:{port}", health_checks=(check,))
    first = sensor.observe()
    values = _metrics(first.samples, "web")
    assert values["health_up"] == 1.0 and values["health_status"] == 200.0
    assert values["health_body_bytes"] > 20 and values["component_health:db"] == 1.0
    assert first.events == ()

    control.write_text(json.dumps({"healthy": False, "version": "1.0"}))
    seen = observe_until(sensor, has_event(EventKind.HEALTH_FLIP), "health going bad")
    down = events_of(seen, EventKind.HEALTH_FLIP)[0]
    assert down.severity is Severity.CRITICAL and dict(down.attributes)["healthy"] == "false"
    assert _metrics(seen[-1].samples, "web")["component_health:db"] == 0.0

    control.write_text(json.dumps({"healthy": True, "version": "2.0"}))
    seen = observe_until(sensor, has_event(EventKind.HEALTH_FLIP), "health coming back")
    up = events_of(seen, EventKind.HEALTH_FLIP)[0]
    assert up.severity is Severity.INFO and dict(up.attributes)["healthy"] == "true"
    deploy = dict(events_of(seen, EventKind.DEPLOY)[0].attributes)
    assert (deploy["old_version"], deploy["new_version"]) == ("1.0", "2.0")


def test_a_hanging_health_endpoint_times_out_and_sampling_carries_on(
    tmp_path: Path, procs: Processes
) -> None:
    _, port = start_app(procs, "web")
    hang = HealthCheckSpec("web", CheckKind.HTTP, f"http://127.0.0.1:{port}/hang", 10, 0.3)
    sensor = sensor_for(tmp_path, f"web=port:{port}", health_checks=(hang,))
    started = time.monotonic()
    observation = sensor.observe()
    assert time.monotonic() - started < 3
    values = _metrics(observation.samples, "web")
    assert values["health_up"] == 0.0 and values["rss_bytes"] > 0
    assert sensor.health.results_for("web")[0][1].detail == "timed out"


def test_tcp_check_sees_a_listener_come_and_go(procs: Processes) -> None:
    port = free_port()
    spec = HealthCheckSpec("db", CheckKind.TCP, f"127.0.0.1:{port}", 1, 1)
    assert not HealthChecker().check(spec).healthy
    db = procs.tcp_service("db", port)
    assert HealthChecker().check(spec).healthy
    db.kill()
    db.wait()
    assert not HealthChecker().check(spec).healthy


def test_grpc_health_protocol_reports_serving_and_not_serving() -> None:
    with grpc_health_server() as (port, servicer):
        spec = HealthCheckSpec("api", CheckKind.GRPC, f"127.0.0.1:{port}", 1, 2, "coral.Api")
        servicer.set("coral.Api", health_pb2.HealthCheckResponse.SERVING)
        result = HealthChecker().check(spec)
        assert result.healthy and result.detail == "gRPC SERVING"
        servicer.set("coral.Api", health_pb2.HealthCheckResponse.NOT_SERVING)
        result = HealthChecker().check(spec)
        assert not result.healthy and result.detail == "gRPC NOT_SERVING"


@pytest.mark.parametrize("route", ["/metrics", "/metrics-om"])
def test_prometheus_counters_become_rates_and_histograms_percentiles(
    procs: Processes, route: str
) -> None:
    _, port = start_app(procs, "app")
    url = f"http://127.0.0.1:{port}{route}"
    scraper = Scraper([ScrapeSpec("app", url, interval_s=0.01, max_series=500)])
    first = _metrics(scraper.run_due(time.time()), "app")
    assert first["scrape_up"] == 1.0 and first["prom:app_in_flight"] == 0.0
    # p50 and p95 of the 40+ latencies observed since the first scrape (p99 waits for
    # 200: test_a_quantile_waits_for_enough_requests_and_then_spans_every_scrape_since).
    second: dict[str, float] = {}
    wanted = {"prom:app_latency_seconds:p50", "prom:app_latency_seconds:p95"}
    wait_for(
        lambda: (
            second.update(_metrics(scraper.run_due(time.time()), "app")) or wanted <= set(second)
        ),
        10,
        "latencies observed between two scrapes",
    )
    assert second['prom:app_requests_total{route="' + route + '"}:rate'] > 0
    p50, p95 = (second[f"prom:app_latency_seconds:{q}"] for q in ("p50", "p95"))
    assert 0 < p50 <= p95 <= 0.5
    assert second["prom_series_dropped"] == 0


def test_series_beyond_the_cap_are_dropped_and_reported(procs: Processes) -> None:
    _, port = start_app(procs, "app")
    scraper = Scraper([ScrapeSpec("app", f"http://127.0.0.1:{port}/metrics", max_series=10)])
    values = _metrics(scraper.run_due(time.time()), "app")
    assert values["prom_series"] == 10 and values["prom_series_dropped"] > 20
    assert len([m for m in values if m.startswith("prom:")]) == 10
    assert len(scraper.last_dropped["app"]) == values["prom_series_dropped"]


def test_malformed_metrics_are_logged_and_reported_down(
    procs: Processes, caplog: pytest.LogCaptureFixture
) -> None:
    _, port = start_app(procs, "app")
    scraper = Scraper([ScrapeSpec("app", f"http://127.0.0.1:{port}/bad-metrics")])
    assert _metrics(scraper.run_due(time.time()), "app") == {"scrape_up": 0.0}
    assert "scrape of" in caplog.text and "bad-metrics" in caplog.text


def test_a_quantile_waits_for_enough_requests_and_then_spans_every_scrape_since() -> None:
    counts = iter([0, 1, 2, 12, 13])
    slow = iter([0, 1, 1, 1, 1])  # the first request took a second, the rest 10 ms

    def get(url: str, timeout_s: float, max_bytes: int) -> HttpResponse:
        n, s = next(counts), next(slow)
        body = (
            "# TYPE q_seconds histogram\n"
            f'q_seconds_bucket{{le="0.01"}} {n - s}\nq_seconds_bucket{{le="1.0"}} {n}\n'
            f'q_seconds_bucket{{le="+Inf"}} {n}\nq_seconds_sum 0\nq_seconds_count {n}\n'
        )
        return HttpResponse(200, "text/plain; version=0.0.4", body.encode())

    scraper = Scraper([ScrapeSpec("app", "http://app/metrics", interval_s=1.0)], get=get)
    scrapes = [_metrics(scraper.run_due(float(t)), "app") for t in range(5)]
    quantiles = [m.get("prom:q_seconds:p50") for m in scrapes]
    # One or two requests are no median; twelve are, the slow first one among them.
    assert quantiles[:3] == [None, None, None]
    assert quantiles[3] == pytest.approx(0.01 * 6 / 11)
    assert quantiles[4] is None  # one more request since: wait again
    # Nor are twelve a 95th or 99th percentile: that would be the slowest of them.
    assert not any("prom:q_seconds:p95" in m or "prom:q_seconds:p99" in m for m in scrapes)
    assert [quantile_needs(q) for q in (0.5, 0.95, 0.99)] == [10, 40, 200]


def test_bucket_quantiles_interpolate_like_prometheus() -> None:
    buckets = [(0.1, 50.0), (0.5, 90.0), (1.0, 100.0), (float("inf"), 100.0)]
    assert bucket_quantile(0.5, buckets) == pytest.approx(0.1)
    assert bucket_quantile(0.7, buckets) == pytest.approx(0.3)
    assert bucket_quantile(0.99, buckets) == pytest.approx(0.95)
    assert bucket_quantile(0.5, [(1.0, 0.0), (float("inf"), 0.0)]) is None


def test_exposition_parser_keeps_gauges_and_counters_apart() -> None:
    text = '# TYPE q_total counter\nq_total{a="x"} 5\n# TYPE g gauge\ng 2.5\nuntyped_thing 7\n'
    parsed = parse_exposition(text)
    assert parsed.counters == {'prom:q_total{a="x"}': 5.0}
    assert parsed.gauges == {"prom:g": 2.5, "prom:untyped_thing": 7.0}
