"""A TCP server that accepts connections and never answers: an address with something behind it
that is not Ray (a wrong port, a firewall that holds connections, a Ray of another version)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def silent_server(host: str = "127.0.0.2") -> Iterator[str]:
    """Serve on `host` at a free port; yields `HOST:PORT`."""
    server = socket.socket()
    server.bind((host, 0))
    server.listen(16)
    server.settimeout(0.5)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"{host}:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        for connection in accepted:
            connection.close()
        server.close()
