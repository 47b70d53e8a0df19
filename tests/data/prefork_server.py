"""A tiny real pre-fork server for tests, as PostgreSQL or gunicorn run: the leader
listens and keeps starting short-lived workers that inherit its listening socket and
run under another command line (`--worker`), each ending cleanly after `--life` s.

    python prefork_server.py --listen PORT [--life S]

Prints "ready" on stdout once it listens and its first worker runs.
"""

import argparse
import socket
import subprocess
import sys
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", type=int, default=0)
    parser.add_argument("--life", type=float, default=0.5)
    parser.add_argument("--worker", type=int, default=-1, help="a worker's inherited socket")
    args = parser.parse_args()
    if args.worker >= 0:
        held = socket.socket(fileno=args.worker)
        time.sleep(args.life)
        held.detach()
        return
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", args.listen))
    server.listen()
    fd = server.fileno()
    cmd = [sys.executable, __file__, "--worker", str(fd), "--life", str(args.life)]
    worker = subprocess.Popen(cmd, pass_fds=[fd])
    print("ready", flush=True)
    while True:
        worker.wait()
        worker = subprocess.Popen(cmd, pass_fds=[fd])


if __name__ == "__main__":
    sys.exit(main())
