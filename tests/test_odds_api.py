"""The Odds API v4 source end to end: a real local server replaying wire-format samples into a real database."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, Select, Table, func, select, text

from betpipe.config import OddsApiSettings, Settings
from betpipe.db.bulk import as_utc
from betpipe.db.schema import (
    api_requests,
    event_refs,
    events,
    ingest_runs,
    metadata,
    odds_snapshots,
    quarantine,
    raw_payloads,
    results,
    team_aliases,
    teams,
)
from betpipe.ingest.http import SourceError
from betpipe.ingest.odds_api import (
    BadPayloadError,
    OddsApiClient,
    ingest_odds_api,
    ingest_odds_api_payload,
    ingest_odds_api_scores,
    read_odds_api_odds,
    read_odds_api_scores,
)
from fakes.odds_api_server import FakeOddsApi, Fault

KEY = "odds-api-secret-7f3c9a1b2d"
FIXTURES = Path(__file__).parent / "fixtures" / "odds_api"
EPL_ODDS = "/v4/sports/soccer_epl/odds"
NFL_ODDS = "/v4/sports/americanfootball_nfl/odds"
NFL_SCORES = "/v4/sports/americanfootball_nfl/scores"
FETCHED = datetime(2023, 9, 7, 19, 0, tzinfo=UTC)


@pytest.fixture
def server() -> Iterator[FakeOddsApi]:
    fake = FakeOddsApi(KEY).start()
    fake.add_route("/v4/sports", b'[{"key": "soccer_epl", "active": true}]')
    fake.add_route(NFL_ODDS, (FIXTURES / "nfl_odds_spreads_totals.json").read_bytes())
    fake.add_route(NFL_SCORES, (FIXTURES / "nfl_scores.json").read_bytes())
    yield fake
    fake.stop()


@pytest.fixture
def settings(server: FakeOddsApi) -> Settings:
    odds_api = OddsApiSettings(
        api_key=SecretStr(KEY), base_url=server.url, requests_per_second=100, timeout_seconds=0.5, max_attempts=3
    )
    return Settings(odds_api=odds_api)


def client_for(settings: Settings, engine: Engine) -> OddsApiClient:
    return OddsApiClient(settings.odds_api, engine=engine, backoff_initial_seconds=0.01, retry_after_cap_seconds=0.1)


def scalar(engine: Engine, statement: Select[Any]) -> Any:
    with engine.connect() as conn:
        return conn.execute(statement).scalar_one()


def count(engine: Engine, table: Table) -> int:
    return int(scalar(engine, select(func.count()).select_from(table)))


def event_prices(engine: Engine, external_id: str, market: str) -> dict[tuple[str, float], float]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(odds_snapshots.c.selection, odds_snapshots.c.line, odds_snapshots.c.price)
            .join(event_refs, event_refs.c.event_id == odds_snapshots.c.event_id)
            .where(event_refs.c.external_id == external_id, odds_snapshots.c.market == market)
        ).all()
    return {(selection, line): price for selection, line, price in rows}


@pytest.mark.shared_data
def test_the_epl_sample_ingests_21_events_with_3_way_prices_matched_by_name(
    shared_data: Path, server: FakeOddsApi, settings: Settings, engine: Engine
) -> None:
    server.add_route(EPL_ODDS, (shared_data / "the-odds-api" / "odds_sample.json").read_bytes())
    with client_for(settings, engine) as client:
        report = ingest_odds_api(engine, settings, "soccer_epl", ["h2h"], client=client)
    assert report.rows_read == 21
    assert report.quarantined == 0
    assert count(engine, events) == 21
    # Everton listed first, Man United second, Draw third in the payload: order must not matter.
    assert event_prices(engine, "5a8cba5d7d519405039a0b57f782015b", "1x2") == {
        ("home", 0.0): 1.84,
        ("draw", 0.0): 3.98,
        ("away", 0.0): 4.22,
    }
    with engine.connect() as conn:
        home_name = conn.execute(
            select(teams.c.name)
            .join(events, events.c.home_team_id == teams.c.id)
            .join(event_refs, event_refs.c.event_id == events.c.id)
            .where(event_refs.c.external_id == "5a8cba5d7d519405039a0b57f782015b")
        ).scalar_one()
        assert home_name == "Man United", "The Odds API's full name resolves to football-data's team"
        kinds = set(conn.execute(select(odds_snapshots.c.kind)).scalars())
        assert kinds == {"live"}
        captured = conn.execute(select(func.min(odds_snapshots.c.captured_at))).scalar_one()
        assert as_utc(captured) >= datetime(2025, 11, 20, tzinfo=UTC), "captured_at is the market's last_update"
    assert count(engine, odds_snapshots) == 63

    counts = {t.name: count(engine, t) for t in (events, odds_snapshots, teams, team_aliases, raw_payloads)}
    with client_for(settings, engine) as client:
        again = ingest_odds_api(engine, settings, "soccer_epl", ["h2h"], client=client)
    assert {t.name: count(engine, t) for t in (events, odds_snapshots, teams, team_aliases, raw_payloads)} == counts
    assert again.tables["odds"].inserted == again.tables["odds"].updated == 0


@pytest.mark.shared_data
def test_the_american_sample_converts_prices_to_decimal_and_marks_started_events_in_play(
    shared_data: Path, sqlite_engine: Engine
) -> None:
    body = (shared_data / "the-odds-api" / "odds_sample_upcoming_american.json").read_bytes()
    fetched = datetime(2024, 3, 27, 1, 35, tzinfo=UTC)
    locator = "/v4/sports/upcoming/odds?markets=h2h&oddsFormat=american&regions=us"
    report = ingest_odds_api_payload(sqlite_engine, body, locator, captured_at=fetched)
    assert report.rows_read == 28
    assert count(sqlite_engine, events) == 28
    with sqlite_engine.connect() as conn:
        betmgm: dict[str, float] = dict(
            conn.execute(
                text(
                    "SELECT o.selection, o.price FROM odds_snapshots o JOIN bookmakers b ON b.id = o.bookmaker_id "
                    "JOIN event_refs r ON r.event_id = o.event_id "
                    "WHERE b.key = 'betmgm' AND r.external_id = '493be33adaa7bfb70e7388afb4e1867e'"
                )
            ).all()
        )
        assert betmgm == {"away": pytest.approx(1.625), "home": pytest.approx(2.15)}  # -160 and +115
        status, kinds = conn.execute(
            text(
                "SELECT e.status, group_concat(DISTINCT o.kind) FROM events e JOIN event_refs r ON r.event_id = e.id "
                "JOIN odds_snapshots o ON o.event_id = e.id WHERE r.external_id = '493be33adaa7bfb70e7388afb4e1867e'"
            )
        ).one()
        assert (status, kinds) == ("in_play", "in_play"), "kick-off 23:00, prices from 01:34 the next day"
        sports = set(conn.execute(text("SELECT DISTINCT sport FROM competitions")).scalars())
        assert {"ice_hockey", "basketball", "baseball", "cricket"} <= sports


def test_spreads_and_totals_store_the_home_handicap_and_the_total(
    server: FakeOddsApi, settings: Settings, engine: Engine
) -> None:
    with client_for(settings, engine) as client:
        report = ingest_odds_api(engine, settings, "americanfootball_nfl", ["h2h", "spreads", "totals"], client=client)
    assert report.quarantined == 0
    assert count(engine, events) == 3
    chiefs = "a1f0c3e2b9d84c7e8f6a5b4c3d2e1f00"
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT b.key, o.market, o.selection, o.line, o.price FROM odds_snapshots o "
                "JOIN bookmakers b ON b.id = o.bookmaker_id JOIN event_refs r ON r.event_id = o.event_id "
                f"WHERE r.external_id = '{chiefs}'"
            )
        ).all()
        home_team = conn.execute(
            select(teams.c.name)
            .join(events, events.c.home_team_id == teams.c.id)
            .join(event_refs, event_refs.c.event_id == events.c.id)
            .where(event_refs.c.external_id == chiefs)
        ).scalar_one()
    got = {(book, market, selection, line): price for book, market, selection, line, price in rows}
    assert got == {
        ("draftkings", "moneyline", "home", 0.0): 1.54,
        ("draftkings", "moneyline", "away", 0.0): 2.55,
        ("draftkings", "spread", "home", -4.5): 1.91,
        ("draftkings", "spread", "away", -4.5): 1.91,
        ("draftkings", "total", "over", 53.5): 1.95,
        ("draftkings", "total", "under", 53.5): 1.87,
        ("fanduel", "moneyline", "home", 0.0): 1.56,
        ("fanduel", "moneyline", "away", 0.0): 2.5,
        ("fanduel", "spread", "home", -5.0): 1.93,
        ("fanduel", "spread", "away", -5.0): 1.89,
    }
    assert home_team == "KC", "NFL full names resolve to nflverse codes"
    assert scalar(engine, select(func.count()).select_from(teams).where(teams.c.name == "Kansas City Chiefs")) == 0


def test_quota_headers_and_every_request_are_recorded_without_the_key(
    server: FakeOddsApi, settings: Settings, engine: Engine
) -> None:
    with client_for(settings, engine) as client:
        client.sports()
        payload = client.odds("americanfootball_nfl", markets=("h2h", "spreads"))
        assert client.last_quota is not None
        assert client.last_quota.last == Decimal(2)
    assert KEY not in payload.locator
    assert server.requests[-1].query["apiKey"] == [KEY], "the key is sent to the server"
    assert server.requests[-1].query["markets"] == ["h2h,spreads"]
    with engine.connect() as conn:
        rows = conn.execute(select(api_requests).order_by(api_requests.c.id)).mappings().all()
    assert [r["endpoint"].split("?")[0] for r in rows] == ["/v4/sports", NFL_ODDS]
    odds_row = rows[1]
    assert (odds_row["status_code"], odds_row["attempts"], odds_row["error"]) == (200, 1, None)
    assert (odds_row["requests_remaining"], odds_row["requests_used"], odds_row["requests_last"]) == (498, 2, 2)
    assert all(KEY not in r["endpoint"] for r in rows)


def test_exhausted_retries_record_a_failed_run_and_raise_a_clear_error(
    server: FakeOddsApi, settings: Settings, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server.fail_next(Fault("status", 429, {"Retry-After": "0"}), Fault("status", 500), Fault("status", 502))
    with client_for(settings, engine) as client, pytest.raises(SourceError) as caught:
        ingest_odds_api(engine, settings, "americanfootball_nfl", ["h2h"], client=client)
    message = str(caught.value)
    assert "failed after 3 attempt(s)" in message
    assert "HTTP 502" in message
    with engine.connect() as conn:
        run = conn.execute(select(ingest_runs)).mappings().one()
        request = conn.execute(select(api_requests)).mappings().one()
    assert run["status"] == "failed"
    assert "failed after 3 attempt(s)" in run["message"]
    assert (request["status_code"], request["attempts"]) == (502, 3)
    assert "HTTP 502" in request["error"]
    assert count(engine, events) == 0
    assert KEY not in message
    assert KEY not in caplog.text
    assert KEY not in run["message"] + request["error"]


def test_a_truncated_response_is_kept_and_quarantined_as_an_unreadable_payload(
    server: FakeOddsApi, settings: Settings, sqlite_engine: Engine
) -> None:
    server.fail_next(Fault("truncate"))
    with client_for(settings, sqlite_engine) as client:
        report = ingest_odds_api(sqlite_engine, settings, "americanfootball_nfl", ["h2h"], client=client)
    assert report.quarantined == 1
    with sqlite_engine.connect() as conn:
        reason = conn.execute(select(quarantine.c.reason)).scalar_one()
        status = conn.execute(select(ingest_runs.c.status)).scalar_one()
    assert "not valid JSON" in reason
    assert status == "failed"
    assert count(sqlite_engine, raw_payloads) == 1


def test_a_body_that_is_not_json_is_a_bad_payload_error() -> None:
    with pytest.raises(BadPayloadError, match="not valid JSON"):
        read_odds_api_odds(b"<html>502 Bad Gateway</html>", "x", captured_at=FETCHED)
    with pytest.raises(BadPayloadError, match="API key is not valid"):
        read_odds_api_odds(b'{"message": "API key is not valid"}', "x", captured_at=FETCHED)
    with pytest.raises(ValueError, match="expected a JSON array"):
        read_odds_api_odds(b'"hello"', "x", captured_at=FETCHED)


def test_a_malformed_response_through_the_server_is_quarantined_not_raised(
    server: FakeOddsApi, settings: Settings, sqlite_engine: Engine
) -> None:
    server.fail_next(Fault("malformed"))
    with client_for(settings, sqlite_engine) as client:
        report = ingest_odds_api(sqlite_engine, settings, "americanfootball_nfl", ["h2h"], client=client)
    assert (report.rows_read, report.quarantined) == (0, 1)


def test_bad_events_and_bad_prices_are_quarantined_one_by_one() -> None:
    good = json.loads((FIXTURES / "nfl_odds_spreads_totals.json").read_text())[1]
    broken_price = json.loads(json.dumps(good))
    broken_price["id"] = "broken-price"
    outcomes = broken_price["bookmakers"][0]["markets"][0]["outcomes"]
    outcomes[0]["price"] = 1.0
    outcomes[1]["price"] = float("nan")
    strange_name = json.loads(json.dumps(good))
    strange_name["id"] = "strange-name"
    strange_name["bookmakers"][0]["markets"][0]["outcomes"][0]["name"] = "Carolina"
    missing = {k: v for k, v in good.items() if k != "home_team"} | {"id": "missing-home"}
    bad_time = good | {"id": "bad-time", "commence_time": "next sunday"}
    body = json.dumps([good, broken_price, strange_name, missing, bad_time, 42]).encode()
    batch = read_odds_api_odds(body, "x", captured_at=FETCHED)
    assert batch.rows_read == 6
    assert batch.events["row_ref"].to_list() == [good["id"], "broken-price", "strange-name"]
    reasons = {q.row_ref: q.reason for q in batch.quarantined}
    assert "is not a valid decimal price" in reasons["broken-price:draftkings:h2h:Carolina Panthers:0.0"]
    assert "is not a valid decimal price" in reasons["broken-price:draftkings:h2h:Atlanta Falcons:0.0"]
    assert "matches neither team nor Draw" in reasons["strange-name:draftkings:h2h:Carolina"]
    assert "missing field(s) home_team" in reasons["missing-home"]
    assert "unparseable commence_time" in reasons["bad-time"]
    assert "not a JSON object" in reasons["event 5"]
    assert batch.odds.filter(batch.odds["row_ref"] == "broken-price").height == 2, "its totals are still fine"


def test_an_unknown_team_in_a_known_competition_is_quarantined_not_invented(
    server: FakeOddsApi, settings: Settings, engine: Engine
) -> None:
    with client_for(settings, engine) as client:
        ingest_odds_api(engine, settings, "americanfootball_nfl", ["h2h"], client=client)
        events_before, teams_before = count(engine, events), count(engine, teams)
        fixture = json.loads((FIXTURES / "nfl_odds_spreads_totals.json").read_text())
        fixture[1]["id"] = "expansion-game"
        fixture[1]["away_team"] = "Atlantis Krakens"
        fixture[1]["commence_time"] = "2023-09-17T17:00:00Z"
        for book in fixture[1]["bookmakers"]:
            for market in book["markets"]:
                for outcome in market["outcomes"]:
                    if outcome["name"] == "Carolina Panthers":
                        outcome["name"] = "Atlantis Krakens"
        server.add_route(NFL_ODDS, json.dumps(fixture[1:2]).encode())
        report = ingest_odds_api(engine, settings, "americanfootball_nfl", ["h2h"], client=client)
    assert report.quarantined == 1
    assert (count(engine, events), count(engine, teams)) == (events_before, teams_before)
    reason = scalar(engine, select(quarantine.c.reason).where(quarantine.c.row_ref == "expansion-game"))
    assert reason == "unknown team 'Atlantis Krakens' in american_football: add an alias"


def test_scores_become_results_matched_by_name_and_finish_the_event(
    server: FakeOddsApi, settings: Settings, engine: Engine
) -> None:
    with client_for(settings, engine) as client:
        ingest_odds_api(engine, settings, "americanfootball_nfl", ["h2h"], client=client)
        report = ingest_odds_api_scores(engine, settings, "americanfootball_nfl", days_from=2, client=client)
    assert report.rows_read == 3
    assert server.requests[-1].query["daysFrom"] == ["2"]
    with engine.connect() as conn:
        rows = conn.execute(
            select(event_refs.c.external_id, events.c.status, results.c.home_score, results.c.away_score)
            .join(events, events.c.id == event_refs.c.event_id)
            .outerjoin(results, results.c.event_id == events.c.id)
            .where(event_refs.c.source == "odds_api")
        ).all()
    by_id = {r[0]: r[1:] for r in rows}
    assert by_id["a1f0c3e2b9d84c7e8f6a5b4c3d2e1f00"] == ("finished", 20, 21), "Chiefs (home) 20, Lions 21"
    assert by_id["b2e1d4f3c0a95d8f9a7b6c5d4e3f2a11"][1:] == (None, None), "in progress: no result yet"
    assert by_id["d4a3f6b5e2c17f0b1c9d8e7f6a5b4c33"][1:] == (None, None)


def test_a_completed_event_with_an_unmatched_score_name_is_quarantined() -> None:
    item = json.loads((FIXTURES / "nfl_scores.json").read_text())[0]
    item["scores"][0]["name"] = "Detroit"
    batch = read_odds_api_scores(json.dumps([item]).encode(), "x", captured_at=FETCHED)
    assert batch.results.is_empty()
    [bad] = batch.quarantined
    assert "whole-number score for each team" in bad.reason


def test_the_key_is_nowhere_in_the_database_after_a_mixed_run(
    server: FakeOddsApi, settings: Settings, sqlite_engine: Engine
) -> None:
    server.fail_next(Fault("status", 500))
    with client_for(settings, sqlite_engine) as client:
        ingest_odds_api(sqlite_engine, settings, "americanfootball_nfl", ["h2h"], client=client)
        ingest_odds_api_scores(sqlite_engine, settings, "americanfootball_nfl", client=client)
        with pytest.raises(SourceError):
            client.odds("no_such_sport")
    with sqlite_engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(select(table)).all():
                assert KEY not in repr(row), f"key leaked into {table.name}"
    assert count(sqlite_engine, api_requests) == 3


def test_a_missing_key_is_refused_before_any_request(server: FakeOddsApi) -> None:
    with pytest.raises(SourceError, match="key is not configured"):
        OddsApiClient(OddsApiSettings(base_url=server.url))
    assert server.requests == []


def test_soccer_spreads_are_asian_handicaps_and_repeated_bad_outcomes_are_all_quarantined(
    server: FakeOddsApi, settings: Settings, engine: Engine
) -> None:
    fixture = json.loads((FIXTURES / "epl_spreads_totals.json").read_text())
    fixture[0]["bookmakers"][0]["markets"].append(
        {"key": "h2h", "outcomes": [{"name": "Nobody", "price": 2.0}, {"name": "Nobody", "price": 3.0}]}
    )
    server.add_route(EPL_ODDS, json.dumps(fixture).encode())
    with client_for(settings, engine) as client:
        report = ingest_odds_api(engine, settings, "soccer_epl", ["h2h", "spreads", "totals"], client=client)
    event_id = "5a8cba5d7d519405039a0b57f782015b"
    assert event_prices(engine, event_id, "asian_handicap") == {("home", -0.75): 1.92, ("away", -0.75): 1.98}
    assert event_prices(engine, event_id, "total") == {("over", 2.75): 2.02, ("under", 2.75): 1.88}
    assert report.quarantined == 2
    with engine.connect() as conn:
        refs = sorted(conn.execute(select(quarantine.c.row_ref)).scalars())
    assert refs == [f"{event_id}:pinnacle:h2h:Nobody", f"{event_id}:pinnacle:h2h:Nobody#2"]
