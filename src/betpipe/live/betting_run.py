"""The live betting run: ``opportunities`` decided now, then placed through the ledger (or, on a dry run, checked
against the same risk controls without writing).

Only the clock and the book differ from the backtest. Must never write to the ledger on a dry run, and never place a
candidate twice (every bet is keyed by its decision: a rerun finds it already recorded).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from betpipe.betting.books import Book, PaperBook
from betpipe.betting.ledger import BetCandidate, PlacementResult, place_bets
from betpipe.betting.placing import place_at_books
from betpipe.betting.strategy import quotes_of
from betpipe.clock import Clock
from betpipe.config import Settings
from betpipe.live.opportunities import Opportunities, dry_run_checks, live_limits, live_strategy_spec, opportunities

__all__ = ["BettingRun", "betting_run"]


@dataclass(frozen=True)
class BettingRun:
    """What one run decided and what the ledger (or, dry, the risk controls) said about each candidate."""

    opportunities: Opportunities
    placements: list[PlacementResult]  # empty on a dry run
    checks: list[str | None]  # dry run: why each candidate would be rejected (None: it would be placed)
    dry_run: bool

    @property
    def placed(self) -> int:
        return sum(1 for r in self.placements if r.placed and not r.duplicate)


def betting_run(
    engine: Engine,
    settings: Settings,
    clock: Clock,
    *,
    competition: str | None = None,
    dry_run: bool = False,
    book: Book | None = None,
) -> BettingRun:
    """One live betting run: decide, then place through the ledger (a rerun places nothing twice)."""
    found = opportunities(engine, settings, clock, competition=competition)
    candidates = found.decision.candidates
    limits = live_limits(live_strategy_spec(settings, engine), settings)
    account = settings.pipeline.account
    if dry_run or not candidates:
        checks = dry_run_checks(engine, candidates, account=account, limits=limits, clock=clock) if candidates else []
        return BettingRun(found, [], checks, dry_run)
    if book is not None:  # one given book takes every candidate (a caller's own book, e.g. a test's)
        placements = place_bets(engine, candidates, account=account, book=book, clock=clock, limits=limits)
    else:  # each candidate at the book its price came from, on paper at the decided price

        def paper(name: str, group: list[BetCandidate]) -> Book:
            return PaperBook(name=name, prices=quotes_of(group))

        placements = place_at_books(engine, candidates, account=account, clock=clock, limits=limits, book_for=paper)
    return BettingRun(found, placements, [], False)
