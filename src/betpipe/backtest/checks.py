"""What a backtest is checked against before it runs, and what it says when it placed no bet.

Before: every competition, season range and book a spec names must exist in the store, and the book must have a
pre-match price there, or the run is refused before a worker starts or a file is written (a typo otherwise ran to an
empty report, and on PostgreSQL ended in an ``IN ()`` syntax error). After: a run with no bet says whether it looked
at prices and found no edge (an answer) or could not price anything at all (a state to fix).

Read-only; SQLAlchemy Core throughout, so an empty list never becomes invalid SQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Engine, func, select

from betpipe.backtest.spec import BacktestSpec
from betpipe.db.schema import bookmakers, competitions, events, odds_snapshots, seasons
from betpipe.features.prematch import PREMATCH_KINDS
from betpipe.sports import sport_rules

__all__ = ["BacktestInputError", "NothingToBetError", "check_inputs", "why_no_bets"]


class BacktestInputError(ValueError):
    """The spec names a competition, season range or book the store does not have: bad usage, nothing ran."""


class NothingToBetError(LookupError):
    """The store has the events but no price anyone could bet at (e.g. only consensus closing lines): nothing ran."""


def _span(names: Iterable[str]) -> str:
    ordered = sorted(names)
    return f"{ordered[0]}..{ordered[-1]}" if ordered else "none"


def _check_one(spec: BacktestSpec, engine: Engine) -> None:
    wanted = list(spec.competitions)
    market = sport_rules(spec.sport).prediction_market
    in_scope = (
        events.join(competitions, competitions.c.id == events.c.competition_id).join(
            seasons, seasons.c.id == events.c.season_id
        )
    )  # fmt: skip
    with engine.connect() as conn:
        known = set(conn.execute(select(competitions.c.code).where(competitions.c.sport == spec.sport)).scalars())
        missing = [c for c in wanted if c not in known]
        if missing:
            raise BacktestInputError(
                f"unknown competition {missing[0]!r} for {spec.sport}; known: {', '.join(sorted(known)) or 'none'}"
            )
        books = {str(k): bool(a) for k, a in conn.execute(select(bookmakers.c.key, bookmakers.c.is_aggregate))}
        named = [("--book", b) for b in spec.books] + [("--sharp-book", spec.sharp_book)]
        for option, key in named:
            if key not in books:
                executable = ", ".join(sorted(k for k, a in books.items() if not a)) or "none"
                raise BacktestInputError(f"{option}: unknown book {key!r}; books in the store: {executable}")
            if books[key]:
                raise BacktestInputError(
                    f"{option}: {key!r} is an aggregate (max/average/consensus), not a price anyone can take"
                )
        season_rows = conn.execute(
            select(competitions.c.code, seasons.c.name)
            .select_from(in_scope)
            .where(competitions.c.code.in_(wanted), events.c.sport == spec.sport)
            .group_by(competitions.c.code, seasons.c.name)
        ).all()
        for code in wanted:
            stored = [str(name) for c, name in season_rows if c == code]
            if not any(spec.first_season <= name <= spec.last_season for name in stored):
                raise BacktestInputError(
                    f"no {code} events in seasons {spec.first_season}..{spec.last_season} (stored: {_span(stored)})"
                )
        kinds = conn.execute(
            select(bookmakers.c.key, odds_snapshots.c.kind, func.count())
            .select_from(
                odds_snapshots.join(bookmakers, bookmakers.c.id == odds_snapshots.c.bookmaker_id).join(
                    in_scope, events.c.id == odds_snapshots.c.event_id
                )
            )
            .where(
                competitions.c.code.in_(wanted),
                seasons.c.name.between(spec.first_season, spec.last_season),
                odds_snapshots.c.market == market,
            )
            .group_by(bookmakers.c.key, odds_snapshots.c.kind)
        ).all()
    if not any(book in spec.books and kind in PREMATCH_KINDS for book, kind, _ in kinds):
        there = ", ".join(sorted({f"{book} {kind}" for book, kind, _ in kinds})) or "none"
        raise NothingToBetError(
            f"cannot bet: {spec.book_label} has no pre-match {market} price for {', '.join(wanted)} in "
            f"{spec.first_season}..{spec.last_season} (prices there: {there}; closing and aggregate prices are "
            "never bet): choose another --book"
        )


def check_inputs(specs: Sequence[BacktestSpec], engine: Engine) -> None:
    """Raise ``BacktestInputError`` or ``NothingToBetError`` for the first spec the store cannot run."""
    seen: set[tuple[Any, ...]] = set()
    for spec in specs:
        key = (spec.sport, spec.competitions, spec.first_season, spec.last_season, spec.books, spec.sharp_book)
        if key not in seen:
            seen.add(key)
            _check_one(spec, engine)


def why_no_bets(results: Sequence[dict[str, Any]]) -> tuple[str, bool] | None:
    """None when the runs placed or proposed a bet; else (reason, could it bet at all).

    A selection turned down by sizing was priced and judged: "no edge" is an answer. When every event was left out
    before sizing (no price in time, no sharp close, no model), the run never priced anything: it could not bet.
    """
    if any(r["bets"] for r in results):
        return None
    no_bet: dict[str, int] = {}
    for result in results:
        for reason, n in result["no_bet"].items():
            no_bet[reason] = no_bet.get(reason, 0) + int(n)
    top = "; ".join(f"{n} x {reason}" for reason, n in sorted(no_bet.items(), key=lambda item: (-item[1], item[0])))
    if any(reason.startswith("sizing:") for reason in no_bet):
        return f"no bets: no selection had an edge worth a stake ({top})", True
    return f"cannot bet: no event could be priced ({top or 'no event in range'})", False
