"""Account restriction, as soft books do it: once a book has lost ``restrict_after_clv_wins`` bets to the account by
closing-line value (settled bets with CLV > 0 for us), its maximum stake falls to ``restricted_max_stake`` and/or
``restricted_stake_fraction`` of the stake asked (``RiskLimits`` fields, set through a strategy's ``limits``).

The count is read from the ledger inside the placement transaction (``ledger.place_groups``), so the live run and the
backtest restrict a book at the same bet; ``risk.BookRestrictionControl`` then cuts the stake like any other limit,
and the cut is recorded on the bet's ``placed`` transition (rule ``book_restriction``). ``book_summary`` reads it back
per book: what was staked, and from when the book took less. Read-only here; nothing in this module writes a bet.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, func, select

from betpipe.betting.accounts import from_cents
from betpipe.betting.risk import RESTRICTION, RiskLimits
from betpipe.db import as_utc
from betpipe.db.schema_betting import bet_transitions, bets

__all__ = ["book_summary", "restricted_books"]

_WINS = (
    select(bets.c.book, func.count())
    .where(bets.c.account == bindparam("account"), bets.c.clv > 0)
    .group_by(bets.c.book)
)


def restricted_books(conn: Connection, account: str, limits: RiskLimits) -> dict[str, int]:
    """Books that have lost at least ``limits.restrict_after_clv_wins`` settled bets by CLV, with that count."""
    after = limits.restrict_after_clv_wins
    if after <= 0:
        return {}
    return {str(book): int(n) for book, n in conn.execute(_WINS, {"account": account}) if int(n) >= after}


def _restricted_at(rows: list[tuple[Any, ...]], after: int) -> datetime | None:
    """When the ``after``-th CLV win was settled: from then on the book took less."""
    wins = sorted((settled, bet_id) for bet_id, _, _, clv, settled in rows if clv is not None and clv > 0)
    return as_utc(wins[after - 1][0]) if after > 0 and len(wins) >= after else None


def book_summary(engine: Engine, account: str, limits: RiskLimits) -> list[dict[str, Any]]:
    """Per book: bets placed, stake, CLV wins, when it was restricted, and what the restriction cut or refused.

    ``stake_asked_restricted`` is what the strategy asked on the bets the restriction cut, ``stake_restricted`` what
    those bets staked: the difference is what could not really have been staked.
    """
    with engine.connect() as conn:
        rows = conn.execute(
            select(bets.c.id, bets.c.book, bets.c.stake_cents, bets.c.clv, bets.c.settled_at, bets.c.state)
            .where(bets.c.account == account)
            .order_by(bets.c.id)
        ).all()
        cuts = conn.execute(
            select(bets.c.book, bet_transitions.c.to_state, bet_transitions.c.details)
            .join(bets, bets.c.id == bet_transitions.c.bet_id)
            .where(bets.c.account == account, bet_transitions.c.to_state.in_(("placed", "rejected")))
            .order_by(bet_transitions.c.id)
        ).all()
    by_book: dict[str, list[tuple[Any, ...]]] = {}
    for bet_id, book, stake, clv, settled, state in rows:
        if state not in ("proposed", "rejected"):
            by_book.setdefault(str(book), []).append((bet_id, book, stake, clv, settled))
    restricted: dict[str, dict[str, Any]] = {}
    for book, to_state, details in cuts:
        info = details if isinstance(details, dict) else {}
        entry = restricted.setdefault(str(book), {"cut": 0, "asked": Decimal(0), "taken": Decimal(0), "refused": 0})
        cut = info.get("cut")
        if to_state == "placed" and isinstance(cut, dict) and cut.get("rule") == RESTRICTION:
            entry["cut"] += 1
            entry["asked"] += Decimal(str(cut["from"]))
            entry["taken"] += Decimal(str(cut["to"]))
        elif to_state == "rejected" and info.get("control") == RESTRICTION:
            entry["refused"] += 1
    out = []
    for book in sorted(set(by_book) | {b for b, e in restricted.items() if e["cut"] or e["refused"]}):
        placed = by_book.get(book, [])
        at = _restricted_at(placed, limits.restrict_after_clv_wins)
        entry = restricted.get(book, {"cut": 0, "asked": Decimal(0), "taken": Decimal(0), "refused": 0})
        out.append(
            {
                "book": book,
                "bets": len(placed),
                "stake": str(sum((from_cents(r[2]) for r in placed), Decimal("0.00"))),
                "clv_wins": sum(1 for r in placed if r[3] is not None and r[3] > 0),
                "restricted_at": None if at is None else at.isoformat(),
                "bets_restricted": entry["cut"],
                "stake_asked_restricted": str(entry["asked"]),
                "stake_restricted": str(entry["taken"]),
                "refused_restricted": entry["refused"],
            }
        )
    return out
