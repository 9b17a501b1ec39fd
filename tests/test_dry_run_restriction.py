"""The live dry run answers as placing would for a restricted book (issue 15 item 2): ``dry_run_checks`` reads the
book restriction from the ledger as ``place_at_books`` does, and says per restricted book what it would cut, so
the dry run shows what could really be staked; the real placement then takes exactly those stakes."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import Engine

from betpipe.betting import EventResult, RiskLimits, settle_bets
from betpipe.betting.ledger import BetCandidate
from betpipe.betting.placing import paper_books, place_at_books
from betpipe.clock import SimulatedClock
from betpipe.live.opportunities import DryRunChecks, dry_run_checks
from fakes.betting import DECIDED, KICKOFF, candidate

LIMITS = RiskLimits(
    max_open_exposure=Decimal("1000.00"),
    max_competition_exposure=Decimal("1000.00"),
    restrict_after_clv_wins=2,
    restricted_max_stake=Decimal("2.50"),
)


def _bet365_lost_two_by_clv(engine: Engine, limits: RiskLimits) -> SimulatedClock:
    """bet365 loses two bets by CLV (fair close 0.6 x 2.10 > 1), vcbet one: bet365 alone is restricted at N = 2."""
    clock = SimulatedClock(DECIDED + timedelta(minutes=1))
    first = [candidate(e, book=b, competition=f"C{e}") for e, b in ((1, "bet365"), (2, "bet365"), (3, "vcbet"))]
    place_at_books(engine, first, account="paper", clock=clock, limits=limits, book_for=paper_books())
    clock.advance_to(KICKOFF + timedelta(hours=3))
    closing = {(e, "1x2", "home", 0.0): 0.6 for e in (1, 2, 3)}
    results = {e: EventResult("finished", 1, 0) for e in (1, 2, 3)}
    settle_bets(engine, account="paper", results=results, closing=closing, clock=clock)
    return clock


def _later(event_id: int, book: str, stake: str = "10.00") -> BetCandidate:
    later = replace(candidate(event_id, book=book, competition=f"C{event_id}"), stake=Decimal(stake))
    return replace(later, decision_time=KICKOFF + timedelta(days=1), kickoff=KICKOFF + timedelta(days=2))


def test_the_dry_run_cuts_a_restricted_books_stakes_as_placing_does_and_says_so_per_book(engine: Engine) -> None:
    clock = _bet365_lost_two_by_clv(engine, LIMITS)
    clock.advance_to(KICKOFF + timedelta(days=1, minutes=1))
    later = [_later(5, "bet365"), _later(6, "bet365", "4.00"), _later(7, "vcbet")]
    checks = dry_run_checks(engine, later, account="paper", limits=LIMITS, clock=clock)
    assert isinstance(checks, DryRunChecks)
    assert checks == [None, None, None]  # cut, not refused: every candidate would be placed
    assert checks.restricted == [
        {
            "book": "bet365",
            "clv_wins": 2,
            "bets_cut": 2,
            "stake_asked": "14.00",
            "stake_allowed": "5.00",
            "stake_cut": "9.00",
            "refused": 0,
        }
    ]
    placed = place_at_books(engine, later, account="paper", clock=clock, limits=LIMITS, book_for=paper_books())
    assert [(r.state, r.stake, r.control) for r in placed] == [
        ("placed", Decimal("2.50"), "book_restriction"),
        ("placed", Decimal("2.50"), "book_restriction"),
        ("placed", Decimal("10.00"), None),
    ]


def test_a_restricted_cap_below_the_minimum_stake_is_a_refusal_counted_per_book(engine: Engine) -> None:
    limits = replace(LIMITS, restricted_max_stake=Decimal(0), restricted_stake_fraction=Decimal("0.05"))
    limits = replace(limits, min_stake=Decimal("1.00"))  # 5 % of 10.00 is 0.50: below the minimum, refused
    clock = _bet365_lost_two_by_clv(engine, limits)
    clock.advance_to(KICKOFF + timedelta(days=1, minutes=1))
    checks = dry_run_checks(engine, [_later(5, "bet365")], account="paper", limits=limits, clock=clock)
    assert str(checks[0]).startswith("book_restriction")
    assert checks.restricted[0]["refused"] == 1
    assert checks.restricted[0]["bets_cut"] == 0


def test_without_restriction_the_dry_run_has_no_restricted_book(engine: Engine) -> None:
    off = replace(LIMITS, restrict_after_clv_wins=0)
    clock = _bet365_lost_two_by_clv(engine, off)
    clock.advance_to(KICKOFF + timedelta(days=1, minutes=1))
    checks = dry_run_checks(engine, [_later(5, "bet365")], account="paper", limits=off, clock=clock)
    assert checks == [None]
    assert checks.restricted == []
