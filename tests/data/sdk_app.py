"""A plain-Python TCP service that describes itself to Coral with the SDK.

    python sdk_app.py --port P --version V [--control FILE]

Components: `db` is healthy while the --control file does not say "db down"; `cache`
is always healthy. Build metadata comes from the environment (CORAL_GIT_COMMIT ...).
Prints "ready" once the SDK's endpoint is up.
"""

import argparse
import pathlib
import signal
import socket
import sys
import threading

from coral_mcp import sdk

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--version", required=True)
parser.add_argument("--control", default=None)
args = parser.parse_args()


def db() -> tuple[bool, str]:
    control = pathlib.Path(args.control) if args.control else None
    if control is not None and control.exists() and "db down" in control.read_text():
        return False, "connection refused by 127.0.0.1:5432"
    return True, "pool 4/10"


handle = sdk.init(
    service="shop-api",
    version=args.version,
    endpoints={"metrics": f"http://127.0.0.1:{args.port}/metrics"},
    components={"db": db, "cache": lambda: True},
)
assert handle.endpoint is not None, "the SDK endpoint did not start"

server = socket.create_server(("127.0.0.1", args.port), reuse_port=False)
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
threading.Thread(
    target=lambda: [server.accept()[0].close() for _ in iter(int, 1)], daemon=True
).start()
print("ready", flush=True)
stop.wait()
sdk.shutdown()
sys.exit(0)
