"""Steady traffic for the demo shop: a few keep-alive clients at a fixed total rate.

    python -m coral_mcp.demo.load --url http://127.0.0.1:N --rate 12 --stats FILE

Nine requests in ten look at a product, one checks out. Every second the rate, error
share and 95th-percentile latency of the last five seconds go to the stats file (JSON),
which the demo shows as its traffic line.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import signal
import sys
import threading
import time
from collections import deque
from pathlib import Path
from urllib.parse import urlsplit

WINDOW_S = 5.0


class Load:
    def __init__(self, url: str, rate: float, workers: int) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.period_s = workers / rate
        self.workers = workers
        self.stop = threading.Event()
        self._done: deque[tuple[float, bool, float]] = deque(maxlen=10_000)
        self._lock = threading.Lock()

    def _one(self, conn: http.client.HTTPConnection) -> bool:
        if random.random() < 0.1:
            conn.request("POST", "/checkout", body=b"")
        else:
            conn.request("GET", f"/product/{random.randint(1, 500)}")
        resp = conn.getresponse()
        resp.read()
        return resp.status < 500

    def worker(self) -> None:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=5)
        next_s = time.monotonic() + random.random() * self.period_s
        while not self.stop.wait(max(0.0, next_s - time.monotonic())):
            next_s = max(next_s + self.period_s, time.monotonic() - self.period_s)
            started = time.monotonic()
            try:
                ok = self._one(conn)
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(self.host, self.port, timeout=5)
                ok = False
            with self._lock:
                self._done.append((time.monotonic(), ok, time.monotonic() - started))

    def stats(self) -> dict[str, float]:
        cutoff = time.monotonic() - WINDOW_S
        with self._lock:
            recent = [d for d in self._done if d[0] >= cutoff]
        if not recent:
            return {"rate_per_s": 0.0, "error_share": 0.0, "p95_ms": 0.0}
        latencies = sorted(d[2] for d in recent)
        return {
            "rate_per_s": round(len(recent) / WINDOW_S, 1),
            "error_share": round(sum(1 for d in recent if not d[1]) / len(recent), 3),
            "p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))] * 1000, 1),
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="load", description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--rate", type=float, default=12.0, help="requests per second")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--stats", type=Path, default=None)
    args = parser.parse_args(argv)
    load = Load(args.url, args.rate, args.workers)
    signal.signal(signal.SIGTERM, lambda *_: load.stop.set())
    threads = [threading.Thread(target=load.worker, daemon=True) for _ in range(args.workers)]
    for t in threads:
        t.start()
    while not load.stop.wait(1.0):
        if args.stats is not None:
            tmp = args.stats.with_suffix(".tmp")
            tmp.write_text(json.dumps(load.stats()))
            tmp.replace(args.stats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
