"""A real TCP proxy whose link can be paused: a network cut without killing anyone.

While paused it stops moving bytes in both directions (connections stay open, as
when packets are silently dropped); resumed, it forwards what piled up.
"""

from __future__ import annotations

import selectors
import socket
import threading


class PausableProxy:
    def __init__(self, target_port: int) -> None:
        self._target = ("127.0.0.1", target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._flowing = threading.Event()
        self._flowing.set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def pause(self) -> None:
        self._flowing.clear()

    def resume(self) -> None:
        self._flowing.set()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._listener.close()

    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self._listener, selectors.EVENT_READ)
        pairs: dict[socket.socket, socket.socket] = {}
        try:
            self._forward(sel, pairs)
        finally:
            for s in list(pairs):
                s.close()
            sel.close()

    def _forward(
        self, sel: selectors.BaseSelector, pairs: dict[socket.socket, socket.socket]
    ) -> None:
        while not self._stop.is_set():
            for key, _ in sel.select(timeout=0.05):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if sock is self._listener:
                    client, _ = self._listener.accept()
                    try:
                        upstream = socket.create_connection(self._target, timeout=2)
                    except OSError:  # nothing listens upstream yet: refuse, as it would
                        client.close()
                        continue
                    pairs[client], pairs[upstream] = upstream, client
                    sel.register(client, selectors.EVENT_READ)
                    sel.register(upstream, selectors.EVENT_READ)
                    continue
                if sock not in pairs:
                    continue  # its partner ended earlier in this same batch: already closed
                if not self._flowing.is_set():
                    continue  # leave the bytes in the kernel buffers
                other = pairs[sock]
                try:
                    data = sock.recv(65536)
                    if data:
                        other.sendall(data)
                        continue
                except OSError:
                    pass
                for s in (sock, other):
                    sel.unregister(s)
                    s.close()
                    pairs.pop(s, None)
            if not self._flowing.is_set():
                self._flowing.wait(timeout=0.05)
