"""Odds API price formats and per-market overround (issue 14, defect 11), through a real server on 127.0.0.1.

American prices answering a decimal request used to be half-accepted: negative ones quarantined, positive ones
(+100 ... +1000) stored as decimal odds of 100 ... 1000 that a betting run could take. A response is now read in
one format as a whole, and every market is checked for a plausible overround before any of its prices is stored.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, func, select, text

from betpipe.config import OddsApiSettings, Settings
from betpipe.db.schema import ingest_runs, odds_snapshots, quarantine, raw_payloads
from betpipe.ingest import odds_api_reader
from betpipe.ingest.odds_api import OddsApiClient, ingest_odds_api
from fakes.odds_api_server import FakeOddsApi

KEY = "odds-api-secret-prices-41d2"
FIXTURES = Path(__file__).parent / "fixtures" / "odds_api"
NFL_ODDS = "/v4/sports/americanfootball_nfl/odds"
DECIMAL = json.loads((FIXTURES / "nfl_odds_spreads_totals.json").read_text())
AMERICAN = json.loads((FIXTURES / "nfl_odds_american.json").read_text())
CHIEFS = "a1f0c3e2b9d84c7e8f6a5b4c3d2e1f00"


@pytest.fixture
def server() -> Iterator[FakeOddsApi]:
    fake = FakeOddsApi(KEY).start()
    yield fake
    fake.stop()


def fetch(server: FakeOddsApi, engine: Engine, body: Any, **options: Any) -> Any:
    """One ``/odds`` request through the real client; ``body`` is what the server answers whatever was asked."""
    server.add_route(NFL_ODDS, json.dumps(body).encode())
    odds_api = OddsApiSettings(api_key=SecretStr(KEY), base_url=server.url, requests_per_second=100, max_attempts=1)
    settings = Settings(odds_api=odds_api)
    with OddsApiClient(odds_api, engine=engine) as client:
        return ingest_odds_api(
            engine, settings, "americanfootball_nfl", ["h2h", "spreads", "totals"], client=client, **options
        )


def stored(engine: Engine) -> dict[tuple[str, str, str, str, float], float]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT r.external_id, b.key, o.market, o.selection, o.line, o.price FROM odds_snapshots o "
                "JOIN bookmakers b ON b.id = o.bookmaker_id JOIN event_refs r ON r.event_id = o.event_id"
            )
        ).all()
    return {(e, b, m, s, line): price for e, b, m, s, line, price in rows}


def quarantined(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        return dict(conn.execute(select(quarantine.c.row_ref, quarantine.c.reason)).all())


def american(a: int) -> float:
    return float(1 + Fraction(a, 100) if a > 0 else 1 - Fraction(100, a))


def test_american_prices_requested_as_american_are_converted_exactly(server: FakeOddsApi, engine: Engine) -> None:
    report = fetch(server, engine, AMERICAN, odds_format="american")
    assert server.requests[-1].query["oddsFormat"] == ["american"]
    assert report.quarantined == 0
    prices = stored(engine)
    assert len(prices) == 16
    assert prices[(CHIEFS, "draftkings", "moneyline", "home", 0.0)] == american(-185)
    assert prices[(CHIEFS, "draftkings", "moneyline", "away", 0.0)] == 2.55
    assert prices[(CHIEFS, "draftkings", "spread", "home", -4.5)] == american(-110) == float(Fraction(21, 11))
    assert prices[(CHIEFS, "draftkings", "total", "under", 53.5)] == american(-115)
    assert prices[("c3f2e5a4d1b06e9a0b8c7d6e5f4a3b22", "fanduel", "moneyline", "home", 0.0)] == 6.0
    assert max(prices.values()) < 10, "no +500 stored as a price of 500"


def refused_whole(engine: Engine, *words: str) -> str:
    assert stored(engine) == {}, "nothing of a refused response is stored"
    with engine.connect() as conn:
        [reason] = conn.execute(select(quarantine.c.reason).where(quarantine.c.row_ref == "<payload>")).scalars()
        assert conn.execute(select(func.count()).select_from(raw_payloads)).scalar_one() == 1, "bytes kept"
        assert conn.execute(select(ingest_runs.c.status)).scalar_one() == "failed"
    for word in words:
        assert word in reason, reason
    return str(reason)


def test_an_american_response_to_a_decimal_request_is_refused_whole(server: FakeOddsApi, engine: Engine) -> None:
    report = fetch(server, engine, AMERICAN)
    assert server.requests[-1].query["oddsFormat"] == ["decimal"]
    assert report.quarantined == 1
    refused_whole(engine, "American", "decimal odds were requested")


def test_only_positive_american_prices_answering_a_decimal_request_are_refused_too(
    server: FakeOddsApi, engine: Engine
) -> None:
    """The half the old check let through: +100 ... +1000 look like decimal odds of 100 ... 1000."""
    body = copy.deepcopy(AMERICAN[:1])
    body[0]["bookmakers"] = [
        {"key": "draftkings", "markets": [{"key": "spreads", "outcomes": [
            {"name": "Detroit Lions", "price": 100, "point": 4.5},
            {"name": "Kansas City Chiefs", "price": 100, "point": -4.5},
        ]}]},
        {"key": "fanduel", "markets": [{"key": "h2h", "outcomes": [
            {"name": "Detroit Lions", "price": 105}, {"name": "Kansas City Chiefs", "price": 1000},
        ]}]},
    ]  # fmt: skip
    fetch(server, engine, body)
    refused_whole(engine, "American")


def test_decimal_prices_answering_an_american_request_are_refused_whole(server: FakeOddsApi, engine: Engine) -> None:
    fetch(server, engine, DECIMAL, odds_format="american")
    refused_whole(engine, "decimal", "American odds were requested")


def test_a_response_mixing_decimal_and_american_prices_is_refused_whole(server: FakeOddsApi, engine: Engine) -> None:
    fetch(server, engine, [DECIMAL[0], AMERICAN[1]])
    refused_whole(engine, "mix decimal odds")


def _with_prices(event: dict[str, Any], book: int, market: int, prices: list[float]) -> dict[str, Any]:
    event = copy.deepcopy(event)
    for outcome, price in zip(event["bookmakers"][book]["markets"][market]["outcomes"], prices, strict=True):
        outcome["price"] = price
    return event


def test_a_market_with_an_implausible_overround_is_quarantined_and_the_rest_lands(
    server: FakeOddsApi, engine: Engine
) -> None:
    chiefs = _with_prices(DECIMAL[0], 0, 0, [1.2, 1.3])  # draftkings moneyline: 1/1.2 + 1/1.3 = 1.60
    chiefs = _with_prices(chiefs, 0, 1, [5.0, 5.0])  # draftkings spread: 0.40
    chiefs = _with_prices(chiefs, 1, 0, [2.0, 2.0])  # fanduel moneyline: exactly 1, fine
    report = fetch(server, engine, [chiefs, *DECIMAL[1:]])
    reasons = quarantined(engine)
    assert report.quarantined == 2
    moneyline = reasons[f"{CHIEFS}:draftkings:moneyline:0"]
    assert "implied probabilities sum to 1.603" in moneyline
    assert f"{odds_api_reader.MIN_IMPLIED_SUM:g}" in moneyline
    assert f"{odds_api_reader.MAX_IMPLIED_SUM:g}" in moneyline
    assert "sum to 0.4" in reasons[f"{CHIEFS}:draftkings:spread:-4.5"]
    prices = stored(engine)
    assert not any(key[:3] == (CHIEFS, "draftkings", "moneyline") for key in prices)
    assert not any(key[:3] == (CHIEFS, "draftkings", "spread") for key in prices)
    assert prices[(CHIEFS, "draftkings", "total", "over", 53.5)] == 1.95
    assert prices[(CHIEFS, "fanduel", "moneyline", "home", 0.0)] == 2.0
    assert len(prices) == 14 - 4


def test_a_market_left_incomplete_by_a_bad_price_is_quarantined_whole(server: FakeOddsApi, engine: Engine) -> None:
    """With one side gone the overround cannot be checked, so the other side is not vouched for either."""
    chiefs = _with_prices(DECIMAL[0], 1, 0, [1.56, 1.0])
    report = fetch(server, engine, [chiefs, *DECIMAL[1:]])
    reasons = quarantined(engine)
    assert report.quarantined == 2
    assert "not a valid decimal price" in reasons[f"{CHIEFS}:fanduel:h2h:Detroit Lions:0.0"]
    assert "incomplete" in reasons[f"{CHIEFS}:fanduel:moneyline:0"]
    assert not any(key[:3] == (CHIEFS, "fanduel", "moneyline") for key in stored(engine))


def test_a_soccer_h2h_without_its_draw_is_not_a_two_way_market(server: FakeOddsApi, engine: Engine) -> None:
    """Without the Draw the two prices sum to about 0.75: the overround check catches what naming cannot."""
    event = {
        "id": "e0-no-draw",
        "sport_key": "soccer_epl",
        "commence_time": "2025-11-24T20:00:00Z",
        "home_team": "Manchester United",
        "away_team": "Everton",
        "bookmakers": [{"key": "pinnacle", "markets": [{"key": "h2h", "outcomes": [
            {"name": "Everton", "price": 4.2}, {"name": "Manchester United", "price": 1.84},
        ]}]}],
    }  # fmt: skip
    server.add_route("/v4/sports/soccer_epl/odds", json.dumps([event]).encode())
    odds_api = OddsApiSettings(api_key=SecretStr(KEY), base_url=server.url, requests_per_second=100, max_attempts=1)
    with OddsApiClient(odds_api, engine=engine) as client:
        report = ingest_odds_api(engine, Settings(odds_api=odds_api), "soccer_epl", ["h2h"], client=client)
    assert report.quarantined == 1
    assert "sum to 0.78" in quarantined(engine)["e0-no-draw:pinnacle:moneyline:0"]
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(odds_snapshots)).scalar_one() == 0
