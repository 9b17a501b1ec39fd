"""Placing a line-shopped decision in one ledger transaction (``place_at_books`` -> ``ledger.place_groups``): the
limits see every book's accepted bets in order, the rows come out as one call per book would write them, and a
book that cannot vouch for its outcome rolls back the whole step, which a rerun then places exactly once."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from betpipe.backtest.simulate import ledger_engine
from betpipe.betting import PaperBook, RiskLimits, place_bets
from betpipe.betting.books import Book
from betpipe.betting.ledger import BetCandidate
from betpipe.betting.placing import place_at_books
from betpipe.clock import SimulatedClock
from betpipe.db.schema_betting import bet_transitions, bets
from fakes.betting import DECIDED, CrashAfterFill, candidate

# Room for three bets of 10.00 in all: the fourth candidate, whichever book it goes to, is cut or refused.
LIMITS = RiskLimits(max_open_exposure=Decimal("25.00"), max_competition_exposure=Decimal("1000.00"))


def _clock() -> SimulatedClock:
    return SimulatedClock(DECIDED + timedelta(minutes=1))


def _batch() -> list[BetCandidate]:
    books = ("bet365", "vcbet", "bet365", "williamhill", "vcbet")
    return [candidate(event_id=i + 1, book=book) for i, book in enumerate(books)]


def _rows(engine: Engine) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    with engine.connect() as conn:
        placed = conn.execute(
            select(bets.c.id, bets.c.event_id, bets.c.book, bets.c.state, bets.c.stake_cents, bets.c.reason).order_by(
                bets.c.id
            )
        ).all()
        steps = conn.execute(
            select(
                bet_transitions.c.id,
                bet_transitions.c.bet_id,
                bet_transitions.c.from_state,
                bet_transitions.c.to_state,
                bet_transitions.c.reason,
                bet_transitions.c.details,
            ).order_by(bet_transitions.c.id)
        ).all()
    return [tuple(r) for r in placed], [tuple(r) for r in steps]


def test_one_transaction_for_every_book_writes_what_one_call_per_book_would(tmp_path: Path) -> None:
    together, apart = ledger_engine(tmp_path / "together.sqlite"), ledger_engine(tmp_path / "apart.sqlite")
    batch = _batch()
    results = place_at_books(
        together, batch, account="paper", clock=_clock(), limits=LIMITS, book_for=lambda name, _: PaperBook(name=name)
    )
    # The reference: the same groups (books in order of first appearance) placed one call per book.
    by_book: dict[str, list[BetCandidate]] = {}
    for c in batch:
        by_book.setdefault(c.book, []).append(c)
    for name, group in by_book.items():
        place_bets(apart, group, account="paper", book=PaperBook(name=name), clock=_clock(), limits=LIMITS)
    assert _rows(together) == _rows(apart)
    # Results come back in candidate order, with the ids the rows got; the limit saw all books' bets.
    # bet365's two bets first (ids 1, 2: open 20.00), then vcbet's (event 2 cut to the 5.00 left, event 5 refused),
    # then williamhill's (refused): results come back in candidate order, with the ids the rows got.
    assert [r.bet_id for r in results] == [1, 3, 2, 5, 4]
    assert [r.state for r in results] == ["placed", "placed", "placed", "rejected", "rejected"]
    assert [r.stake for r in results[:3]] == [Decimal("10.00"), Decimal("5.00"), Decimal("10.00")]
    assert [r.control for r in results] == [None, "open_exposure", None, "open_exposure", "open_exposure"]


def test_a_book_failing_mid_step_rolls_back_every_book_and_the_rerun_places_each_bet_once(engine: Engine) -> None:
    exchange = PaperBook(name="vcbet")
    batch = [candidate(event_id=1, book="bet365"), candidate(event_id=2, book="vcbet")]

    def crashing(name: str, _: list[BetCandidate]) -> Book:
        return CrashAfterFill(exchange) if name == "vcbet" else PaperBook(name=name)

    with pytest.raises(ConnectionError):
        place_at_books(engine, batch, account="paper", clock=_clock(), limits=LIMITS, book_for=crashing)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(bets)).scalar_one() == 0  # bet365's bet rolled back too
    assert len(exchange.orders) == 1  # ... though vcbet filled

    def healthy(name: str, _: list[BetCandidate]) -> Book:
        return exchange if name == "vcbet" else PaperBook(name=name)

    rerun = place_at_books(engine, batch, account="paper", clock=_clock(), limits=LIMITS, book_for=healthy)
    assert [(r.state, r.duplicate) for r in rerun] == [("placed", False), ("placed", False)]
    assert len(exchange.orders) == 1  # the rerun got vcbet's first fill back, not a second order
    again = place_at_books(engine, batch, account="paper", clock=_clock(), limits=LIMITS, book_for=healthy)
    assert [r.duplicate for r in again] == [True, True]
    assert [r.bet_id for r in again] == [r.bet_id for r in rerun]
