"""An HTTP proxy on 127.0.0.1 that makes a storage server flaky: 503s, throttling and resets.

It forwards every request to the real server, except that, counting requests, it answers some
with HTTP 503 or 429 and drops the connection of others without answering: the transient
errors object stores produce, injected deterministically.
"""

from __future__ import annotations

import http.client
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse


class FlakyProxy:
    """Forward to `target` (http://host:port), failing every `every`-th request in turn.

    Args:
        target: The real server.
        every: Fail one request in this many.
        kinds: The failures to cycle through: "503", "429" (throttling) and "reset".
    """

    def __init__(self, target: str, every: int = 3, kinds: tuple[str, ...] = ("503", "reset", "429")) -> None:
        parsed = urlparse(target)
        self.target_host = parsed.hostname or "127.0.0.1"
        self.target_port = parsed.port or 80
        self.every = every
        self.kinds = kinds
        self.requests = 0
        self.failures: dict[str, int] = {"503": 0, "429": 0, "reset": 0}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The proxy's address."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FlakyProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _next_failure(self) -> str | None:
        with self._lock:
            self.requests += 1
            if self.requests % self.every:
                return None
            kind = self.kinds[(self.requests // self.every) % len(self.kinds)]
            self.failures[kind] += 1
            return kind

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                failure = proxy._next_failure()
                if failure == "reset":
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                if failure is not None:
                    message = b"SlowDown" if failure == "429" else b"ServiceUnavailable"
                    self.send_response(int(failure))
                    self.send_header("Content-Length", str(len(message)))
                    self.send_header("Retry-After", "0")
                    self.end_headers()
                    self.wfile.write(message)
                    return
                upstream = http.client.HTTPConnection(proxy.target_host, proxy.target_port, timeout=30)
                headers = {key: value for key, value in self.headers.items() if key.lower() != "host"}
                headers["Host"] = f"{proxy.target_host}:{proxy.target_port}"
                upstream.request(self.command, self.path, body=body, headers=headers)
                response = upstream.getresponse()
                data = response.read()
                self.send_response(response.status, response.reason)
                for key, value in response.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                upstream.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = _forward  # noqa: N815

        return Handler
