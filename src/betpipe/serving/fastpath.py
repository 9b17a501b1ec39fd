"""POST /predict for one scheduled event by id, answered in front of FastAPI's routing: the service's hot request.

A ``{"event_id": N}`` body (``"markets"`` optional) for an event of the loaded snapshot is a lookup of bytes encoded
when the snapshot was built (``answers``); FastAPI's routing, dependency solving, body validation and exception
plumbing cost about three times that lookup on every request. This plain ASGI middleware, inside the body cap and the
metrics (``app.create_app`` adds it first, so it is innermost), answers exactly those requests itself, through the
same ``PredictionService.event`` the route calls, with the same headers and bytes. Everything else goes on to the
app with its body replayed untouched: any other path or method, a body of another shape, a type the route would
coerce or refuse (``"1"``, ``true``, ``1.0``, an unknown key), an unknown event, a kickoff in the past, a service
not ready. Those answers, and the OpenAPI document, stay the route's. Must never answer what the route would answer
differently, nor read a body the app then cannot read.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from fastapi.routing import APIRoute
from starlette.responses import Response
from starlette.routing import BaseRoute

from betpipe.clock import Clock
from betpipe.serving.answers import DEPTHS
from betpipe.serving.metrics import ASGIApp, Message, Receive, Scope, Send
from betpipe.serving.problems import ProblemError

if TYPE_CHECKING:  # app imports this module
    from betpipe.serving.app import PredictionService

__all__ = ["PATH", "EventFastPath"]

PATH = "/predict"
MAX_BODY = 256  # a one-event query is ~20-40 bytes; anything longer is not one and goes to the route
MAX_EVENT_ID = 2**63 - 1  # schemas.EventId
JSON = "application/json"


def _event_query(body: bytes) -> tuple[int, str] | None:
    """(event id, depth) when ``body`` is an ``EventQuery`` the route would take as is; None for anything else."""
    try:
        query: Any = json.loads(body)  # what ``Request.json`` does
    except ValueError:
        return None
    if type(query) is not dict or not 1 <= len(query) <= 2:
        return None
    event_id = query.get("event_id")
    depth = query.get("markets", "main")
    if type(event_id) is not int or not 1 <= event_id <= MAX_EVENT_ID or len(query) != 1 + ("markets" in query):
        return None
    if type(depth) is not str or depth not in DEPTHS:
        return None
    return event_id, depth


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-type":  # the first one, as ``request.headers.get`` reads it
            return bool(value.decode("latin-1").lower() == JSON)
    return False


class EventFastPath:
    """Answers POST /predict for a loaded event by id from its encoded answer; passes every other request on."""

    def __init__(self, app: ASGIApp, service: PredictionService, clock: Clock, routes: list[BaseRoute]) -> None:
        self.app = app
        self.service = service
        self.clock = clock
        self.routes = routes  # the app's routes: /predict's is looked up on first use (it is added after this)
        self._route: APIRoute | None = None

    def route(self) -> APIRoute:
        """The /predict route, put in the scope as the router would: the metrics label requests by its path."""
        if self._route is None:
            self._route = next(
                r for r in self.routes if isinstance(r, APIRoute) and r.path == PATH and "POST" in (r.methods or ())
            )
        return self._route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or scope["path"] != PATH
            or scope.get("root_path")
            or not _is_json(scope)
        ):
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > MAX_BODY or not message.get("more_body", False):
                break
        answer = None
        if size <= MAX_BODY and messages[-1]["type"] == "http.request" and not messages[-1].get("more_body", False):
            answer = self._answer(b"".join(m.get("body", b"") for m in messages), scope)
        if answer is None:
            await self.app(scope, _replay(messages, receive), send)
            return
        await Response(answer, media_type=JSON)(scope, receive, send)

    def _answer(self, body: bytes, scope: Scope) -> bytes | None:
        query = _event_query(body)
        snapshot = self.service.state.snapshot
        if query is None or snapshot is None or not snapshot.predictors:
            return None
        scope["route"] = self.route()
        try:
            answer = self.service.event(snapshot, query[0], self.clock.now(), query[1])
        except ProblemError:  # unknown event, kickoff in the past: the route says so in its own words
            del scope["route"]
            return None
        return answer


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """``receive`` as if nothing had been read: the buffered messages first, then the connection's own."""
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
