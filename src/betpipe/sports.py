"""One home for sport and market rules: outcomes and their coding, when a result becomes known, which markets exist,
and how a selection in each market is graded from a final score.

Every other package asks here instead of repeating ``{"soccer": "1x2", ...}``; the ledger settles with
``grade_selection`` and the models code outcomes with ``outcome_codes``. Pure functions and frozen data only:
this module never touches a database or a clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

__all__ = [
    "MARKETS",
    "RESULT_RULE",
    "SPORTS",
    "Grade",
    "MarketRules",
    "ResultTiming",
    "SportRules",
    "UnknownMarketError",
    "UnknownSportError",
    "grade_selection",
    "market_rules",
    "outcome_codes",
    "profit_per_unit",
    "result_rule_fingerprint",
    "sport_rules",
]

SOCCER = "soccer"
AMERICAN_FOOTBALL = "american_football"

# Contract outcome codes of a finished game (features' ``outcome`` column): 0 home win, 1 draw/tie, 2 away win.
HOME_WIN, DRAW, AWAY_WIN = 0, 1, 2


class UnknownSportError(ValueError):
    """A sport name betpipe has no rules for."""


class UnknownMarketError(ValueError):
    """A market key betpipe cannot price or settle."""


@dataclass(frozen=True)
class MarketRules:
    """A market: its selections and whether they carry a line (handicap of the home side, or a total)."""

    key: str
    selections: tuple[str, ...]
    has_line: bool
    description: str


MARKETS: dict[str, MarketRules] = {
    "1x2": MarketRules("1x2", ("home", "draw", "away"), False, "full-time result, three ways"),
    "moneyline": MarketRules("moneyline", ("home", "away"), False, "winner, two ways; a tie is void (stake back)"),
    "spread": MarketRules("spread", ("home", "away"), True, "point spread; line = home side's handicap, push void"),
    "asian_handicap": MarketRules(
        "asian_handicap", ("home", "away"), True, "Asian handicap; line = home handicap, quarter lines split the stake"
    ),
    "total": MarketRules("total", ("over", "under"), True, "total points/goals; quarter lines split the stake"),
}


RESULT_RULE = (
    "result-known v2: kickoff + duration when the kickoff time is known; "
    "when only the date is known, the end of that local day + duration"
)
"""The one rule for when a result becomes known; feature versions hash it (``result_rule_fingerprint``)."""


@dataclass(frozen=True)
class ResultTiming:
    """When a game's result becomes known, the one rule every reader of results applies (features as-of, model
    refits, settlement in a backtest).

    A source that gives only a date (football-data before 2019-20, some nflverse rows) gets a placeholder kickoff
    (15:00 UK; 13:00 US Eastern) and ``kickoff_time_known = False``. The real game may start hours after the
    placeholder (a Friday 20:00 UK match), so kickoff + duration would reveal its result while it is still to be
    played. Such a result counts as known only at the end of its local day (next midnight in ``day_zone``) plus the
    duration: no game of that date can still be running then, and the next day's games see it.
    """

    duration: timedelta  # kickoff + duration = when a timed result is known, never earlier
    day_zone: str  # the zone of a source's date without a time: its local day ends at midnight there

    def known_at(self, kickoff_utc: datetime, time_known: bool) -> datetime:
        """The instant (aware UTC) a result of a game kicking off at ``kickoff_utc`` (aware) is known."""
        kickoff = pl.lit(kickoff_utc).cast(pl.Datetime("us", "UTC"))
        known: datetime = pl.select(self.known_at_expr(kickoff, pl.lit(time_known, dtype=pl.Boolean))).item()
        return known

    def known_at_expr(self, kickoff_utc: pl.Expr, time_known: pl.Expr) -> pl.Expr:
        """``known_at`` on polars columns (aware UTC kickoffs; a null ``time_known`` counts as unknown)."""
        next_day = kickoff_utc.dt.convert_time_zone(self.day_zone).dt.date() + pl.duration(days=1)
        naive = next_day.cast(pl.Datetime("us"))

        # A midnight repeated by a clock change counts as its later instant; one skipped (a few zones, never the
        # sports' own) as 01:00, and failing that as midnight UTC a day later: later, never earlier.
        def local(at: pl.Expr) -> pl.Expr:
            zoned = at.dt.replace_time_zone(self.day_zone, ambiguous="latest", non_existent="null")
            return zoned.dt.convert_time_zone("UTC")

        end_of_day = pl.coalesce(
            local(naive),
            local(naive + pl.duration(hours=1)),
            (naive + pl.duration(days=1)).dt.replace_time_zone("UTC"),
        )
        timed = kickoff_utc.dt.cast_time_unit("us").dt.convert_time_zone("UTC")
        start = pl.when(time_known.fill_null(False)).then(timed).otherwise(end_of_day.dt.cast_time_unit("us"))
        return start + pl.duration(microseconds=self.duration // timedelta(microseconds=1))


@dataclass(frozen=True)
class SportRules:
    """How a sport is predicted and settled."""

    name: str
    prediction_market: str  # the market the win/draw/loss models predict
    outcomes: tuple[str, ...]  # class labels of that market, in ``predict_proba`` column order
    duration: timedelta  # kickoff + duration = when a timed result is known, never earlier (see ``ResultTiming``)
    draws: bool  # can the game end level (a class in 1X2, void in two-way markets)
    markets: tuple[str, ...]
    day_zone: str  # where the sport's sources date a game whose kickoff time they do not give

    @property
    def n_outcomes(self) -> int:
        return len(self.outcomes)

    @property
    def result_delay_hours(self) -> float:
        return self.duration.total_seconds() / 3600.0

    @property
    def timing(self) -> ResultTiming:
        return ResultTiming(self.duration, self.day_zone)


SPORTS: dict[str, SportRules] = {
    SOCCER: SportRules(
        SOCCER,
        "1x2",
        ("home", "draw", "away"),
        timedelta(hours=2),
        True,
        ("1x2", "total", "asian_handicap", "moneyline"),
        "Europe/London",  # football-data's dates and times are UK local
    ),
    AMERICAN_FOOTBALL: SportRules(
        AMERICAN_FOOTBALL,
        "moneyline",
        ("home", "away"),
        timedelta(hours=3, minutes=30),
        False,
        ("moneyline", "spread", "total"),
        "America/New_York",  # nflverse's gameday and gametime are US Eastern
    ),
}


def result_rule_fingerprint() -> str:
    """The rule and every sport's duration and zone as text: a feature version changes when any of them does."""
    sports = ";".join(f"{r.name}={r.duration.total_seconds():g}s@{r.day_zone}" for r in SPORTS.values())
    return f"{RESULT_RULE}|{sports}"


def sport_rules(sport: str) -> SportRules:
    """The rules of ``sport``, or an error that lists the sports betpipe knows."""
    try:
        return SPORTS[sport]
    except KeyError:
        raise UnknownSportError(f"unknown sport {sport!r}; known: {', '.join(sorted(SPORTS))}") from None


def market_rules(market: str) -> MarketRules:
    try:
        return MARKETS[market]
    except KeyError:
        raise UnknownMarketError(f"unknown market {market!r}; known: {', '.join(sorted(MARKETS))}") from None


def outcome_codes(home_score: npt.ArrayLike, away_score: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Contract outcome codes (0 home, 1 draw, 2 away) from scores, vectorised."""
    diff = np.asarray(home_score, dtype=np.int64) - np.asarray(away_score, dtype=np.int64)
    return np.where(diff > 0, HOME_WIN, np.where(diff == 0, DRAW, AWAY_WIN)).astype(np.int64)


class Grade(StrEnum):
    """How a settled selection ended. Half grades come from quarter lines (half the stake on each neighbour)."""

    WON = "won"
    HALF_WON = "half_won"
    VOID = "void"
    HALF_LOST = "half_lost"
    LOST = "lost"


_PROFIT_SHARE = {Grade.WON: Decimal(1), Grade.HALF_WON: Decimal("0.5"), Grade.VOID: Decimal(0)}
_LOSS_SHARE = {Grade.HALF_LOST: Decimal("-0.5"), Grade.LOST: Decimal(-1)}


def profit_per_unit(grade: Grade, price: Decimal) -> Decimal:
    """Profit of a unit stake at decimal ``price``: won = price − 1, half won = (price − 1)/2, void 0, …"""
    if grade in _PROFIT_SHARE:
        return (price - 1) * _PROFIT_SHARE[grade]
    return _LOSS_SHARE[grade]


def _grade_margin(margin: float) -> int:
    """+1 win, 0 push, −1 loss, for a handicapped margin or a total's excess."""
    return 1 if margin > 0 else (0 if margin == 0 else -1)


_COMBINED = {
    (1, 1): Grade.WON,
    (0, 1): Grade.HALF_WON,
    (1, 0): Grade.HALF_WON,
    (0, 0): Grade.VOID,
    (-1, 0): Grade.HALF_LOST,
    (0, -1): Grade.HALF_LOST,
    (-1, -1): Grade.LOST,
}


def _split_line_grade(margin_before_line: float, line: float) -> Grade:
    """Grade a handicap/total selection: quarter lines (x.25, x.75) split into the two neighbouring half lines."""
    quarters = round(line * 4)
    if abs(line * 4 - quarters) > 1e-9:
        raise UnknownMarketError(f"line {line} is not a multiple of 0.25")
    if quarters % 2 == 0:  # whole or half line: one bet
        single = _grade_margin(margin_before_line + quarters / 4)
        return {1: Grade.WON, 0: Grade.VOID, -1: Grade.LOST}[single]
    lower, upper = (quarters - 1) / 4, (quarters + 1) / 4
    return _COMBINED[(_grade_margin(margin_before_line + lower), _grade_margin(margin_before_line + upper))]


def grade_selection(market: str, selection: str, line: float, home_score: int, away_score: int) -> Grade:
    """Grade one selection from the final score.

    ``line`` is the home side's handicap (spread, Asian handicap) or the total (total); 0 for markets without one.

    >>> grade_selection("asian_handicap", "home", -0.25, 1, 1)   # draw on home −0.25: half the stake lost
    <Grade.HALF_LOST: 'half_lost'>
    >>> grade_selection("total", "over", 2.75, 2, 1)              # three goals on over 2.75: half won
    <Grade.HALF_WON: 'half_won'>
    """
    rules = market_rules(market)
    if selection not in rules.selections:
        raise UnknownMarketError(f"selection {selection!r} is not one of {market}'s {rules.selections}")
    diff = home_score - away_score
    if market == "1x2":
        code = HOME_WIN if diff > 0 else (DRAW if diff == 0 else AWAY_WIN)
        return Grade.WON if rules.selections.index(selection) == code else Grade.LOST
    if market == "moneyline":
        if diff == 0:
            return Grade.VOID
        return Grade.WON if (diff > 0) == (selection == "home") else Grade.LOST
    if market in ("spread", "asian_handicap"):
        # the away side carries the opposite handicap: away wins the bet when home's handicapped margin < 0
        if selection == "home":
            return _split_line_grade(float(diff), line)
        return _split_line_grade(float(-diff), -line)
    total = home_score + away_score
    if selection == "over":
        return _split_line_grade(float(total), -line)
    return _split_line_grade(float(-total), line)


def describe(sport: str) -> dict[str, Any]:
    """Plain data for display (``betpipe sports``-style listings and docs)."""
    rules = sport_rules(sport)
    return {
        "sport": rules.name,
        "prediction_market": rules.prediction_market,
        "outcomes": list(rules.outcomes),
        "duration_hours": rules.result_delay_hours,
        "markets": {key: MARKETS[key].description for key in rules.markets},
    }
