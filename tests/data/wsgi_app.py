"""A WSGI app with the SDK added in two lines, served by the standard library's wsgiref.

python wsgi_app.py --port P
"""

import argparse
from wsgiref.simple_server import make_server

from coral_mcp.sdk.wsgi import with_coral

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
args = parser.parse_args()


def app(environ, start_response):  # type: ignore[no-untyped-def]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


app = with_coral(app, service="legacy", version="0.9", components={"disk": lambda: True})

with make_server("127.0.0.1", args.port, app) as server:
    print("ready", flush=True)
    server.serve_forever()
