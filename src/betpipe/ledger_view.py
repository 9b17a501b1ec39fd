"""The ledger as a person reads it: each bet with its kickoff and teams, for ``betpipe bets list``.

Read-only, and deliberately light: it needs only SQLAlchemy and the schema, never ``betpipe.betting`` (which loads
numpy and polars), so listing bets starts in a fraction of a second. On a plain SQLite file it does not even need
SQLAlchemy (``sqlite_bet_lines``: importing SQLAlchemy was half of the command's CPU): the same query, written out
in SQL for the stdlib driver. Filters and money conversions are those of ``betpipe.betting.records.list_bets``;
tests/test_cli_terminal.py checks all three agree on the same store.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = ["BetLine", "bet_lines", "sqlite_bet_lines"]

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
    from sqlalchemy import select

    from betpipe.db.schema import competitions, events, teams
    from betpipe.db.schema_betting import bets, where_account_and_state

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
    query = where_account_and_state(query, account=account, state=state)
    if limit is not None:
        query = query.limit(limit)
    with engine.connect() as conn:
        return [_line(row) for row in conn.execute(query).mappings()]


_SQL = """
SELECT b.id, b.account, b.event_id, b.kickoff, b.competition, b.market, b.selection, b.line, b.price_e4,
       b.stake_cents, b.state, b.pnl_cents, b.clv, home_team.name AS home, away_team.name AS away, c.code
FROM bets AS b
LEFT OUTER JOIN events AS e ON e.id = b.event_id
LEFT OUTER JOIN teams AS home_team ON home_team.id = e.home_team_id
LEFT OUTER JOIN teams AS away_team ON away_team.id = e.away_team_id
LEFT OUTER JOIN competitions AS c ON c.id = e.competition_id
"""


def sqlite_bet_lines(
    conn: sqlite3.Connection, *, account: str | None = None, state: str | None = None, limit: int | None = 50
) -> list[BetLine]:
    """``bet_lines`` on a stdlib SQLite connection: the same rows, filters and order, without SQLAlchemy."""
    where: list[str] = []
    params: list[Any] = []
    if account is not None:
        where.append("b.account = ?")
        params.append(account)
    if state == "open":
        where.append("b.state = 'placed'")
    elif state == "settled":
        where.append("b.settled_at IS NOT NULL")
    elif state is not None:
        where.append("b.state = ?")
        params.append(state)
    sql = _SQL + (f"WHERE {' AND '.join(where)}\n" if where else "") + "ORDER BY b.id DESC"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    conn.row_factory = sqlite3.Row
    return [_line(row) for row in conn.execute(sql, params)]


def _kickoff(value: datetime | str) -> datetime:
    """Aware UTC, from SQLAlchemy's SQLite text form (naive UTC) or a driver's datetime (``bulk.as_utc``'s rule)."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _line(row: Any) -> BetLine:
    return BetLine(
        id=int(row["id"]),
        account=row["account"],
        event_id=int(row["event_id"]),
        kickoff=_kickoff(row["kickoff"]),
        competition=row["code"] or row["competition"],
        home=row["home"] or "?",
        away=row["away"] or "?",
        market=row["market"],
        selection=row["selection"],
        line=float(row["line"]),
        price=(Decimal(row["price_e4"]) / 10_000).quantize(_PRICE_PLACES),
        stake=(Decimal(row["stake_cents"]) / 100).quantize(_CENT),
        state=row["state"],
        pnl=None if row["pnl_cents"] is None else (Decimal(row["pnl_cents"]) / 100).quantize(_CENT),
        clv=row["clv"],
    )
