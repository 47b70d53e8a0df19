"""An HTTP service that tells Coral through the SDK where its metrics and health are,
at paths no prober would guess.

    python declaring_app.py --port P [--declare-host HOST]

Serves `/internal/prom` (Prometheus text: the gauge `shop_queue_depth 7`) and
`/internal/alive` (200). The SDK declares both at http://HOST:P (HOST defaults to
127.0.0.1). Prints "ready" once both are up.
"""

import argparse
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from coral_mcp import sdk

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--declare-host", default="127.0.0.1")
args = parser.parse_args()

PAGES = {
    "/internal/prom": (b"# TYPE shop_queue_depth gauge\nshop_queue_depth 7\n", "text/plain"),
    "/internal/alive": (b'{"status": "ok"}', "application/json"),
}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body, kind = PAGES.get(self.path, (b"not here", "text/plain"))
        self.send_response(200 if self.path in PAGES else 404)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
base = f"http://{args.declare_host}:{args.port}"
sdk.init(
    service="shop",
    version="3.0.0",
    endpoints={"metrics": f"{base}/internal/prom", "health": f"{base}/internal/alive"},
)
signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
print("ready", flush=True)
server.serve_forever()
sdk.shutdown()
sys.exit(0)
