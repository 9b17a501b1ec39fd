"""The correlated-exposure limit (issue 18 item 4): bets on one event in several markets (1X2 home, over 2.5, AH -0.5)
are one position, so their stakes are summed per event and held to a fraction of the bankroll, inside the ledger
transaction that records them (cut to fit, refused when nothing is left), on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from pydantic import ValidationError
from sqlalchemy import Engine

from betpipe.betting import PaperBook, RiskLimits, place_bets
from betpipe.betting.risk import ExposureState, assess
from betpipe.clock import FixedClock
from betpipe.config import load_settings
from fakes.betting import DECIDED, ROOMY, candidate

CLOCK = FixedClock(DECIDED)


def _markets(event_id: int) -> list[object]:
    """One event bet three ways: 1X2 home 10, over 2.5 at 15, AH home -0.5 at 10 (35 in all)."""
    return [
        candidate(event_id),
        candidate(event_id, market="total", selection="over", line=2.5, stake=Decimal("15.00")),
        candidate(event_id, market="asian_handicap", selection="home", line=-0.5),
    ]


def test_an_events_stakes_across_markets_are_cut_to_the_correlated_limit_then_refused(engine: Engine) -> None:
    """3 % of a 1,000 bankroll is 30: the AH bet after 25 on the event's 1X2 and totals is cut to 5; a fourth bet
    on the event finds no room and is refused; another event has its own 30."""
    limits = replace(ROOMY, max_correlated_exposure=Decimal("0.03"))
    placed = place_bets(engine, _markets(1), account="paper", book=PaperBook(), clock=CLOCK, limits=limits)
    assert [(r.state, r.stake, r.control) for r in placed] == [
        ("placed", Decimal("10.00"), None),
        ("placed", Decimal("15.00"), None),
        ("placed", Decimal("5.00"), "correlated_exposure"),
    ]
    assert "across its markets would be 35.00, limit 30.00" in str(placed[-1].reason)
    more = [candidate(1, market="total", selection="under", line=3.5), *_markets(2)[:1]]
    refused, other = place_bets(engine, more, account="paper", book=PaperBook(), clock=CLOCK, limits=limits)
    assert (refused.state, refused.control) == ("rejected", "correlated_exposure")
    assert (other.state, other.stake) == ("placed", Decimal("10.00"))


def test_without_the_limit_the_same_bets_are_placed_whole(engine: Engine) -> None:
    """Off by default (0): the same three bets go through at their full stakes (the limit is what cut them)."""
    assert RiskLimits().max_correlated_exposure == 0
    placed = place_bets(engine, _markets(1), account="paper", book=PaperBook(), clock=CLOCK, limits=ROOMY)
    assert [(r.state, r.stake) for r in placed] == [("placed", Decimal(s)) for s in ("10.00", "15.00", "10.00")]


def test_the_limit_scales_with_the_bankroll() -> None:
    """After a 500 loss, 3 % of the bankroll is 15: the room for one event's position shrinks with it."""
    limits = replace(ROOMY, max_correlated_exposure=Decimal("0.03"))
    state = ExposureState(settled_pnl=Decimal("-500"))
    state.add(1, "E0", Decimal("10.00"))
    verdict = assess(candidate(1, market="total", selection="over", line=2.5), state, limits)
    assert (verdict.stake, verdict.cut and verdict.cut.control) == (Decimal("5.00"), "correlated_exposure")


def test_the_limit_comes_from_configuration(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """``BETPIPE_RISK__MAX_CORRELATED_EXPOSURE`` sets it; with 2 % of 1,000 the second market of an event gets 10."""
    monkeypatch.setenv("BETPIPE_RISK__MAX_CORRELATED_EXPOSURE", "0.02")
    monkeypatch.setenv("BETPIPE_RISK__MAX_BETS_PER_EVENT", "3")
    limits = RiskLimits.from_settings(load_settings())
    assert limits.max_correlated_exposure == Decimal("0.02")
    placed = place_bets(engine, _markets(1)[:2], account="paper", book=PaperBook(), clock=CLOCK, limits=limits)
    assert [(r.stake, r.control) for r in placed] == [
        (Decimal("10.00"), None),
        (Decimal("10.00"), "correlated_exposure"),
    ]


def test_a_fraction_above_one_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BETPIPE_RISK__MAX_CORRELATED_EXPOSURE", "1.5")
    with pytest.raises(ValidationError, match="max_correlated_exposure"):
        load_settings()
