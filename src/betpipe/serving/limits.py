"""The request-size cap (``serving.max_body_bytes``): a plain ASGI middleware in front of every route.

Without it a 50 MB body was read and parsed in full on the event loop before any check ran (a 422 after seconds,
``/health`` stalled meanwhile). A declared ``Content-Length`` over the cap is refused before a byte of the body is
read (an ``Expect: 100-continue`` client never sends it); a chunked body is counted as it arrives and cut off at the
first chunk past the cap. Either way the answer is a 413 problem with ``Connection: close``, so the server does not
go on reading and discarding the rest. Starlette's own ``RequestBodyLimitMiddleware`` acts only once a route reads
the body and answers in plain text; this one refuses at the door and in the service's problem format.
Must never buffer a body itself: it counts the chunks the app asks for and passes them on.
"""

from __future__ import annotations

from betpipe.serving.metrics import ASGIApp, Message, Receive, Scope, Send
from betpipe.serving.problems import PREFIX, problem_body, problem_response

__all__ = ["BodyLimitMiddleware"]


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None  # the HTTP parser has refused a malformed one already
    return None


class BodyLimitMiddleware:
    """Refuses request bodies over ``max_bytes`` with 413 problem JSON, declared or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = f"the request body is over the service's limit of {self.max_bytes} bytes (serving.max_body_bytes)"
        body = problem_body(413, "Content too large", detail, str(scope.get("path", "")), f"{PREFIX}body-too-large")
        await problem_response(body, headers={"Connection": "close"})(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        received = 0
        started = False  # the app has begun its answer: too late for a 413, the body is only cut off
        cut = False  # the body passed the cap: the app is told the client left
        answered = False  # the 413 went out: whatever the app answers after it is dropped

        async def counted_receive() -> Message:
            nonlocal received, cut, answered
            if cut:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    cut = True
                    if not started:
                        await self._refuse(scope, receive, send)
                        answered = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if answered:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, counted_receive, guarded_send)
