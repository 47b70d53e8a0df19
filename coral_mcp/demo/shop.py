"""The demo's shop: `web` (the storefront) calls `api`, which reads items from
PostgreSQL through Redis and writes orders to PostgreSQL. Each is its own process:

    python -m coral_mcp.demo.shop web --port N --api http://127.0.0.1:M
    python -m coral_mcp.demo.shop api --port M --pg DSN --redis URL --release 1.4.2

Both answer `/health` (with component health), `/version` and Prometheus `/metrics`
(prometheus-client), as real services do; Coral is told none of this. A release's
defect comes from the `SHOP_DEFECT` environment variable (`leak`, `errors`, `crash`)
of the deploy that carries it; `POST /admin/fault/{cpu,connection_leak,off}` starts and
stops faults inside a running api.
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import os
import random
import signal
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import urlsplit

import psycopg
import redis
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

logger = logging.getLogger("shop")

REQUESTS = Counter("http_requests", "HTTP requests served", ["route", "code"])
LATENCY = Histogram("http_request_duration_seconds", "Time to answer a request", ["route"])
INFO = Gauge("shop_build_info", "The running release", ["service", "version"])
DB_LATENCY = Histogram("db_query_duration_seconds", "PostgreSQL query time")
CACHE = Counter("cache_requests", "Redis lookups", ["result"])

#: Largest leak the `leak` defect builds up (keeps a forgotten demo from eating the host).
MAX_LEAK_BYTES = 600 * 1024 * 1024
LEAK_PER_REQUEST = 100 * 1024
#: Exit status of the `crash` defect.
CRASH_STATUS = 70

Response = tuple[int, dict[str, Any] | bytes]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    routes: ClassVar[dict[tuple[str, str], Callable[[Handler, str], Response]]] = {}
    service = ""

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: one line per request would drown the logs."""

    def _dispatch(self, method: str) -> None:
        path = self.path.split("?", 1)[0]
        prefix = "/" + path.strip("/").split("/", 1)[0]
        route = self.routes.get((method, prefix)) or self.routes.get((method, path))
        started = time.perf_counter()
        body: dict[str, Any] | bytes
        if route is None:
            code, body = 404, {"error": f"no route {method} {path}"}
        else:
            try:
                code, body = route(self, path)
            except Exception as exc:
                logger.exception("%s %s failed", method, path)
                code, body = 500, {"error": type(exc).__name__}
        label = prefix if route is not None else "other"
        REQUESTS.labels(label, str(code)).inc()
        LATENCY.labels(label).observe(time.perf_counter() - started)
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        ctype = CONTENT_TYPE_LATEST if isinstance(body, bytes) else "application/json"
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(min(length, 65536))
        self._dispatch("POST")


def metrics(_h: Handler, _path: str) -> Response:
    return 200, generate_latest()


# -- api ----------------------------------------------------------------------------


class Api:
    def __init__(self, pg_dsn: str, redis_url: str, release: str, defect: str) -> None:
        self.pg_dsn = pg_dsn
        self.redis = redis.Redis.from_url(redis_url, socket_timeout=1, socket_connect_timeout=1)
        self.release = release
        self.defect = defect
        self._local = threading.local()
        self._leaked: list[bytes] = []
        self._leaked_conns: list[Any] = []
        self._faults: set[str] = set()
        self._last_leak_s = 0.0
        self._lock = threading.Lock()

    # database
    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.broken:
            conn = psycopg.connect(self.pg_dsn, autocommit=True)
            self._local.conn = conn
        return conn

    def query(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        started = time.perf_counter()
        try:
            rows: list[tuple[Any, ...]] = self._conn().execute(sql, args).fetchall()
        except psycopg.Error:
            conn = getattr(self._local, "conn", None)
            if conn is not None:
                conn.close()
            raise
        finally:
            DB_LATENCY.observe(time.perf_counter() - started)
        if "connection_leak" in self._faults:
            self._leak_connection()
        return rows

    def _leak_connection(self) -> None:
        with self._lock:
            now = time.monotonic()
            if now - self._last_leak_s < 1.0 or len(self._leaked_conns) >= 250:
                return
            self._last_leak_s = now
        conn = psycopg.connect(self.pg_dsn, autocommit=True)
        conn.execute("SELECT 1")
        self._leaked_conns.append(conn)  # never closed: the leak

    # routes
    def item(self, _h: Handler, path: str) -> Response:
        item_id = int(path.rstrip("/").rsplit("/", 1)[-1] or 0)
        if self.defect == "errors" and random.random() < 0.33:
            raise RuntimeError("release 1.5.0: price formatter failed")
        key = f"item:{item_id}"
        try:
            cached = self.redis.get(key)
        except redis.RedisError:
            cached = None
            CACHE.labels("error").inc()
        if cached is not None:
            CACHE.labels("hit").inc()
            body: dict[str, Any] = json.loads(cached)
        else:
            CACHE.labels("miss").inc()
            try:
                rows = self.query("SELECT * FROM shop_get_item(%s)", (item_id,))
            except psycopg.Error as exc:
                return 503, {"error": f"database unavailable: {type(exc).__name__}"}
            if not rows:
                return 404, {"error": f"no item {item_id}"}
            body = {"id": rows[0][0], "name": rows[0][1], "price_cents": rows[0][2]}
            try:
                self.redis.set(key, json.dumps(body), ex=1)
            except redis.RedisError:
                CACHE.labels("error").inc()
        if self.defect == "leak" and len(self._leaked) * LEAK_PER_REQUEST < MAX_LEAK_BYTES:
            self._leaked.append(os.urandom(LEAK_PER_REQUEST))
        return 200, body

    def order(self, _h: Handler, _path: str) -> Response:
        try:
            rows = self.query(
                "INSERT INTO orders (item_id) VALUES (%s) RETURNING id", (random.randint(1, 500),)
            )
        except psycopg.Error as exc:
            return 503, {"error": f"database unavailable: {type(exc).__name__}"}
        return 201, {"order": rows[0][0]}

    def health(self, _h: Handler, _path: str) -> Response:
        components = {"postgres": self._check(lambda: self.query("SELECT 1", ()))}
        components["redis"] = self._check(self.redis.ping)
        ok = all(c["status"] == "up" for c in components.values())
        return (200 if ok else 503), {
            "status": "ok" if ok else "degraded",
            "service": "api",
            "version": self.release,
            "components": components,
        }

    @staticmethod
    def _check(probe: Callable[[], object]) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            probe()
        except Exception as exc:
            return {"status": "down", "error": type(exc).__name__}
        return {"status": "up", "latency_ms": round((time.perf_counter() - started) * 1000, 1)}

    def version(self, _h: Handler, _path: str) -> Response:
        return 200, {"service": "api", "version": self.release}

    def fault(self, _h: Handler, path: str) -> Response:
        name = path.rstrip("/").rsplit("/", 1)[-1]
        if name == "off":
            self._faults.clear()
            for conn in self._leaked_conns:
                conn.close()
            self._leaked_conns.clear()
        elif name in ("cpu", "connection_leak"):
            self._faults.add(name)
            if name == "cpu":
                threading.Thread(target=self._burn, name="burn", daemon=True).start()
        else:
            return 404, {"error": f"no fault {name}"}
        return 200, {"faults": sorted(self._faults)}

    def _burn(self) -> None:
        x = 0
        while "cpu" in self._faults:
            for _ in range(10_000):
                x = (x * 31 + 7) % 1_000_003

    def routes(self) -> dict[tuple[str, str], Callable[[Handler, str], Response]]:
        return {
            ("GET", "/items"): self.item,
            ("POST", "/orders"): self.order,
            ("GET", "/health"): self.health,
            ("GET", "/version"): self.version,
            ("GET", "/metrics"): metrics,
            ("POST", "/admin"): self.fault,
        }

    def crash_later(self) -> None:
        """The `crash` defect: exit a few seconds after start, mid-traffic."""

        def crash() -> None:
            time.sleep(4.0)
            logger.error("release %s: fatal error in the order queue; exiting", self.release)
            os._exit(CRASH_STATUS)

        threading.Thread(target=crash, daemon=True).start()


# -- web ----------------------------------------------------------------------------


class Web:
    def __init__(self, api_url: str, release: str) -> None:
        parts = urlsplit(api_url)
        self.api_host, self.api_port = parts.hostname or "127.0.0.1", parts.port or 80
        self.release = release
        self._local = threading.local()

    def call(self, method: str, path: str) -> tuple[int, bytes]:
        """One request to api on this thread's keep-alive connection (one retry)."""
        for attempt in (1, 2):
            conn = getattr(self._local, "conn", None)
            if conn is None:
                conn = http.client.HTTPConnection(self.api_host, self.api_port, timeout=5)
                self._local.conn = conn
            try:
                conn.request(method, path, body=b"" if method == "POST" else None)
                resp = conn.getresponse()
                return resp.status, resp.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                self._local.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def product(self, _h: Handler, path: str) -> Response:
        item_id = path.rstrip("/").rsplit("/", 1)[-1]
        try:
            status, data = self.call("GET", f"/items/{item_id}")
        except (OSError, http.client.HTTPException) as exc:
            return 502, {"error": f"api unreachable: {type(exc).__name__}"}
        if status >= 500:
            return 502, {"error": f"api answered {status}"}
        return status, {"product": json.loads(data or b"{}")}

    def checkout(self, _h: Handler, _path: str) -> Response:
        try:
            status, data = self.call("POST", "/orders")
        except (OSError, http.client.HTTPException) as exc:
            return 502, {"error": f"api unreachable: {type(exc).__name__}"}
        return (502 if status >= 500 else status), json.loads(data or b"{}")

    def health(self, _h: Handler, _path: str) -> Response:
        started = time.perf_counter()
        api: dict[str, Any]
        try:
            status, _ = self.call("GET", "/version")
            api = {"status": "up" if status == 200 else "down", "http_status": status}
        except (OSError, http.client.HTTPException) as exc:
            api = {"status": "down", "error": type(exc).__name__}
        api["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
        ok = api["status"] == "up"
        return (200 if ok else 503), {
            "status": "ok" if ok else "degraded",
            "service": "web",
            "version": self.release,
            "components": {"api": api},
        }

    def version(self, _h: Handler, _path: str) -> Response:
        return 200, {"service": "web", "version": self.release}

    def routes(self) -> dict[tuple[str, str], Callable[[Handler, str], Response]]:
        return {
            ("GET", "/product"): self.product,
            ("POST", "/checkout"): self.checkout,
            ("GET", "/health"): self.health,
            ("GET", "/version"): self.version,
            ("GET", "/metrics"): metrics,
        }


def serve(port: int, service: str, routes: dict[tuple[str, str], Any]) -> None:
    handler = type("ShopHandler", (Handler,), {"routes": routes, "service": service})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    logger.info("%s listening on 127.0.0.1:%d", service, port)
    server.serve_forever(poll_interval=0.2)
    server.server_close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="shop", description=__doc__)
    parser.add_argument("service", choices=("web", "api"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--release", default="1.4.2")
    parser.add_argument("--api", default="", help="web: the api's base URL")
    parser.add_argument("--pg", default="", help="api: PostgreSQL DSN")
    parser.add_argument("--redis", default="", help="api: Redis URL")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    defect = os.environ.get("SHOP_DEFECT", "")
    INFO.labels(args.service, args.release).set(1)
    if args.service == "api":
        api = Api(args.pg, args.redis, args.release, defect)
        if defect == "crash":
            api.crash_later()
        serve(args.port, "api", api.routes())
    else:
        serve(args.port, "web", Web(args.api, args.release).routes())
    return 0


if __name__ == "__main__":
    sys.exit(main())
