"""Placing a line-shopped decision: each candidate goes to the book its price came from.

The ledger places through one ``Book`` per call (it records that book's reply), so candidates are grouped by
``BetCandidate.book`` and each group is placed at its own book, in the decision's order within the group. Results
come back in candidate order. Never places a candidate at a book other than its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import Engine

from betpipe.betting.books import Book, PaperBook
from betpipe.betting.ledger import BetCandidate, PlacementResult, place_bets
from betpipe.betting.risk import RiskLimits
from betpipe.betting.strategy import quotes_of
from betpipe.clock import Clock

__all__ = ["paper_books", "place_at_books"]


def paper_books(seed: int = 0) -> Callable[[str, list[BetCandidate]], Book]:
    """A factory of paper books quoting each candidate's decided price (the backtest's and the dry demo's books)."""

    def make(name: str, group: list[BetCandidate]) -> Book:
        return PaperBook(name=name, prices=quotes_of(group), seed=seed)

    return make


def place_at_books(
    engine: Engine,
    candidates: Sequence[BetCandidate],
    *,
    account: str,
    clock: Clock,
    limits: RiskLimits,
    book_for: Callable[[str, list[BetCandidate]], Book],
) -> list[PlacementResult]:
    """``place_bets`` per book (``book_for(name, its candidates)`` gives the book); results in candidate order."""
    groups: dict[str, list[int]] = {}
    for i, candidate in enumerate(candidates):
        groups.setdefault(candidate.book, []).append(i)
    out: list[PlacementResult | None] = [None] * len(candidates)
    for name, rows in groups.items():
        group = [candidates[i] for i in rows]
        placed = place_bets(engine, group, account=account, book=book_for(name, group), clock=clock, limits=limits)
        for i, result in zip(rows, placed, strict=True):
            out[i] = result
    return [r for r in out if r is not None]
