"""A small real HTTP service for the agent's tests.

    python watched_app.py --port P [--control FILE] [--exit-code N] [--leak-mb-per-s N]
                          [--tag TEXT]

Routes: /health (JSON; healthy and version read from the --control JSON file at each
request), /version (JSON, the same version), /hang (never answers), /metrics (real prometheus-client text exposition),
/metrics-om (OpenMetrics), /bad-metrics (malformed exposition). SIGUSR1 makes the
process exit with --exit-code. --leak-mb-per-s grows its memory steadily. Prints "ready".
"""

import argparse
import json
import os
import random
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.openmetrics.exposition import (
    CONTENT_TYPE_LATEST as OM_TYPE,
)
from prometheus_client.openmetrics.exposition import (
    generate_latest as generate_openmetrics,
)

REGISTRY = CollectorRegistry()
REQUESTS = Counter("app_requests", "Requests served", ["route"], registry=REGISTRY)
IN_FLIGHT = Gauge("app_in_flight", "Requests in flight", registry=REGISTRY)
LATENCY = Histogram(
    "app_latency_seconds", "Work latency", buckets=(0.01, 0.05, 0.1, 0.5, 1.0), registry=REGISTRY
)
for i in range(30):
    Gauge(f"app_extra_{i}", "Filler series for the series cap", registry=REGISTRY).set(i)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--control", default="")
    parser.add_argument("--exit-code", type=int, default=0)
    parser.add_argument("--leak-mb-per-s", type=float, default=0.0)
    parser.add_argument("--tag", default="")
    args = parser.parse_args()

    def control() -> dict[str, object]:
        if not args.control or not os.path.exists(args.control):
            return {"healthy": True, "version": "1.0"}
        with open(args.control) as f:
            return dict(json.load(f))

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *a: object) -> None:
            pass

        def _send(self, status: int, body: bytes, ctype: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            REQUESTS.labels(self.path).inc()
            if self.path == "/health":
                state = control()
                ok = bool(state.get("healthy", True))
                doc = {
                    "status": "ok" if ok else "down",
                    "version": state.get("version", "1.0"),
                    "components": {"db": {"status": "up" if ok else "down"}},
                }
                self._send(200 if ok else 503, json.dumps(doc).encode(), "application/json")
            elif self.path == "/version":
                version = str(control().get("version", "1.0"))
                self._send(200, json.dumps({"version": version}).encode(), "application/json")
            elif self.path == "/hang":
                time.sleep(3600)
            elif self.path == "/metrics":
                self._send(200, generate_latest(REGISTRY), "text/plain; version=0.0.4")
            elif self.path == "/metrics-om":
                self._send(200, generate_openmetrics(REGISTRY), OM_TYPE)
            elif self.path == "/bad-metrics":
                self._send(200, b'# TYPE x counter\nx{a="1" 3\n}}} not prometheus\n', "text/plain")
            else:
                self._send(404, b"", "text/plain")

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    signal.signal(signal.SIGUSR1, lambda *_: os._exit(args.exit_code))

    def work() -> None:
        leaked = []
        while True:
            LATENCY.observe(random.uniform(0.0, 0.2))
            if args.leak_mb_per_s:
                leaked.append(bytearray(int(args.leak_mb_per_s * 1024 * 1024 / 20)) + b"x")
            time.sleep(0.05)

    threading.Thread(target=work, daemon=True).start()
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
