"""A real request/response TCP service for the agent's transport tests.

    python rr_service.py --listen PORT [--delay-file FILE] [--slow-ack]
                         [--call HOST:PORT] [--connections N] [--every S]

Answers each line it receives with "ok\\n" after the delay (seconds) read from
--delay-file at each request (0 when absent). --slow-ack turns off the kernel's quick
acknowledgements on accepted connections, so a slow answer also delays the ACK (the
caller's TCP round-trip time rises). With --call it is also a client: N connections to
HOST:PORT, each sending a request and waiting for the answer every S seconds, and it
answers its own callers only after its call returned (a chain: web -> api -> store).
SIGUSR1 resets every accepted connection (RST, not FIN). Prints "ready" once it listens and its connections are open; APP_VERSION in its
environment is only there for the agent to read.
"""

import argparse
import os
import signal
import socket
import struct
import sys
import threading
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", type=int, required=True)
    parser.add_argument("--delay-file", default="")
    parser.add_argument("--slow-ack", action="store_true")
    parser.add_argument("--call", default="")
    parser.add_argument("--connections", type=int, default=2)
    parser.add_argument("--every", type=float, default=0.05)
    args = parser.parse_args()

    def delay() -> float:
        try:
            with open(args.delay_file) as f:
                return float(f.read().strip() or 0)
        except (OSError, ValueError):
            return 0.0

    upstream: list[socket.socket] = []
    if args.call:
        host, port = args.call.rsplit(":", 1)
        upstream = [
            socket.create_connection((host, int(port)), timeout=30) for _ in range(args.connections)
        ]

    locks = [threading.Lock() for _ in upstream]

    def call_upstream(index: int) -> None:
        with locks[index]:
            _call(upstream[index])

    def _call(conn: socket.socket) -> None:
        conn.sendall(b"req\n")
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = conn.recv(64)
            if not chunk:
                raise ConnectionError("upstream closed")
            reply += chunk

    accepted: list[socket.socket] = []

    def reset_all(*_: object) -> None:
        for conn in accepted:
            try:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.close()
            except OSError:
                pass

    signal.signal(signal.SIGUSR1, reset_all)

    def serve(conn: socket.socket) -> None:
        buffered = b""
        with conn:
            while True:
                if args.slow_ack:
                    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 0)
                try:
                    chunk = conn.recv(4096)
                except OSError:
                    return
                if not chunk:
                    return
                buffered += chunk
                while b"\n" in buffered:
                    _, buffered = buffered.split(b"\n", 1)
                    time.sleep(delay())
                    if upstream:
                        call_upstream(0)
                    conn.sendall(b"ok\n")

    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", args.listen))
    server.listen()

    def accept() -> None:
        while True:
            conn, _ = server.accept()
            accepted.append(conn)
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    def client(index: int) -> None:
        while True:
            try:
                call_upstream(index)
            except OSError:  # the connection broke: left as it is (no reconnect)
                return
            time.sleep(args.every)

    threading.Thread(target=accept, daemon=True).start()
    for index in range(len(upstream)):
        threading.Thread(target=client, args=(index,), daemon=True).start()
    print("ready", os.getpid(), flush=True)
    while True:
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main())
