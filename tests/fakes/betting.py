"""Test doubles for the money path: a candidate factory and books that fail at chosen moments."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from betpipe.betting.books import BookOrder, BookReply, PaperBook
from betpipe.betting.ledger import BetCandidate
from betpipe.betting.risk import RiskLimits

KICKOFF = datetime(2024, 3, 2, 15, 0, tzinfo=UTC)
DECIDED = KICKOFF - timedelta(hours=20)


def candidate(event_id: int = 1, **changes: Any) -> BetCandidate:
    """A valid 1X2 home bet of 10.00 at 2.10; override any field."""
    base = BetCandidate(
        event_id=event_id,
        market="1x2",
        selection="home",
        line=0.0,
        price=Decimal("2.10"),
        probability=0.52,
        stake=Decimal("10.00"),
        book="paper",
        strategy="test",
        model_version=1,
        decision_time=DECIDED,
        competition="E0",
        kickoff=KICKOFF,
    )
    return replace(base, **changes)


class CrashAfterFill:
    """The book fills, then the process 'dies' before the ledger commits: the fill exists only at the book."""

    def __init__(self, inner: PaperBook) -> None:
        self.inner = inner
        self.name = inner.name

    def quote(self, event_id: int, market: str, selection: str, line: float) -> Decimal | None:
        return self.inner.quote(event_id, market, selection, line)

    def place(self, order: BookOrder) -> BookReply:
        self.inner.place(order)
        raise ConnectionError("killed after the book filled, before the ledger committed")

    def cancel(self, client_ref: str) -> BookReply:
        return self.inner.cancel(client_ref)

    def status(self, client_ref: str) -> BookReply | None:
        return self.inner.status(client_ref)


class CountingBook(PaperBook):
    """A paper book that counts how often it was asked to place."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.calls = 0

    def place(self, order: BookOrder) -> BookReply:
        self.calls += 1
        return super().place(order)


# Limits no test of a single rule should hit by accident: each such test tightens only the limit it exercises.
ROOMY = RiskLimits(
    max_stake=Decimal("100.00"),
    max_open_exposure=Decimal("10000.00"),
    max_event_exposure=Decimal("10000.00"),
    max_competition_exposure=Decimal("10000.00"),
    max_bets_per_day=1000,
    max_bets_per_event=1000,
    bankroll_floor=Decimal("0.00"),
)
