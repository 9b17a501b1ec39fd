"""The shared HTTP client for remote sources: client-side rate limiting, bounded retries, and secret masking.

Every source that downloads goes through ``RateLimitedClient`` so politeness (a minimum interval between requests,
shared by all threads) and failure handling are the same everywhere. Every way a request can go wrong (status,
timeout, a body trickled past the overall deadline, an oversized or undecodable body, a redirect loop) ends in a
``SourceError`` naming the reason, never in a raw httpx exception. It must never log, raise or return a URL with a
credential in it: query parameters named like ``apiKey``/``api_key``/``token`` are masked in every message, and the
``httpx`` loggers get a redaction filter because httpx logs each request URL itself. A server that echoes the key
back in a successful body (a debug field, a "next page" URL) does not get it stored either: the body a caller receives
has the request's credentials and every credential-like query parameter masked (``redact_bytes``).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

log = logging.getLogger(__name__)

SECRET_PARAM = re.compile(r"(?i)^(api[_-]?key|apikey|key|access[_-]?token|token|secret|password)$")
_SECRET_IN_TEXT = re.compile(r"(?i)([?&](?:api[_-]?key|apikey|key|access[_-]?token|token|secret|password)=)[^&\s\"'#]*")
_SECRET_IN_BYTES = re.compile(_SECRET_IN_TEXT.pattern.encode())
_SECRET_HEADER = re.compile(r"(?i)^(authorization|x[_-]api[_-]?key|api[_-]?key|apikey|x[_-]?auth[_-]?token)$")
MASK = "****"
# A credential shorter than this is not masked inside bodies: replacing every "abc" would corrupt the data, and no
# real key is that short (The Odds API's are 32 characters). Messages mask every credential whatever its length.
MIN_SECRET_CHARS = 8
BODY_EXCERPT_CHARS = 200
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_REDIRECTS = 5
# Headers that describe the wire framing of a body; dropped once the body is read (and decoded) in full.
_FRAMING_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


class SourceError(RuntimeError):
    """A remote source could not deliver (after retries), or delivered something unusable as a whole."""

    def __init__(self, message: str, *, status_code: int | None = None, attempts: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.attempts = attempts


class _RetryableError(Exception):
    def __init__(self, reason: str, response: httpx.Response | None, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.response = response
        self.retry_after = retry_after


def redact(text: str) -> str:
    """``text`` with the values of credential-like query parameters replaced by a mask."""
    return _SECRET_IN_TEXT.sub(rf"\g<1>{MASK}", text)


def redact_bytes(body: bytes, secrets: Iterable[str] = ()) -> bytes:
    """``body`` with credential-like query parameter values and every occurrence of ``secrets`` (as given and
    URL-encoded) masked: what may be stored of a response."""
    body = _SECRET_IN_BYTES.sub(rb"\g<1>" + MASK.encode(), body)
    for secret in secrets:
        if len(secret) < MIN_SECRET_CHARS:
            continue
        for form in dict.fromkeys((secret, quote(secret, safe=""))):
            body = body.replace(form.encode(), MASK.encode())
    return body


def mask_url(url: httpx.URL | str) -> str:
    """The URL with credential-like query parameter values masked, for messages and records."""
    return redact(str(url))


class _RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True


_REDACTING_FILTER = _RedactingFilter()


def _install_log_redaction() -> None:
    # httpx logs every request URL at INFO; a filter on its own loggers keeps credentials out of any handler.
    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        if _REDACTING_FILTER not in logger.filters:
            logger.addFilter(_REDACTING_FILTER)


_install_log_redaction()


class MinimumInterval:
    """A thread-safe limiter: successive ``acquire`` calls return at least ``1 / rate`` seconds apart.

    ``clock`` and ``sleep`` are injectable so the spacing can be tested on a fake clock: measured on a real one,
    timestamps bunch up on a busy machine and such a test flakes.
    """

    def __init__(
        self,
        requests_per_second: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if requests_per_second <= 0:
            raise ValueError(f"requests_per_second must be > 0, got {requests_per_second}")
        self._interval = 1.0 / requests_per_second
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next = float("-inf")

    def acquire(self) -> float:
        """Wait for this caller's slot and return it (on ``clock``'s scale); slots are ``1 / rate`` apart."""
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + self._interval
        if start > now:
            self._sleep(start - now)
        return start


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date); None when absent or junk."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class RateLimitedClient:
    """GET with a client-side rate limit and retries on 429, 5xx, timeouts, transport errors and corrupt bodies.

    Other 4xx responses are the caller's mistake (bad key, bad sport) and raise at once: retrying cannot fix them and
    would burn quota; so do a redirect loop, a body over ``max_response_bytes`` (decoded, so a gzip bomb too) and a
    final 3xx. ``deadline_seconds`` bounds one attempt from sending to the last body byte: httpx's timeout is per read,
    so a body trickled a byte at a time would otherwise never time out. A retry waits at least the exponential
    backoff, even when ``Retry-After`` asks for less (a date in the past is not an invitation to hammer).
    ``on_response(response, attempts)`` sees the final response of each call (also failed ones), so quota headers
    can be recorded even when the call raises.
    """

    def __init__(
        self,
        base_url: str,
        *,
        requests_per_second: float,
        timeout_seconds: float,
        max_attempts: int,
        source: str,
        transport: httpx.BaseTransport | None = None,
        headers: dict[str, str] | None = None,
        on_response: Callable[[httpx.Response, int], None] | None = None,
        backoff_initial_seconds: float = 0.5,
        backoff_max_seconds: float = 30.0,
        retry_after_cap_seconds: float = 60.0,
        deadline_seconds: float | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        max_redirects: int = DEFAULT_MAX_REDIRECTS,
        retry_sleep: Callable[[float], None] | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
        self.source = source
        self._deadline = deadline_seconds
        self._max_bytes = max_response_bytes
        self._max_redirects = max_redirects
        self._retry_sleep = retry_sleep
        self._limiter = MinimumInterval(requests_per_second)
        self._max_attempts = max_attempts
        self._on_response = on_response
        self._header_secrets = [v for k, v in (headers or {}).items() if _SECRET_HEADER.match(k) and v]
        self._backoff = wait_exponential_jitter(
            multiplier=backoff_initial_seconds, max=backoff_max_seconds, jitter=backoff_initial_seconds
        )
        self._retry_after_cap = retry_after_cap_seconds
        self._client = httpx.Client(
            base_url=base_url,
            timeout=httpx.Timeout(timeout_seconds),
            transport=transport,
            headers=headers,
            follow_redirects=True,
            max_redirects=max_redirects,
        )

    @property
    def base_url(self) -> httpx.URL:
        return self._client.base_url

    def __enter__(self) -> RateLimitedClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def get(self, path: str, params: dict[str, str] | None = None) -> httpx.Response:
        """The successful (2xx/3xx) response, or ``SourceError`` with the masked URL and the reason."""
        secrets = [value for name, value in (params or {}).items() if SECRET_PARAM.match(name) and value]
        secrets += self._header_secrets
        request = self._client.build_request("GET", path, params=params)
        shown = mask_url(request.url)
        retrying = Retrying(
            stop=stop_after_attempt(self._max_attempts),
            wait=self._wait,
            retry=retry_if_exception_type(_RetryableError),
            before_sleep=lambda state: self._log_retry(shown, state),
            reraise=True,
            sleep=self._retry_sleep or _sleep,
        )
        attempts = 0
        try:
            for attempt in retrying:
                with attempt:
                    attempts = attempt.retry_state.attempt_number
                    response = self._attempt(request, shown, secrets, attempts)
            return response
        except _RetryableError as error:
            if error.response is not None:
                self._notify(error.response, attempts)
            failure = SourceError(
                f"{self.source}: GET {shown} failed after {attempts} attempt(s): {error.reason}",
                status_code=None if error.response is None else error.response.status_code,
                attempts=attempts,
            )
        except SourceError as error:
            failure = error
        # Tracebacks rendered with locals (rich, typer) must not show the credential: drop the frames and locals
        # that hold it before raising.
        del request, params, secrets
        raise failure.with_traceback(None) from None

    def _attempt(self, request: httpx.Request, shown: str, secrets: list[str], attempts: int) -> httpx.Response:
        self._limiter.acquire()
        deadline = None if self._deadline is None else time.monotonic() + self._deadline
        try:
            streamed = self._client.send(request, stream=True)
        except httpx.TimeoutException as error:
            raise _RetryableError(f"timed out ({type(error).__name__})", None) from None
        except httpx.TooManyRedirects:
            raise SourceError(
                f"{self.source}: GET {shown} redirected more than {self._max_redirects} times (a redirect loop?)",
                attempts=attempts,
            ) from None
        except httpx.TransportError as error:
            raise _RetryableError(
                f"transport error ({type(error).__name__}: {_scrub(str(error), secrets)})", None
            ) from None
        except (httpx.HTTPError, httpx.InvalidURL) as error:
            raise SourceError(
                f"{self.source}: GET {shown} failed: {type(error).__name__}: {_scrub(str(error), secrets)}",
                attempts=attempts,
            ) from None
        try:
            response = self._read(streamed, deadline, shown, secrets, attempts)
        finally:
            streamed.close()
        status = response.status_code
        if status in (429, 503):
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            reason = "HTTP 429 Too Many Requests" if status == 429 else f"HTTP 503: {_excerpt(response, secrets)}"
            raise _RetryableError(reason, response, retry_after)
        if status >= 500:
            raise _RetryableError(f"HTTP {status}: {_excerpt(response, secrets)}", response)
        if 300 <= status < 400:
            self._notify(response, attempts)
            raise SourceError(
                f"{self.source}: GET {shown} ended in HTTP {status} without a redirect to follow",
                status_code=status,
                attempts=attempts,
            )
        if status >= 400:
            self._notify(response, attempts)
            raise SourceError(
                f"{self.source}: GET {shown} returned HTTP {status}: {_excerpt(response, secrets)}",
                status_code=status,
                attempts=attempts,
            )
        self._notify(response, attempts)
        return response

    def _read(
        self, streamed: httpx.Response, deadline: float | None, shown: str, secrets: list[str], attempts: int
    ) -> httpx.Response:
        """The whole (decoded) body as a plain response, within the deadline and the size cap, credentials masked."""
        declared = streamed.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._max_bytes:
            self._refuse_size(streamed, shown, attempts, f"announces {int(declared)} bytes")
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in streamed.iter_bytes():
                size += len(chunk)
                if size > self._max_bytes:
                    self._refuse_size(streamed, shown, attempts, f"ran past {self._max_bytes} bytes (decoded)")
                if deadline is not None and time.monotonic() > deadline:
                    reason = f"body not complete within the {self._deadline:g}s deadline (trickled?)"
                    raise _RetryableError(reason, streamed)
                chunks.append(chunk)
        except httpx.DecodingError as error:
            reason = f"undecodable body ({_scrub(str(error), secrets)[:BODY_EXCERPT_CHARS]})"
            raise _RetryableError(reason, streamed) from None
        except httpx.TimeoutException as error:
            raise _RetryableError(f"timed out reading the body ({type(error).__name__})", streamed) from None
        except httpx.TransportError as error:
            reason = f"body cut off ({type(error).__name__}: {_scrub(str(error), secrets)})"
            raise _RetryableError(reason, streamed) from None
        headers = [(k, v) for k, v in streamed.headers.multi_items() if k.lower() not in _FRAMING_HEADERS]
        extensions = {k: v for k, v in streamed.extensions.items() if k in ("http_version", "reason_phrase")}
        return httpx.Response(
            streamed.status_code,
            headers=headers,
            content=redact_bytes(b"".join(chunks), secrets),
            request=streamed.request,
            history=list(streamed.history),
            extensions=extensions,
        )

    def _refuse_size(self, streamed: httpx.Response, shown: str, attempts: int, what: str) -> None:
        self._notify(streamed, attempts)
        raise SourceError(
            f"{self.source}: GET {shown} refused: the response {what}, over the {self._max_bytes}-byte limit",
            status_code=streamed.status_code,
            attempts=attempts,
        )

    def _wait(self, state: RetryCallState) -> float:
        """The backoff, lengthened (never shortened) by a ``Retry-After``, which is capped."""
        backoff = float(self._backoff(state))
        error = state.outcome.exception() if state.outcome is not None else None
        if isinstance(error, _RetryableError) and error.retry_after is not None:
            return max(min(error.retry_after, self._retry_after_cap), backoff)
        return backoff

    def _log_retry(self, shown: str, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        reason = error.reason if isinstance(error, _RetryableError) else repr(error)
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        log.warning(
            "%s: GET %s attempt %d failed (%s); retrying in %.2fs",
            self.source,
            shown,
            state.attempt_number,
            reason,
            wait,
        )

    def _notify(self, response: httpx.Response, attempts: int) -> None:
        if self._on_response is not None:
            self._on_response(response, attempts)


def _sleep(seconds: float) -> None:
    time.sleep(seconds)  # looked up at call time, like tenacity's own default


def _scrub(text: str, secrets: list[str]) -> str:
    text = redact(text)
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


def _excerpt(response: httpx.Response, secrets: list[str]) -> str:
    body = response.content[:BODY_EXCERPT_CHARS].decode("utf-8", errors="replace")
    body = " ".join(body.split())
    if len(response.content) > BODY_EXCERPT_CHARS:
        body += "..."
    return _scrub(body, secrets) or "<empty body>"


def response_json(response: httpx.Response, source: str) -> Any:
    """Decoded JSON of a response, or ``SourceError`` saying why (truncated, not JSON) without echoing secrets."""
    try:
        return response.json()
    except ValueError as error:
        raise SourceError(f"{source}: {mask_url(response.request.url)} returned invalid JSON: {error}") from None
