"""The Odds API v4 readers: ``/odds`` and ``/scores`` responses turned into normalised records.

Readers are pure. Outcomes are matched to home/away/draw by name, never by position (the API's order is not
home/away/draw). A wholly unusable payload (not JSON, truncated, an error object) raises ``BadPayloadError``; a bad
event, market or outcome is quarantined on its own with a reason. Prices, lines, scores, times and keys are
validated here, never trusted: a reader must never raise anything but ``BadPayloadError`` for bad input, and must
never pass on a value no real market has (a price of 1e308, a score of 999, a line of 1e9).
The HTTP client and the ingest entry points live in ``odds_api`` (which re-exports these readers).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import polars as pl

from betpipe.ingest.odds_api_prices import (
    MAX_AMERICAN_ODDS,
    MAX_DECIMAL_PRICE,
    MAX_IMPLIED_SUM,
    MIN_IMPLIED_SUM,
    BadPayloadError,
    OddsFormat,
    number,
    priced,
)
from betpipe.ingest.records import NormalisedBatch, QuarantinedRow

__all__ = [
    "MAX_AMERICAN_ODDS",
    "MAX_DECIMAL_PRICE",
    "MAX_IMPLIED_SUM",
    "MIN_IMPLIED_SUM",
    "SOURCE",
    "BadPayloadError",
    "OddsFormat",
    "competition_for",
    "load_events",
    "odds_format_of",
    "parse_time",
    "read_odds_api_odds",
    "read_odds_api_scores",
    "season_for",
]

SOURCE = "odds_api"

# sport key -> (sport, competition code, competition name); codes match the authoritative historical sources
SPORT_KEYS: dict[str, tuple[str, str, str]] = {
    "soccer_epl": ("soccer", "E0", "England Premier League"),
    "soccer_efl_champ": ("soccer", "E1", "England Championship"),
    "soccer_spain_la_liga": ("soccer", "SP1", "Spain La Liga"),
    "soccer_germany_bundesliga": ("soccer", "D1", "Germany Bundesliga"),
    "soccer_italy_serie_a": ("soccer", "I1", "Italy Serie A"),
    "soccer_france_ligue_one": ("soccer", "F1", "France Ligue 1"),
    "americanfootball_nfl": ("american_football", "NFL", "National Football League"),
    "basketball_nba": ("basketball", "NBA", "National Basketball Association"),
    "icehockey_nhl": ("ice_hockey", "NHL", "National Hockey League"),
    "baseball_mlb": ("baseball", "MLB", "Major League Baseball"),
}
SPORT_PREFIXES = {"americanfootball": "american_football", "icehockey": "ice_hockey"}
H2H_SELECTIONS = {"Draw": "draw"}
TOTAL_SELECTIONS = {"over": "over", "under": "under"}
MAX_LINE = 500.0  # handicaps and totals of every sport (NBA totals ~250) stay well inside
MAX_SCORE = {"soccer": 30, "american_football": 120}
DEFAULT_MAX_SCORE = 400
EARLIEST_KICKOFF = datetime(1990, 1, 1, tzinfo=UTC)
LATEST_KICKOFF = datetime(2100, 1, 1, tzinfo=UTC)
_SPORT_KEY = re.compile(r"[a-z0-9][a-z0-9_]{0,63}")
_BOOKMAKER_KEY = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
_SCORE = re.compile(r"[0-9]{1,4}")


def competition_for(sport_key: str, title: str | None = None) -> tuple[str, str, str]:
    """(sport, competition code, name) for a sport key; unknown keys keep the key as the competition code."""
    if sport_key in SPORT_KEYS:
        return SPORT_KEYS[sport_key]
    prefix = sport_key.split("_", 1)[0]
    return SPORT_PREFIXES.get(prefix, prefix), sport_key, title or sport_key


def season_for(sport: str, kickoff: datetime) -> str | None:
    """Season label as the historical sources write it: ``2025-2026`` for soccer, ``2025`` for the NFL."""
    if sport == "soccer":
        start = kickoff.year if kickoff.month >= 7 else kickoff.year - 1
        return f"{start}-{start + 1}"
    if sport == "american_football":
        return str(kickoff.year if kickoff.month >= 3 else kickoff.year - 1)
    return None


def odds_format_of(locator: str) -> OddsFormat | None:
    """The ``oddsFormat`` a stored response was requested with (from its locator); None when it does not say."""
    values = parse_qs(urlsplit(locator).query).get("oddsFormat")
    if not values:
        return None
    return "american" if values[-1].lower() == "american" else "decimal"


def parse_time(value: object) -> datetime | None:
    """An API timestamp (ISO-8601 or unix seconds) as aware UTC, or None when it is not one."""
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, int | float) and math.isfinite(value):
            parsed = datetime.fromtimestamp(value, UTC)
        elif isinstance(value, str):
            parsed = datetime.fromisoformat(value.strip())
        else:
            return None
        parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError, OSError):  # junk text, or a number of seconds no calendar holds
        return None
    return parsed if EARLIEST_KICKOFF <= parsed < LATEST_KICKOFF else None


def load_events(body: bytes, locator: str) -> list[Any]:
    """The payload's event list, or ``BadPayloadError`` saying what the payload is instead."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as error:  # bad JSON or UTF-8, a 5,000-digit number, 100,000 nested arrays
        excerpt = body[:80].decode("utf-8", errors="replace")
        detail = str(error)[:200] if not isinstance(error, RecursionError) else "nested too deeply"
        raise BadPayloadError(f"{locator}: not valid JSON ({detail}); starts {excerpt!r}") from None
    if isinstance(data, dict):
        message = data.get("message") or data.get("error_code") or ", ".join(sorted(data)[:5])
        raise BadPayloadError(f"{locator}: expected a JSON array of events, got an object ({str(message)[:200]})")
    if not isinstance(data, list):
        raise BadPayloadError(f"{locator}: expected a JSON array of events, got {type(data).__name__}")
    return data


def _unique_refs(rows: list[QuarantinedRow]) -> list[QuarantinedRow]:
    """Repeated references (two bad outcomes with one name) get ``#n`` suffixes: quarantine is keyed on them."""
    seen: dict[str, int] = {}
    unique = []
    for row in rows:
        seen[row.row_ref] = seen.get(row.row_ref, 0) + 1
        ref = row.row_ref if seen[row.row_ref] == 1 else f"{row.row_ref}#{seen[row.row_ref]}"
        unique.append(QuarantinedRow(ref, row.record, row.reason))
    return unique


def _event_base(
    index: int, item: object, captured_at: datetime, seen: set[str]
) -> tuple[dict[str, Any] | None, QuarantinedRow | None]:
    """The event row for one API event, or the reason it cannot be one."""
    ref = f"event {index}"
    if not isinstance(item, dict):
        return None, QuarantinedRow.of(ref, repr(item)[:500], "event is not a JSON object")
    missing = [
        k for k in ("id", "sport_key", "home_team", "away_team") if not isinstance(item.get(k), str) or not item[k]
    ]
    if missing:
        reason = f"event missing field(s) {', '.join(missing)} (absent, empty or not text)"
        return None, QuarantinedRow.of(str(item.get("id") or ref)[:200], item, reason)
    ref = str(item["id"])
    kickoff = parse_time(item.get("commence_time"))
    problem = None
    if not _SPORT_KEY.fullmatch(item["sport_key"]):
        problem = f"sport_key {item['sport_key'][:80]!r} is not a sport key"
    elif kickoff is None:
        problem = f"unparseable commence_time {str(item.get('commence_time'))[:80]!r} (ISO-8601 in 1990..2099)"
    elif item["home_team"] == item["away_team"]:
        problem = f"home_team and away_team are both {item['home_team']!r}"
    elif ref in seen:
        problem = "duplicate event id in one payload"
    if problem is not None or kickoff is None:
        return None, QuarantinedRow.of(f"{ref}#{index}" if ref in seen else ref, item, problem or "")
    seen.add(ref)
    title = item.get("sport_title")
    title = title if isinstance(title, str) and 0 < len(title) <= 200 and "\x00" not in title else None
    sport, code, name = competition_for(item["sport_key"], title)
    attributes = {"sport_key": item["sport_key"], "sport_title": title}
    row = {
        "row_ref": ref,
        "sport": sport,
        "competition_code": code,
        "competition_name": name,
        "season": season_for(sport, kickoff),
        "kickoff_utc": kickoff,
        "kickoff_time_known": True,
        "home_team": item["home_team"],
        "away_team": item["away_team"],
        "status": "in_play" if captured_at >= kickoff else "scheduled",
        "neutral_site": False,
        "attributes": json.dumps(attributes, sort_keys=True),
        "external_id": ref,
    }
    return row, None


def _selection(market_key: str, name: object, event: dict[str, Any]) -> str | None:
    if market_key == "totals":
        return TOTAL_SELECTIONS.get(str(name).lower())
    if name == event["home_team"]:
        return "home"
    if name == event["away_team"]:
        return "away"
    return H2H_SELECTIONS.get(str(name)) if market_key == "h2h" else None


def _plausible_line(line: float) -> bool:
    return math.isfinite(line) and abs(line) <= MAX_LINE and (line * 4).is_integer()


def _outcomes(
    event: dict[str, Any], captured_at: datetime, quarantined: list[QuarantinedRow]
) -> Iterator[tuple[Any, ...]]:
    """(row_ref, bookmaker, market, selection, line, raw price, captured_at, ref) per usable outcome."""
    ref = str(event["id"])
    books = event.get("bookmakers")
    if not isinstance(books, list):
        quarantined.append(QuarantinedRow.of(f"{ref}:bookmakers", {"bookmakers": books}, "bookmakers is not a list"))
        return
    for book in books:
        book_key = book.get("key") if isinstance(book, dict) else None
        if not isinstance(book_key, str) or not _BOOKMAKER_KEY.fullmatch(book_key):
            where = f"{ref}:{str(book_key)[:64]}"
            quarantined.append(QuarantinedRow.of(where, book, "bookmaker without a usable key (lowercase, <= 64)"))
            continue
        if not isinstance(book.get("markets"), list):
            quarantined.append(QuarantinedRow.of(f"{ref}:{book_key}", book, "bookmaker without a list of markets"))
            continue
        for market in book["markets"]:
            key = market.get("key") if isinstance(market, dict) else None
            where = f"{ref}:{book_key}:{str(key)[:32]}"
            stamp = market.get("last_update", book.get("last_update")) if isinstance(market, dict) else None
            when = captured_at if stamp is None else parse_time(stamp)
            if key not in ("h2h", "spreads", "totals") or not isinstance(market.get("outcomes"), list):
                quarantined.append(QuarantinedRow.of(where, market, f"unsupported market {key!r} or no outcomes"))
                continue
            if when is None:
                quarantined.append(QuarantinedRow.of(where, market, f"unparseable last_update {stamp!r}"))
                continue
            names = [o.get("name") for o in market["outcomes"] if isinstance(o, dict)]
            name = {"h2h": "1x2" if "Draw" in names else "moneyline", "totals": "total"}.get(key, "spread")
            if key == "spreads" and event["sport"] == "soccer":
                name = "asian_handicap"  # soccer spreads are Asian handicap lines (quarter and half goals)
            for outcome in market["outcomes"]:
                label = outcome.get("name") if isinstance(outcome, dict) else None
                label = label[:100] if isinstance(label, str) else label
                selection = _selection(key, label, event)
                point = number(outcome.get("point")) if isinstance(outcome, dict) else None
                line = 0.0 if key == "h2h" else point
                if selection == "away" and line is not None:
                    line = -line + 0.0  # the stored line is always the home side's handicap
                if selection is None or line is None or not _plausible_line(line):
                    reason = (
                        f"outcome {str(label)[:100]!r} matches neither team{' nor Draw' if key == 'h2h' else ''}"
                        if selection is None
                        else f"{key} outcome without a plausible point (a multiple of 0.25 within ±{MAX_LINE:g})"
                    )
                    quarantined.append(QuarantinedRow.of(f"{where}:{label}", outcome, reason))
                    continue
                price = outcome.get("price")
                yield (ref, book_key, name, selection, line, price, when, f"{where}:{label}:{line}")


def read_odds_api_odds(
    body: bytes, locator: str, *, captured_at: datetime, odds_format: OddsFormat | None = None
) -> NormalisedBatch:
    """Parse a ``/v4/sports/{sport}/odds`` response fetched at ``captured_at``.

    ``odds_format`` defaults to the ``oddsFormat`` in the locator; the prices must agree with it, and decide when
    neither says (``odds_api_prices``). A price captured at or after kick-off is ``in_play``, before it ``live``;
    events already under way at the fetch time get status ``in_play``.
    """
    items = load_events(body, locator)
    quarantined: list[QuarantinedRow] = []
    seen: set[str] = set()
    events: list[dict[str, Any]] = []
    rows: list[tuple[Any, ...]] = []
    for index, item in enumerate(items):
        event, problem = _event_base(index, item, captured_at, seen)
        if event is None:
            quarantined.append(problem)  # type: ignore[arg-type]
            continue
        events.append(event)
        rows.extend(_outcomes({**item, "sport": event["sport"]}, captured_at, quarantined))
    frame = pl.DataFrame(events, schema=NormalisedBatch(SOURCE, locator, 0).events.schema)
    odds = priced(rows, odds_format or odds_format_of(locator), locator, quarantined)
    odds = odds.join(frame.select("row_ref", "kickoff_utc"), on="row_ref", how="left").with_columns(
        pl.when(pl.col("captured_at") >= pl.col("kickoff_utc"))
        .then(pl.lit("in_play"))
        .otherwise(pl.lit("live"))
        .alias("kind")
    )
    return NormalisedBatch(SOURCE, locator, len(items), events=frame, odds=odds, quarantined=_unique_refs(quarantined))


def _score(scores: object, team: str, sport: str) -> int | None:
    """The team's score if it is a plausible whole number for the sport (``"1e2"``, ``"²"`` and 999 are not)."""
    if not isinstance(scores, list):
        return None
    matches = [s.get("score") for s in scores if isinstance(s, dict) and s.get("name") == team]
    if len(matches) != 1 or isinstance(matches[0], bool) or not isinstance(matches[0], str | int):
        return None
    text = str(matches[0]).strip()
    if not _SCORE.fullmatch(text) or int(text) > MAX_SCORE.get(sport, DEFAULT_MAX_SCORE):
        return None
    return int(text)


def read_odds_api_scores(body: bytes, locator: str, *, captured_at: datetime) -> NormalisedBatch:
    """Parse a ``/v4/sports/{sport}/scores`` response: completed events with both scores become results."""
    items = load_events(body, locator)
    quarantined: list[QuarantinedRow] = []
    seen: set[str] = set()
    events: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        event, problem = _event_base(index, item, captured_at, seen)
        if event is None:
            quarantined.append(problem)  # type: ignore[arg-type]
            continue
        if item.get("completed") is True:
            scores, sport = item.get("scores"), event["sport"]
            home, away = _score(scores, item["home_team"], sport), _score(scores, item["away_team"], sport)
            if home is None or away is None:
                reason = "completed event without a plausible whole-number score for each team (matched by name)"
                quarantined.append(QuarantinedRow.of(event["row_ref"], item, reason))
                continue
            event["status"] = "finished"
            results.append({"row_ref": event["row_ref"], "home_score": home, "away_score": away})
        events.append(event)
    frame = pl.DataFrame(events, schema=NormalisedBatch(SOURCE, locator, 0).events.schema)
    result_frame = pl.DataFrame(results, schema={"row_ref": pl.Utf8, "home_score": pl.Int64, "away_score": pl.Int64})
    return NormalisedBatch(
        SOURCE, locator, len(items), events=frame, results=result_frame, quarantined=_unique_refs(quarantined)
    )
