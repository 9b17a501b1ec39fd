"""A real HTTP server on 127.0.0.1 serving fixed bodies by path (404 otherwise), recording every requested path.

For sources that download files (football-data.co.uk): tests point the configured base URL at it.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class StaticServer:
    def __init__(self, routes: dict[str, bytes]) -> None:
        self.routes = dict(routes)
        self.requests: list[str] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "server not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> StaticServer:
        static = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                static.requests.append(self.path)
                body = static.routes.get(self.path)
                self.send_response(200 if body is not None else 404)
                payload = body if body is not None else b"<html>404 Not Found</html>"
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
