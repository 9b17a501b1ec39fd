"""Real alert endpoints on 127.0.0.1 for tests: a Slack-style webhook receiver and an SMTP server (aiosmtpd).

Both record what they accepted and can be switched to fail (HTTP 500, a hang longer than the client's timeout,
an SMTP refusal) and back, so a test can see a failed delivery retried on the next cycle.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:  # a client that timed out is expected
        pass


class WebhookReceiver:
    """``mode``: ``ok`` (200, recorded), ``fail`` (500, not recorded) or ``hang`` (sleeps ``hang_seconds``)."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.hang_seconds = 3.0
        self.received: list[dict[str, Any]] = []
        self.requests = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                receiver.requests += 1
                if receiver.mode == "hang":
                    time.sleep(receiver.hang_seconds)
                    return
                if receiver.mode == "fail":
                    self.send_response(500)
                    self.end_headers()
                    return
                receiver.received.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/hooks/T000/B000/secret"

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self._server = server

    async def handle_RCPT(  # noqa: N802 - aiosmtpd calls handlers by the SMTP verb
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if self._server.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self._server.messages.append(message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SmtpServer:
    """aiosmtpd on 127.0.0.1; ``refuse = True`` answers 550 to every recipient."""

    def __init__(self) -> None:
        self.refuse = False
        self.messages: list[Any] = []
        logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every connection at INFO
        self.port = _free_port()  # aiosmtpd's start-up probe cannot follow an ephemeral port 0
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SmtpServer:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()
