"""Placing a line-shopped decision: each candidate goes to the book its price came from.

Candidates are grouped by ``BetCandidate.book`` (groups in the order their book first appears) and each group is
placed at its own book, in the decision's order within the group, all in one ledger transaction
(``ledger.place_groups``): one lock, one read of the exposure and of any book restriction, one commit. Results come
back in candidate order. Never places a candidate at a book other than its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import Engine

from betpipe.betting.books import Book, PaperBook
from betpipe.betting.ledger import BetCandidate, PlacementResult, place_groups
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
    """Every book's candidates at that book (``book_for(name, its candidates)`` gives it), in one transaction;
    results in candidate order."""
    groups: dict[str, list[int]] = {}
    for i, candidate in enumerate(candidates):
        groups.setdefault(candidate.book, []).append(i)
    books = [
        (book_for(name, [candidates[i] for i in rows]), [candidates[i] for i in rows]) for name, rows in groups.items()
    ]
    placed = place_groups(engine, books, account=account, clock=clock, limits=limits)
    out: list[PlacementResult | None] = [None] * len(candidates)
    for rows, results in zip(groups.values(), placed, strict=True):
        for i, result in zip(rows, results, strict=True):
            out[i] = result
    return [r for r in out if r is not None]
