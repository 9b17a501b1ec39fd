"""Reading the ledger: bets as Python values (Decimal money, aware UTC instants) and their transition history.

Read-only: nothing here writes a bet or changes a state; ``ledger.place_bets`` and ``settlement.settle_bets`` do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, RowMapping, select

from betpipe.betting.accounts import PRICE_SCALE, from_cents
from betpipe.db import as_utc
from betpipe.db.schema_betting import bet_transitions, bets, where_account_and_state

__all__ = ["BetNotFoundError", "BetRecord", "Transition", "bet_record", "get_bet", "list_bets", "transitions"]


class BetNotFoundError(LookupError):
    """No bet with that id."""


@dataclass(frozen=True)
class Transition:
    from_state: str | None
    to_state: str
    at: datetime
    reason: str | None
    details: dict[str, Any] | None


@dataclass(frozen=True)
class BetRecord:
    """A ledger row as Python values: Decimal money, aware UTC instants."""

    id: int
    idempotency_key: str
    account: str
    event_id: int
    market: str
    selection: str
    line: float
    requested_price: Decimal
    price: Decimal
    stake: Decimal
    probability: float
    edge: float | None
    book: str
    book_ref: str | None
    strategy: str
    model_version: int | None
    competition: str
    kickoff: datetime
    decision_time: datetime
    state: str
    created_at: datetime
    placed_at: datetime | None
    settled_at: datetime | None
    pnl: Decimal | None
    clv: float | None
    clv_reason: str | None
    reason: str | None
    transitions: tuple[Transition, ...] = field(default=())


def _price(value: int) -> Decimal:
    return (Decimal(value) / PRICE_SCALE).quantize(Decimal("0.0001"))


def _maybe_utc(value: datetime | None) -> datetime | None:
    return None if value is None else as_utc(value)


def bet_record(row: RowMapping) -> BetRecord:
    return BetRecord(
        id=int(row["id"]),
        idempotency_key=row["idempotency_key"],
        account=row["account"],
        event_id=int(row["event_id"]),
        market=row["market"],
        selection=row["selection"],
        line=float(row["line"]),
        requested_price=_price(row["requested_price_e4"]),
        price=_price(row["price_e4"]),
        stake=from_cents(row["stake_cents"]),
        probability=float(row["probability"]),
        edge=row["edge"],
        book=row["book"],
        book_ref=row["book_ref"],
        strategy=row["strategy"],
        model_version=row["model_version"],
        competition=row["competition"],
        kickoff=as_utc(row["kickoff"]),
        decision_time=as_utc(row["decision_time"]),
        state=row["state"],
        created_at=as_utc(row["created_at"]),
        placed_at=_maybe_utc(row["placed_at"]),
        settled_at=_maybe_utc(row["settled_at"]),
        pnl=None if row["pnl_cents"] is None else from_cents(row["pnl_cents"]),
        clv=row["clv"],
        clv_reason=row["clv_reason"],
        reason=row["reason"],
    )


def _transitions(conn: Connection, bet_id: int) -> tuple[Transition, ...]:
    rows = conn.execute(
        select(bet_transitions).where(bet_transitions.c.bet_id == bet_id).order_by(bet_transitions.c.id)
    ).mappings()
    return tuple(
        Transition(row["from_state"], row["to_state"], as_utc(row["at"]), row["reason"], row["details"]) for row in rows
    )


def transitions(engine: Engine, bet_id: int) -> tuple[Transition, ...]:
    with engine.connect() as conn:
        return _transitions(conn, bet_id)


def get_bet(engine: Engine, bet_id: int) -> BetRecord:
    """One bet with its full transition history."""
    with engine.connect() as conn:
        row = conn.execute(select(bets).where(bets.c.id == bet_id)).mappings().first()
        if row is None:
            raise BetNotFoundError(f"no bet with id {bet_id}")
        record = bet_record(row)
        return BetRecord(**{**record.__dict__, "transitions": _transitions(conn, bet_id)})


def list_bets(
    engine: Engine,
    *,
    account: str | None = None,
    state: str | None = None,
    event_ids: Sequence[int] | None = None,
    limit: int | None = 50,
) -> list[BetRecord]:
    """Newest first. ``state="open"`` means placed and not yet settled; ``"settled"`` any final grade."""
    query = select(bets).order_by(bets.c.id.desc())
    query = where_account_and_state(query, account=account, state=state)
    if event_ids is not None:
        query = query.where(bets.c.event_id.in_(list(event_ids)))
    if limit is not None:
        query = query.limit(limit)
    with engine.connect() as conn:
        return [bet_record(row) for row in conn.execute(query).mappings()]
