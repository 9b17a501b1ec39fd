"""RFC 7807 problem JSON for every error the service returns, so a client parses one shape and never sees a 500 page.

Types are ``urn:betpipe:problem:<slug>`` (documented in docs/serving.md); plain HTTP errors (404, 405) keep
``about:blank``. An unexpected exception is still answered with a problem (status 500, no traceback, no internals)
and logged. Must never put a secret, a SQL statement or a stack trace in a response.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from betpipe.logs import get_logger

log = get_logger(__name__)

PROBLEM_JSON = "application/problem+json"
PREFIX = "urn:betpipe:problem:"
_LOC_NOISE = ("body", "event", "fixture")  # the body itself and the query-shape tags (schemas.PredictQuery)


class ProblemError(Exception):
    """Raised by handlers; becomes a problem response."""

    def __init__(
        self, status: int, slug: str, title: str, detail: str | None = None, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.headers = headers

    def body(self, instance: str | None = None) -> dict[str, Any]:
        return problem_body(self.status, self.title, self.detail, instance, f"{PREFIX}{self.slug}")


def unknown_event(event_id: int) -> ProblemError:
    return ProblemError(404, "unknown-event", "Unknown event", f"no scheduled event with id {event_id}")


def unknown_team(detail: str) -> ProblemError:
    return ProblemError(422, "unknown-team", "Unknown team", detail)


def unknown_competition(detail: str) -> ProblemError:
    return ProblemError(422, "unknown-competition", "Unknown competition", detail)


def kickoff_in_past(detail: str) -> ProblemError:
    return ProblemError(422, "kickoff-in-past", "Kickoff in the past", detail)


def not_ready(detail: str) -> ProblemError:
    return ProblemError(503, "not-ready", "Service not ready", detail)


def problem_body(
    status: int, title: str, detail: str | None = None, instance: str | None = None, type_: str = "about:blank"
) -> dict[str, Any]:
    return {"type": type_, "title": title, "status": status, "detail": detail, "instance": instance}


def problem_response(body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=int(body["status"]), media_type=PROBLEM_JSON, headers=headers)


def _validation_detail(error: RequestValidationError) -> tuple[int, str, str, str]:
    errors = error.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return 400, "invalid-json", "Body is not JSON", "the request body could not be parsed as JSON"
    parts = []
    for e in errors[:5]:
        where = ".".join(str(p) for p in e.get("loc", ()) if p not in _LOC_NOISE) or "body"
        parts.append(f"{where}: {e.get('msg', 'invalid')}")
    more = f" (+{len(errors) - 5} more)" if len(errors) > 5 else ""
    return 422, "validation-error", "Invalid request", "; ".join(parts) + more


def install(app: FastAPI) -> None:
    """Route every error through the problem format."""

    @app.exception_handler(ProblemError)
    async def _problem(request: Request, error: ProblemError) -> JSONResponse:
        return problem_response(error.body(request.url.path), headers=error.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        status, slug, title, detail = _validation_detail(error)
        return problem_response(problem_body(status, title, detail, request.url.path, f"{PREFIX}{slug}"))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        title = {404: "Not Found", 405: "Method Not Allowed"}.get(error.status_code, "HTTP error")
        detail = error.detail if isinstance(error.detail, str) else None
        return problem_response(
            problem_body(error.status_code, title, detail, request.url.path), headers=dict(error.headers or {})
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        log.error("unexpected error serving a request", path=request.url.path, error=repr(error), exc_info=error)
        return problem_response(
            problem_body(500, "Internal error", "an unexpected error; it was logged", request.url.path)
        )
