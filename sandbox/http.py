"""A small threaded HTTP server for the API sandboxes (generic: no provider knowledge here).

A sandbox module gives :class:`SandboxHTTPServer` one handler, ``Request -> Response``; the
server runs it on a daemon thread per connection (HTTP/1.1 keep-alive, as the client
libraries expect), counts requests per route name, and stops cleanly. Provider specifics —
routes, error bodies, quotas, faults — live in the sandbox module (e.g. ``google.py``).
"""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes = b""

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    # Fault injection (sandbox.chaos): "drop" hangs up without answering; "truncate"
    # announces the whole body, sends half of it and hangs up.
    cut: str | None = None

    @classmethod
    def json(cls, status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
        h = {"Content-Type": "application/json; charset=UTF-8", **(headers or {})}
        return cls(status, json.dumps(payload).encode("utf-8"), h)


Handler = Callable[[Request], Response]


def parse_target(target: str) -> tuple[str, dict[str, list[str]]]:
    """``/a/b?x=1&x=2`` → (``/a/b``, {"x": ["1", "2"]})."""
    parts = urlsplit(target)
    return parts.path, parse_qs(parts.query, keep_blank_values=True)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body go out in separate writes: without TCP_NODELAY the body waits for
    # the client's delayed ACK (~40 ms per response), which no real API adds
    disable_nagle_algorithm = True
    server: _Server

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path, query = parse_target(self.path)
        request = Request(self.command, path, query,
                          {k.lower(): v for k, v in self.headers.items()}, body)
        try:
            response = self.server.handler(request)
        except Exception as exc:  # noqa: BLE001 - a sandbox bug must show as a 500, not hang
            response = Response.json(500, {"error": {"code": 500, "message": repr(exc)}})
        if response.cut == "drop":
            self.close_connection = True
            return
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        body = response.body
        if response.cut == "truncate":
            self.send_header("Connection", "close")
            body = body[:len(body) // 2]
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # quiet: tests and `sandbox serve` report what matters themselves


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # 200 mailboxes connect at once; the default backlog is 5
    allow_reuse_address = True
    handler: Handler


class SandboxHTTPServer:
    """One handler served on ``host:port`` (port 0: a free one) in a background thread."""

    def __init__(self, handler: Handler, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = _Server((host, port), _RequestHandler)
        self._server.handler = handler
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True,
                                        name=f"sandbox-http-{self.port}")
        self._started = False
        self.counts: Counter[str] = Counter()  # route name → requests served (sub-requests too)
        self._lock = threading.Lock()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = self._server.server_address[0]
        if isinstance(host, bytes):
            host = host.decode("ascii")
        return f"http://{host}:{self.port}"

    def count(self, route: str, n: int = 1) -> None:
        with self._lock:
            self.counts[route] += n

    def start(self) -> SandboxHTTPServer:
        if not self._started:
            self._thread.start()
            self._started = True
        return self

    def stop(self) -> None:
        if self._started:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._started = False
        self._server.server_close()


def write_secret(path: Path, data: str | bytes) -> Path:
    """Write a sandbox credential (client secret, private key, token) readable by its owner
    only — created 0600, never widened first — replacing an earlier one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data.encode("utf-8") if isinstance(data, str) else data)
    return path
