"""The ledger as a person reads it: each bet with its kickoff and teams, for ``betpipe bets list``.

Read-only, and deliberately light: it needs only SQLAlchemy and the schema, never ``betpipe.betting`` (which loads
numpy and polars), so listing bets starts in a fraction of a second. Filters and money conversions are those of
``betpipe.betting.records.list_bets``; tests/test_cli_terminal.py checks both agree on the same store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import select

from betpipe.db.bulk import as_utc
from betpipe.db.schema import competitions, events, teams
from betpipe.db.schema_betting import bets

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = ["BetLine", "bet_lines"]

_PRICE_PLACES = Decimal("0.0001")  # prices are stored in ten-thousandths (betting.accounts.PRICE_SCALE)
_CENT = Decimal("0.01")  # money in integer cents (betting.accounts.from_cents)


@dataclass(frozen=True)
class BetLine:
    """One ledger row with the event it is on: Decimal money, aware UTC kickoff."""

    id: int
    account: str
    event_id: int
    kickoff: datetime
    competition: str
    home: str
    away: str
    market: str
    selection: str
    line: float
    price: Decimal
    stake: Decimal
    state: str
    pnl: Decimal | None
    clv: float | None


def bet_lines(
    engine: Engine, *, account: str | None = None, state: str | None = None, limit: int | None = 50
) -> list[BetLine]:
    """Newest first. ``state="open"`` means placed and not yet settled; ``"settled"`` any final grade."""
    home, away = teams.alias("home_team"), teams.alias("away_team")
    query = (
        select(
            bets.c.id, bets.c.account, bets.c.event_id, bets.c.kickoff, bets.c.competition, bets.c.market,
            bets.c.selection, bets.c.line, bets.c.price_e4, bets.c.stake_cents, bets.c.state, bets.c.pnl_cents,
            bets.c.clv, home.c.name.label("home"), away.c.name.label("away"), competitions.c.code,
        )
        .select_from(bets)
        .outerjoin(events, events.c.id == bets.c.event_id)
        .outerjoin(home, home.c.id == events.c.home_team_id)
        .outerjoin(away, away.c.id == events.c.away_team_id)
        .outerjoin(competitions, competitions.c.id == events.c.competition_id)
        .order_by(bets.c.id.desc())
    )  # fmt: skip
    if account is not None:
        query = query.where(bets.c.account == account)
    if state == "open":
        query = query.where(bets.c.state == "placed")
    elif state == "settled":
        query = query.where(bets.c.settled_at.is_not(None))
    elif state is not None:
        query = query.where(bets.c.state == state)
    if limit is not None:
        query = query.limit(limit)
    with engine.connect() as conn:
        return [
            BetLine(
                id=int(row.id),
                account=row.account,
                event_id=int(row.event_id),
                kickoff=as_utc(row.kickoff),
                competition=row.code or row.competition,
                home=row.home or "?",
                away=row.away or "?",
                market=row.market,
                selection=row.selection,
                line=float(row.line),
                price=(Decimal(row.price_e4) / 10_000).quantize(_PRICE_PLACES),
                stake=(Decimal(row.stake_cents) / 100).quantize(_CENT),
                state=row.state,
                pnl=None if row.pnl_cents is None else (Decimal(row.pnl_cents) / 100).quantize(_CENT),
                clv=row.clv,
            )
            for row in conn.execute(query)
        ]
