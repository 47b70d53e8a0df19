"""A tiny real TCP service for tests: listens, optionally holds connections to others.

    python tcp_service.py --listen PORT [--connect HOST:PORT ...] [--connections N] [--tag T]

Prints "ready" on stdout once it listens and its connections are open, then serves
until killed (accepted connections are kept open).
"""

import argparse
import socket
import sys
import threading
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", type=int, required=True)
    parser.add_argument("--connect", action="append", default=[])
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--tag", default="", help="ignored: lets tests find the process")
    args = parser.parse_args()
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", args.listen))
    server.listen()
    accepted = []

    def accept() -> None:
        while True:
            conn, _ = server.accept()
            accepted.append(conn)

    threading.Thread(target=accept, daemon=True).start()
    held = []
    for target in args.connect:
        host, port = target.rsplit(":", 1)
        for _ in range(args.connections):
            held.append(socket.create_connection((host, int(port)), timeout=10))
    print("ready", flush=True)
    while True:
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main())
