"""A real HTTP server on 127.0.0.1 that speaks The Odds API v4 wire format, with injectable faults.

It replays response bodies registered per path, checks the ``apiKey`` query parameter like the real API (401 with
a JSON message), sends the quota headers, and can be told to answer the next requests (``fail_next``) or every
request (``fail_always``) with a fault: a status (429 with Retry-After, 500), a delay (to trigger client timeouts), a
truncated body, a body that is not JSON, a replaced body or extra headers, a redirect loop, a 3xx without Location,
a corrupt gzip body, a gzip bomb, a body trickled slowly, an oversized body, or a connection dropped mid-answer. It
records the arrival time, path and query of every request so tests can measure rate limiting at the server.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Fault:
    """What to do to one request instead of (or before) answering it normally."""

    # "status", "delay", "truncate", "malformed", "body" (serve ``body``), "headers" (add ``headers`` to a normal
    # answer), "redirect_loop", "redirect_nowhere", "bad_gzip", "gzip_bomb" (``size`` bytes once inflated),
    # "trickle" (the body in 16-byte pieces, ``seconds`` apart), "oversize" (``size`` bytes, no Content-Length),
    # "drop" (close without answering), "cut" (announce the body, send half, close)
    kind: str
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    body: bytes = b""
    size: int = 0


@dataclass(frozen=True)
class SeenRequest:
    at: float  # time.monotonic() on arrival
    path: str
    query: dict[str, list[str]]


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out and hung up is expected here, not an error


class FakeOddsApi:
    """Start with ``start()`` (binds an ephemeral port), stop with ``stop()``; ``url`` is the base URL."""

    def __init__(self, api_key: str, *, quota: int = 500) -> None:
        self.api_key = api_key
        self.routes: dict[str, bytes] = {}
        self.faults: deque[Fault] = deque()
        self.always: Fault | None = None
        self.requests: list[SeenRequest] = []
        self.remaining = quota
        self.used = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "server not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def add_route(self, path: str, body: bytes) -> None:
        self.routes[path] = body

    def fail_next(self, *faults: Fault) -> None:
        self.faults.extend(faults)

    def fail_always(self, fault: Fault | None) -> None:
        """Answer every request (after any queued ``fail_next`` faults) with ``fault``; None stops it."""
        self.always = fault

    def start(self) -> FakeOddsApi:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake._handle(self)

            def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
                pass

        server = _QuietServer(("127.0.0.1", 0), Handler)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        query = parse_qs(parts.query)
        with self._lock:
            self.requests.append(SeenRequest(time.monotonic(), parts.path, query))
            fault = self.faults.popleft() if self.faults else self.always
        if fault is not None and fault.kind in _WIRE_FAULTS:
            _WIRE_FAULTS[fault.kind](handler, fault)
            return
        if query.get("apiKey", [""])[-1] != self.api_key:
            self._send(handler, 401, json.dumps({"message": "API key is not valid or is missing."}).encode(), {})
            return
        if fault is not None and fault.kind == "delay":
            time.sleep(fault.seconds)
        if fault is not None and fault.kind == "status":
            message = json.dumps({"message": f"injected {fault.status}"}).encode()
            self._send(handler, fault.status, message, fault.headers)
            return
        body = self.routes.get(parts.path)
        if body is None:
            self._send(handler, 404, json.dumps({"message": "Unknown sport or endpoint."}).encode(), {})
            return
        headers = self._quota_headers(parts.path, query)
        if fault is not None and fault.kind == "truncate":
            body = body[: len(body) // 2]
        elif fault is not None and fault.kind == "malformed":
            body = b"<html><body>502 Bad Gateway</body></html>"
        elif fault is not None and fault.kind == "body":
            body = fault.body
        elif fault is not None and fault.kind == "headers":
            headers.update(fault.headers)
        elif fault is not None and fault.kind == "trickle":
            _trickle(handler, body, headers, fault.seconds)
            return
        self._send(handler, 200, body, headers)

    def _quota_headers(self, path: str, query: dict[str, list[str]]) -> dict[str, str]:
        if path.endswith("/odds"):
            cost = len(query.get("markets", ["h2h"])[-1].split(",")) * len(query.get("regions", ["eu"])[-1].split(","))
        elif path.endswith("/scores"):
            cost = 2 if "daysFrom" in query else 1
        else:
            cost = 0
        with self._lock:
            self.used += cost
            self.remaining -= cost
            return {
                "x-requests-remaining": str(self.remaining),
                "x-requests-used": str(self.used),
                "x-requests-last": str(cost),
            }

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str]) -> None:
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json; charset=utf-8")
            handler.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
            pass


def _redirect_loop(handler: BaseHTTPRequestHandler, fault: Fault) -> None:
    FakeOddsApi._send(handler, 302, b"", {"Location": handler.path})


def _redirect_nowhere(handler: BaseHTTPRequestHandler, fault: Fault) -> None:
    FakeOddsApi._send(handler, 302, b"moved, but not saying where", {})


def _bad_gzip(handler: BaseHTTPRequestHandler, fault: Fault) -> None:
    FakeOddsApi._send(handler, 200, b"\x1f\x8b\x08\x00 this is not deflate data", {"Content-Encoding": "gzip"})


def _gzip_bomb(handler: BaseHTTPRequestHandler, fault: Fault) -> None:
    FakeOddsApi._send(handler, 200, gzip.compress(b"[" + b" " * fault.size + b"]"), {"Content-Encoding": "gzip"})


def _oversize(handler: BaseHTTPRequestHandler, fault: Fault) -> None:
    try:  # HTTP/1.0 without Content-Length: the body runs until the connection closes
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.end_headers()
        handler.wfile.write(b"[" + b" " * fault.size + b"]")
    except (BrokenPipeError, ConnectionResetError):
        pass


def _drop(handler: BaseHTTPRequestHandler, fault: Fault) -> None:
    handler.close_connection = True
    handler.connection.close()


def _cut(handler: BaseHTTPRequestHandler, fault: Fault) -> None:
    try:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", "4096")
        handler.end_headers()
        handler.wfile.write(b'[{"id": "half an answer"')
        handler.wfile.flush()
    except (BrokenPipeError, ConnectionResetError):
        pass
    handler.close_connection = True
    handler.connection.close()


def _trickle(handler: BaseHTTPRequestHandler, body: bytes, headers: dict[str, str], seconds: float) -> None:
    try:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        for start in range(0, len(body), 16):
            handler.wfile.write(body[start : start + 16])
            handler.wfile.flush()
            time.sleep(seconds)
    except (BrokenPipeError, ConnectionResetError, OSError):  # the client hit its deadline and hung up
        pass


# Faults that replace the whole exchange, before the key is even checked.
_WIRE_FAULTS = {
    "redirect_loop": _redirect_loop,
    "redirect_nowhere": _redirect_nowhere,
    "bad_gzip": _bad_gzip,
    "gzip_bomb": _gzip_bomb,
    "oversize": _oversize,
    "drop": _drop,
    "cut": _cut,
}
