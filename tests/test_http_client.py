"""The shared HTTP client against a real local server: retries, backoff, rate limiting and secret masking."""

from __future__ import annotations

import logging
import socket
import threading
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from betpipe.ingest.http import MinimumInterval, RateLimitedClient, SourceError, mask_url, parse_retry_after, redact
from fakes.odds_api_server import FakeOddsApi, Fault

KEY = "test-key-0123456789abcdef"
PATH = "/v4/sports"


@pytest.fixture
def server() -> Iterator[FakeOddsApi]:
    fake = FakeOddsApi(KEY).start()
    fake.add_route(PATH, b'[{"key": "soccer_epl"}]')
    yield fake
    fake.stop()


def make_client(url: str, **overrides: object) -> RateLimitedClient:
    options: dict[str, object] = {
        "requests_per_second": 200.0,
        "timeout_seconds": 1.0,
        "max_attempts": 3,
        "source": "test",
        "backoff_initial_seconds": 0.01,
        "backoff_max_seconds": 0.05,
        "retry_after_cap_seconds": 0.5,
    }
    options.update(overrides)
    return RateLimitedClient(url, **options)  # type: ignore[arg-type]


def test_a_429_and_a_500_are_retried_and_the_call_then_succeeds(server: FakeOddsApi) -> None:
    seen: list[tuple[int, int]] = []
    server.fail_next(Fault("status", 429, {"Retry-After": "0"}), Fault("status", 503))
    with make_client(server.url, on_response=lambda r, n: seen.append((r.status_code, n))) as client:
        response = client.get(PATH, {"apiKey": KEY})
    assert response.json() == [{"key": "soccer_epl"}]
    assert len(server.requests) == 3
    assert seen == [(200, 3)]


# The waits the retry loop asks for are recorded instead of slept (``retry_sleep``): what it asks is the behaviour
# under test, and a wall-clock measurement of it flakes on a busy machine.


def test_retry_after_is_honoured_between_attempts(server: FakeOddsApi) -> None:
    waits: list[float] = []
    server.fail_next(Fault("status", 429, {"Retry-After": "0.3"}))
    with make_client(server.url, retry_sleep=waits.append) as client:
        client.get(PATH, {"apiKey": KEY})
    assert len(server.requests) == 2
    assert waits == [pytest.approx(0.3)]


def test_a_long_retry_after_is_capped(server: FakeOddsApi) -> None:
    waits: list[float] = []
    server.fail_next(Fault("status", 429, {"Retry-After": "3600"}))
    with make_client(server.url, retry_after_cap_seconds=0.1, retry_sleep=waits.append) as client:
        client.get(PATH, {"apiKey": KEY})
    assert len(server.requests) == 2
    assert waits == [pytest.approx(0.1)]


def test_exhausted_attempts_raise_a_source_error_naming_the_reason_without_the_key(server: FakeOddsApi) -> None:
    server.fail_next(*[Fault("status", 500)] * 3)
    seen: list[tuple[int, int]] = []
    with (
        make_client(server.url, on_response=lambda r, n: seen.append((r.status_code, n))) as client,
        pytest.raises(SourceError) as caught,
    ):
        client.get(PATH, {"apiKey": KEY, "regions": "eu"})
    message = str(caught.value)
    assert "failed after 3 attempt(s)" in message
    assert "HTTP 500" in message
    assert "apiKey=****" in message
    assert "regions=eu" in message
    assert caught.value.status_code == 500
    assert seen == [(500, 3)], "the final failed response still reaches on_response (quota recording)"
    # Rich/typer tracebacks print frame locals: the frames of the raised error must not hold the key.
    rendered = "".join(traceback.TracebackException.from_exception(caught.value, capture_locals=True).format())
    assert KEY not in message
    assert KEY not in rendered


def test_slow_responses_time_out_and_are_retried_then_reported(server: FakeOddsApi) -> None:
    # The server answers only after 3 s, so a 1 s timeout fires first however late the client thread is scheduled.
    server.fail_next(Fault("delay", seconds=3.0), Fault("delay", seconds=3.0))
    with make_client(server.url, timeout_seconds=1.0, max_attempts=2) as client, pytest.raises(SourceError) as caught:
        client.get(PATH, {"apiKey": KEY})
    assert "timed out" in str(caught.value)
    assert caught.value.attempts == 2
    assert len(server.requests) == 2


def test_a_slow_response_followed_by_a_fast_one_succeeds(server: FakeOddsApi) -> None:
    server.fail_next(Fault("delay", seconds=3.0))
    with make_client(server.url, timeout_seconds=1.0) as client:
        assert client.get(PATH, {"apiKey": KEY}).status_code == 200


def test_a_client_error_is_not_retried_and_quotes_the_body(server: FakeOddsApi) -> None:
    with make_client(server.url) as client, pytest.raises(SourceError) as caught:
        client.get("/v4/sports/no_such_sport/odds", {"apiKey": KEY})
    assert len(server.requests) == 1
    assert "HTTP 404" in str(caught.value)
    assert "Unknown sport" in str(caught.value)
    assert caught.value.status_code == 404


def test_a_wrong_key_is_a_401_source_error_that_does_not_echo_the_key(server: FakeOddsApi) -> None:
    with make_client(server.url) as client, pytest.raises(SourceError) as caught:
        client.get(PATH, {"apiKey": "wrong-secret-value"})
    assert "HTTP 401" in str(caught.value)
    assert "wrong-secret-value" not in str(caught.value)
    assert len(server.requests) == 1


def test_an_unreachable_server_is_a_transport_error_after_retries() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with make_client(f"http://127.0.0.1:{port}", max_attempts=2) as client, pytest.raises(SourceError) as caught:
        client.get(PATH, {"apiKey": KEY})
    assert "transport error" in str(caught.value)
    assert "failed after 2 attempt(s)" in str(caught.value)
    assert KEY not in str(caught.value)


class FakeMonotonic:
    """A monotonic clock that only moves when someone sleeps on it; records every sleep."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)

    def advance(self, seconds: float) -> None:
        self.now += seconds


def test_the_limiter_spaces_successive_calls_by_one_interval_on_an_injected_clock() -> None:
    clock = FakeMonotonic()
    limiter = MinimumInterval(20.0, clock=clock, sleep=clock.sleep)
    slots = [limiter.acquire() for _ in range(6)]
    assert slots == pytest.approx([100.0 + i / 20 for i in range(6)])
    assert clock.sleeps == pytest.approx([i / 20 for i in range(1, 6)]), "the first call does not wait"


def test_the_limiter_does_not_bank_idle_time_into_a_burst() -> None:
    clock = FakeMonotonic()
    limiter = MinimumInterval(2.0, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    clock.advance(10.0)  # idle for 20 intervals
    assert limiter.acquire() == pytest.approx(110.0)
    assert limiter.acquire() == pytest.approx(110.5)
    assert clock.sleeps == pytest.approx([0.5])


def test_the_limiter_gives_concurrent_threads_distinct_slots_one_interval_apart() -> None:
    clock = FakeMonotonic()
    limiter = MinimumInterval(25.0, clock=clock, sleep=clock.sleep)
    slots: list[float] = []
    threads = [threading.Thread(target=lambda: slots.append(limiter.acquire())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(slots) == pytest.approx([100.0 + i / 25 for i in range(8)])
    assert sorted(clock.sleeps) == pytest.approx([i / 25 for i in range(1, 8)])


def test_the_client_goes_through_the_limiter_measured_at_the_server(server: FakeOddsApi) -> None:
    n, rate = 6, 20.0
    with make_client(server.url, requests_per_second=rate) as client:
        for _ in range(n):
            client.get(PATH, {"apiKey": KEY})
    times = [r.at for r in server.requests]
    # A bound that load cannot break: request 0 arrives before its response, hence before slot 1 is taken, and
    # request n-1 arrives after slot n-1 = slot 1 + (n-2) intervals. Delays only ever widen the gap.
    assert len(times) == n
    assert times[-1] - times[0] >= (n - 2) / rate


def test_logs_never_contain_the_key(server: FakeOddsApi, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for library in ("httpx", "httpcore"):  # the CLI quiets them; here we want every line they would ever write
        caplog.set_level(logging.DEBUG, logger=library)
    server.fail_next(Fault("status", 500))
    with make_client(server.url) as client:
        client.get(PATH, {"apiKey": KEY})
    assert "HTTP Request" in caplog.text, "httpx's own request log line is captured (and must be redacted)"
    assert "retrying" in caplog.text
    assert KEY not in caplog.text


def test_mask_url_hides_credential_like_parameters_only() -> None:
    url = httpx.URL("https://api.example/v4/sports/x/odds?apiKey=abc&api_key=def&regions=eu&markets=h2h")
    shown = mask_url(url)
    assert "abc" not in shown
    assert "def" not in shown
    assert "regions=eu" in shown
    assert "markets=h2h" in shown
    assert (
        redact('GET https://h/p?x=1&apiKey=abc "HTTP/1.1 200 OK"')
        == 'GET https://h/p?x=1&apiKey=**** "HTTP/1.1 200 OK"'
    )


def test_retry_after_accepts_seconds_and_http_dates_and_ignores_junk() -> None:
    now = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    later = (now + timedelta(seconds=30)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(later, now=now) == pytest.approx(30.0)
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
