"""A TCP server that misbehaves on purpose, for the agent's probe tests.

    python hostile_server.py --listen PORT --mode MODE [--count-file FILE [--count-from PID]]

MODE: silent (accepts, never says a word), garbage (answers any request with random
bytes), endless (HTTP 200 whose body never ends), slowloris (an HTTP status line, then
one header byte every 0.1 s, forever). Each accepted connection is counted in
--count-file; with --count-from, only those whose other end belongs to process PID (the
test's prober: an auto-discovering agent of another test running at the same time also
knocks on every listening port of the host once). Prints "ready" once it listens.
"""

import argparse
import os
import socket
import sys
import threading
import time

import psutil


def belongs_to(conn: socket.socket, pid: int) -> bool:
    """Whether the other end of `conn` is a socket of process `pid` (checked while that
    end is open: a prober waits for an answer before it gives up)."""
    peer = conn.getpeername()
    try:
        return any(c.laddr == peer for c in psutil.Process(pid).net_connections("tcp"))
    except psutil.Error:
        return False


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", type=int, required=True)
    parser.add_argument("--mode", choices=["silent", "garbage", "endless", "slowloris"])
    parser.add_argument("--count-file", default="")
    parser.add_argument("--count-from", type=int, default=0)
    args = parser.parse_args()
    accepted = [0]

    def serve(conn: socket.socket) -> None:
        try:
            if args.mode == "silent":
                conn.recv(4096)
                time.sleep(3600)
            conn.recv(4096)
            if args.mode == "garbage":
                conn.sendall(os.urandom(2048))
                time.sleep(3600)
            elif args.mode == "endless":
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")
                while True:
                    conn.sendall(b"x" * 65536)
            else:
                conn.sendall(b"HTTP/1.1 200 OK\r\n")
                while True:
                    conn.sendall(b"X")
                    time.sleep(0.1)
        except OSError:
            pass
        finally:
            conn.close()

    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", args.listen))
    server.listen()
    print("ready", flush=True)
    while True:
        conn, _ = server.accept()
        if args.count_from and not belongs_to(conn, args.count_from):
            threading.Thread(target=serve, args=(conn,), daemon=True).start()
            continue
        accepted[0] += 1
        if args.count_file:
            with open(args.count_file, "w") as f:
                f.write(str(accepted[0]))
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
