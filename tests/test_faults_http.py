"""The HTTP fault matrix: every bad response from a real server on 127.0.0.1 ends quarantined with a reason, or
refused with a one-line message and a recorded failed request, on SQLite and PostgreSQL. Never a traceback, never
silently lost: a case that raised anything but ``SourceError``, or stored nothing and said nothing, fails here.
The tally of these cases is in docs/faults.md ("HTTP").
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from betpipe.cli import app
from betpipe.config import OddsApiSettings, Settings
from betpipe.db import make_engine
from betpipe.db.schema import api_requests, event_refs, ingest_runs, quarantine, raw_payloads
from betpipe.ingest.http import RateLimitedClient, SourceError
from betpipe.ingest.odds_api import OddsApiClient, ingest_odds_api, ingest_odds_api_scores, quota_value
from fakes.odds_api_server import FakeOddsApi, Fault
from fakes.static_server import StaticServer

KEY = "odds-api-secret-fault-matrix-42"
FIXTURES = Path(__file__).parent / "fixtures" / "odds_api"
NFL_ODDS = "/v4/sports/americanfootball_nfl/odds"
NFL_SCORES = "/v4/sports/americanfootball_nfl/scores"
GOOD_EVENTS = json.loads((FIXTURES / "nfl_odds_spreads_totals.json").read_text())
PAST = "Wed, 21 Oct 2015 07:28:00 GMT"


@pytest.fixture
def server() -> Iterator[FakeOddsApi]:
    fake = FakeOddsApi(KEY).start()
    fake.add_route(NFL_ODDS, json.dumps(GOOD_EVENTS).encode())
    fake.add_route(NFL_SCORES, (FIXTURES / "nfl_scores.json").read_bytes())
    yield fake
    fake.stop()


def settings_for(server: FakeOddsApi, **overrides: Any) -> Settings:
    options: dict[str, Any] = {
        "api_key": SecretStr(KEY),
        "base_url": server.url,
        "requests_per_second": 200,
        "timeout_seconds": 2.0,
        "deadline_seconds": 30.0,
        "max_response_bytes": 256 * 1024,
        "max_attempts": 3,
    } | overrides
    return Settings(odds_api=OddsApiSettings(**options))


def fetch(engine: Engine, settings: Settings, sleeps: list[float] | None = None) -> Any:
    """One ``/odds`` ingest through a real client; the waits between retries are recorded, not slept."""
    waits = [] if sleeps is None else sleeps
    with OddsApiClient(
        settings.odds_api, engine=engine, backoff_initial_seconds=0.01, retry_sleep=waits.append
    ) as client:
        return ingest_odds_api(engine, settings, "americanfootball_nfl", ["h2h", "spreads", "totals"], client=client)


def rows(engine: Engine, table: Any) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(table).order_by(table.c.id)).mappings()]


@dataclass(frozen=True)
class Refused:
    fault: Fault
    reason: str  # in the message, the failed api_requests row and the failed run
    attempts: int  # requests the client made before giving up (retried or not)
    settings: tuple[tuple[str, Any], ...] = ()


REFUSED = {
    "redirect loop": Refused(Fault("redirect_loop"), "redirected more than 5 times", 1),
    "3xx without Location": Refused(Fault("redirect_nowhere"), "HTTP 302 without a redirect", 1),
    "corrupt gzip body": Refused(Fault("bad_gzip"), "undecodable body", 3),
    "gzip bomb": Refused(Fault("gzip_bomb", size=2_000_000), "over the 262144-byte limit", 1),
    "body without length over the cap": Refused(Fault("oversize", size=400_000), "ran past 262144 bytes", 1),
    "body trickled past the deadline": Refused(
        Fault("trickle", seconds=0.05), "deadline", 3, (("deadline_seconds", 0.3),)
    ),
    "connection dropped": Refused(Fault("drop"), "transport error", 3),
    "body cut off mid-answer": Refused(Fault("cut"), "body cut off", 3),
    "429 with Retry-After in the past": Refused(Fault("status", 429, {"Retry-After": PAST}), "HTTP 429", 3),
    "500 every time": Refused(Fault("status", 500), "HTTP 500", 3),
    "503 with junk Retry-After": Refused(Fault("status", 503, {"Retry-After": "soon"}), "HTTP 503", 3),
    "401 bad key": Refused(Fault("status", 401), "HTTP 401", 1),
    "404 unknown sport": Refused(Fault("status", 404), "HTTP 404", 1),
    "slow headers past the read timeout": Refused(
        Fault("delay", seconds=3.0), "timed out", 2, (("timeout_seconds", 0.5), ("max_attempts", 2))
    ),
}


@pytest.mark.parametrize("case", list(REFUSED.values()), ids=list(REFUSED))
def test_a_refused_response_is_one_line_a_failed_request_row_and_a_failed_run(
    case: Refused, server: FakeOddsApi, engine: Engine
) -> None:
    server.fail_always(case.fault)
    with pytest.raises(SourceError) as caught:
        fetch(engine, settings_for(server, **dict(case.settings)))
    message = str(caught.value)
    assert case.reason in message
    assert "\n" not in message
    assert KEY not in message
    assert caught.value.__cause__ is None
    assert caught.value.__traceback__ is not None
    [request] = rows(engine, api_requests)
    assert case.reason in request["error"]
    assert KEY not in request["error"]
    assert request["attempts"] == case.attempts
    [run] = rows(engine, ingest_runs)
    assert run["status"] == "failed"
    assert case.reason in run["message"]
    if case.fault.kind != "redirect_loop":
        assert len(server.requests) == case.attempts
    else:
        assert len(server.requests) == 6, "the first request and 5 redirects, then the client stops"


def test_a_retry_after_in_the_past_still_waits_the_backoff(server: FakeOddsApi, engine: Engine) -> None:
    server.fail_next(*[Fault("status", 429, {"Retry-After": PAST})] * 2)
    waits: list[float] = []
    report = fetch(engine, settings_for(server), waits)
    assert report.rows_read == 3, "the third attempt succeeds"
    assert len(waits) == 2
    assert all(wait >= 0.01 for wait in waits), f"waited {waits}: never less than the backoff"


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("x-requests-remaining", "1e999"),
        ("x-requests-used", "NaN"),
        ("x-requests-last", "-5"),
        ("x-requests-remaining", "lots"),
    ],
)
def test_an_unusable_quota_header_is_null_with_a_note_and_the_payload_lands(
    header: str, value: str, server: FakeOddsApi, engine: Engine
) -> None:
    server.fail_always(Fault("headers", headers={header: value}))
    report = fetch(engine, settings_for(server))
    assert report.rows_read == 3
    assert report.quarantined == 0
    [request] = rows(engine, api_requests)
    column = header.replace("x-", "").replace("-", "_")
    assert request[column] is None
    assert request["status_code"] == 200
    assert request["error"].startswith("note: ")
    assert header in request["error"]
    assert value in request["error"]
    assert len(rows(engine, raw_payloads)) == 1


def test_quota_values_are_parsed_defensively() -> None:
    assert quota_value("498") == (498, None)
    assert quota_value(" 12.345 ")[0] == Decimal("12.35")
    for junk in ("1e999", "Infinity", "-1", "1e10", "sNaN", ""):
        assert quota_value(junk)[0] is None, junk
        assert quota_value(junk)[1] is not None, junk
    assert quota_value(None) == (None, None)


def _event(**changes: Any) -> dict[str, Any]:
    event = json.loads(json.dumps(GOOD_EVENTS[0]))
    event.update(changes)
    return event


# (what is wrong, the bad payload, a substring of the reason it is quarantined with)
PAYLOADS: dict[str, tuple[bytes, str]] = {
    "not JSON (an HTML page)": (b"<html>502 Bad Gateway</html>", "not valid JSON"),
    "truncated JSON": (json.dumps(GOOD_EVENTS).encode()[:300], "not valid JSON"),
    "invalid UTF-8": (b'[{"id": "\xff\xfe"}]', "not valid JSON"),
    "an error object": (b'{"message": "quota exhausted", "error_code": "OUT_OF_USAGE_CREDITS"}', "quota exhausted"),
    "a JSON string": (b'"hello"', "expected a JSON array"),
    "nested 100,000 deep": (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    "a 5,000-digit number": (b"[" + b"9" * 5000 + b"]", "not valid JSON"),
}


@pytest.mark.parametrize("case", list(PAYLOADS.values()), ids=list(PAYLOADS))
def test_an_unreadable_payload_is_kept_and_quarantined_whole(
    case: tuple[bytes, str], server: FakeOddsApi, engine: Engine
) -> None:
    body, reason = case
    server.fail_always(Fault("body", body=body))
    report = fetch(engine, settings_for(server))
    assert (report.rows_read, report.quarantined) == (0, 1)
    [row] = rows(engine, quarantine)
    assert row["row_ref"] == "<payload>"
    assert reason in row["reason"]
    assert len(rows(engine, raw_payloads)) == 1, "the bytes are kept for a later look"
    assert rows(engine, ingest_runs)[0]["status"] == "failed"


def _price(event: dict[str, Any], price: Any) -> dict[str, Any]:
    event["bookmakers"][0]["markets"][0]["outcomes"][0]["price"] = price
    return event


def _point(event: dict[str, Any], point: Any) -> dict[str, Any]:
    for market in event["bookmakers"][0]["markets"]:
        if market["key"] == "spreads":
            market["outcomes"][0]["point"] = point
    return event


# (a bad event id, the event, a substring of the reason); each goes into one payload next to the good events
EVENTS: dict[str, tuple[dict[str, Any] | Any, str]] = {
    "not an object": (42, "not a JSON object"),
    "missing home_team": ({k: v for k, v in _event(id="e-missing").items() if k != "home_team"}, "missing field"),
    "id of the wrong type": (_event(id=123), "missing field(s) id"),
    "team name a list": (_event(id="e-list", away_team=["Carolina"]), "missing field(s) away_team"),
    "unparseable commence_time": (_event(id="e-time", commence_time="next sunday"), "unparseable commence_time"),
    "commence_time 1e20 seconds": (_event(id="e-1e20", commence_time=1e20), "unparseable commence_time"),
    "sport_key junk": (_event(id="e-sport", sport_key="../../etc" * 20), "not a sport key"),
    "team name of 10,000 characters": (_event(id="e-long", home_team="X" * 10_000), "team name"),
    "team name with NUL": (_event(id="e-nul", home_team="Kansas\x00City"), "control characters"),
    "unknown team": (_event(id="e-unknown", away_team="Atlantis Krakens"), "unknown team"),
    "same teams both sides": (_event(id="e-same", away_team=GOOD_EVENTS[0]["home_team"]), "both"),
    "price 1e308": (_price(_event(id="e-1e308"), 1e308), "not a valid decimal price"),
    "price as text": (_price(_event(id="e-text"), "2.5"), "not a valid decimal price"),
    "price 1.0": (_price(_event(id="e-one"), 1.0), "not a valid decimal price"),
    "spread point 1e9": (_point(_event(id="e-point"), 1e9), "without a plausible point"),
    "spread point 0.3": (_point(_event(id="e-third"), 0.3), "without a plausible point"),
    "bookmakers not a list": (_event(id="e-books", bookmakers={"key": "x"}), "bookmakers is not a list"),
    "bookmaker key of 500 characters": (
        _event(id="e-bookkey", bookmakers=[{"key": "b" * 500, "markets": []}]),
        "bookmaker without a usable key",
    ),
}


@pytest.mark.parametrize("case", list(EVENTS.values()), ids=list(EVENTS))
def test_a_bad_event_is_quarantined_with_its_reason_and_the_good_ones_land(
    case: tuple[Any, str], server: FakeOddsApi, engine: Engine
) -> None:
    bad, reason = case
    # Seed the competition first, so that unknown names are quarantined instead of creating teams.
    fetch(engine, settings_for(server))
    fresh = [_event(id=f"good-{i}", commence_time=f"2023-10-0{i + 1}T17:00:00Z") for i in range(2)]
    fresh[1]["home_team"], fresh[1]["away_team"] = fresh[1]["away_team"], fresh[1]["home_team"]
    server.add_route(NFL_ODDS, json.dumps([*fresh, bad]).encode())
    report = fetch(engine, settings_for(server))
    assert report.rows_read == 3
    reasons = [r["reason"] for r in rows(engine, quarantine)]
    assert any(reason in r for r in reasons), reasons
    with engine.connect() as conn:
        stored = set(conn.execute(select(event_refs.c.external_id)).scalars())
    assert {"good-0", "good-1"} <= stored, "the good events of the same payload land"
    partial = any(word in reason for word in ("price", "point", "bookmaker"))  # only that part of the event goes
    if isinstance(bad, dict) and isinstance(bad.get("id"), str) and not partial:
        assert bad["id"] not in stored, "a quarantined event is not also stored"


@pytest.mark.parametrize(
    ("score", "why"),
    [("1e2", "exponent"), ("999", "implausible"), ("²", "not ASCII"), ("-3", "negative"), (None, "null")],
)
def test_an_implausible_score_is_quarantined_not_stored(
    score: Any, why: str, server: FakeOddsApi, engine: Engine
) -> None:
    scores = json.loads((FIXTURES / "nfl_scores.json").read_text())
    scores[0]["scores"][0]["score"] = score
    server.add_route(NFL_SCORES, json.dumps(scores).encode())
    with OddsApiClient(settings_for(server).odds_api, engine=engine, backoff_initial_seconds=0.01) as client:
        report = ingest_odds_api_scores(engine, settings_for(server), "americanfootball_nfl", client=client)
    assert report.quarantined == 1, why
    [row] = rows(engine, quarantine)
    assert "plausible whole-number score" in row["reason"]


def test_a_sport_key_that_is_not_one_is_refused_before_any_request(server: FakeOddsApi, engine: Engine) -> None:
    settings = settings_for(server)
    with OddsApiClient(settings.odds_api, engine=engine) as client, pytest.raises(SourceError, match="not a sport key"):
        ingest_odds_api(engine, settings, "../../v4/sports?x=" + "y" * 500, ["h2h"], client=client)
    assert server.requests == []
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ingest_runs)).scalar_one() == 1


def test_the_client_alone_turns_every_wire_fault_into_a_source_error(server: FakeOddsApi) -> None:
    """No httpx exception escapes ``RateLimitedClient.get``, whatever the wire does."""
    kinds = [Fault("redirect_loop"), Fault("bad_gzip"), Fault("drop"), Fault("cut"), Fault("oversize", size=300_000)]
    for fault in kinds:
        server.fail_always(fault)
        with (
            RateLimitedClient(
                server.url,
                requests_per_second=200,
                timeout_seconds=2,
                max_attempts=2,
                source="test",
                max_response_bytes=100_000,
                retry_sleep=lambda _: None,
            ) as client,
            pytest.raises(SourceError),
        ):
            client.get(NFL_ODDS, {"apiKey": KEY})


# --- through the CLI: exit codes and one-line messages ---------------------------------------------------------------

CSV = (
    b"Div,Date,Time,HomeTeam,AwayTeam,FTHG,FTAG,FTR,B365H,B365D,B365A\n"
    b"E0,11/08/2023,20:00,Burnley,Man City,0,3,A,8.0,5.5,1.36\n"
)


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BETPIPE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("BETPIPE_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.sqlite'}")
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    return runner


def _no_traceback(output: str) -> None:
    assert "Traceback" not in output
    assert "httpx." not in output


def test_the_football_data_download_uses_the_configured_base_url_once(
    cli_env: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    site = StaticServer({"/mmz4281/2324/E0.csv": CSV}).start()
    try:
        configured = Settings().football_data.base_url
        assert configured.endswith("/mmz4281"), "the default base URL holds the season folders' parent"
        monkeypatch.setenv("BETPIPE_FOOTBALL_DATA__BASE_URL", f"{site.url}/mmz4281")
        result = cli_env.invoke(app, ["ingest", "football-data", "--league", "E0", "--season", "2023-2024"])
        assert result.exit_code == 0, result.output
        assert site.requests == ["/mmz4281/2324/E0.csv"]
        missing = cli_env.invoke(app, ["ingest", "football-data", "--league", "E0", "--season", "2030-2031"])
    finally:
        site.stop()
    assert missing.exit_code == 1
    _no_traceback(missing.output)
    assert "HTTP 404" in missing.output
    assert site.requests[-1] == "/mmz4281/3031/E0.csv"
    engine = make_engine(f"sqlite:///{tmp_path / 'cli.sqlite'}")
    statuses = [(r["locator"], r["status"]) for r in rows(engine, ingest_runs)]
    engine.dispose()
    assert statuses == [("/mmz4281/2324/E0.csv", "ok"), ("/mmz4281/3031/E0.csv", "failed")]


CLI_FAULTS = {
    "redirect_loop": (Fault("redirect_loop"), "redirected more than 5 times"),
    "bad_gzip": (Fault("bad_gzip"), "undecodable body"),
    "401": (Fault("status", 401), "HTTP 401"),
    "drop": (Fault("drop"), "Server disconnected"),
}


@pytest.mark.parametrize("case", list(CLI_FAULTS.values()), ids=list(CLI_FAULTS))
def test_a_refused_odds_api_response_is_one_message_and_exit_1_in_the_cli(
    case: tuple[Fault, str], cli_env: CliRunner, server: FakeOddsApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    fault, reason = case
    monkeypatch.setenv("BETPIPE_ODDS_API__API_KEY", KEY)
    monkeypatch.setenv("BETPIPE_ODDS_API__BASE_URL", server.url)
    monkeypatch.setenv("BETPIPE_ODDS_API__MAX_ATTEMPTS", "2")
    monkeypatch.setenv("BETPIPE_ODDS_API__REQUESTS_PER_SECOND", "100")
    server.fail_always(fault)
    result = cli_env.invoke(app, ["ingest", "odds-api", "--sport", "americanfootball_nfl"])
    assert result.exit_code == 1
    _no_traceback(result.output)
    assert KEY not in result.output
    # The console wraps long lines; unwrapped, the last message names the request and the reason.
    assert reason in " ".join(result.output.split())
