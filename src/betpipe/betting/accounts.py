"""An account's persisted risk state: the per-account lock, the kill switch, exposure and bankroll from the ledger.

Every write to an account's bets (placing, settling, halting) goes through ``account_transaction``, which serialises
writers per account: PostgreSQL locks the account's ``risk_state`` row (``SELECT .. FOR UPDATE``), SQLite takes the
database write lock up front (``BEGIN IMMEDIATE``). Exposure read inside that transaction is therefore the truth the
controls may spend. The halt lives in the database, never in memory, so it survives restarts; only ``resume_account``
lifts it, and both leave an audit row. Nothing here calls ``datetime.now()``: the caller's clock dates everything.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import Connection, Engine, bindparam, case, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from betpipe.betting.risk import ExposureState, RiskLimits
from betpipe.clock import Clock, as_utc_instant
from betpipe.db import as_utc
from betpipe.db.schema_betting import bets, risk_events, risk_state

__all__ = [
    "MAX_PAYOUT",
    "MAX_PRICE",
    "MAX_STAKE",
    "PRICE_STEP",
    "AccountStatus",
    "NotHaltedError",
    "RiskEvent",
    "account_status",
    "account_transaction",
    "cents",
    "from_cents",
    "halt_account",
    "load_exposure",
    "resume_account",
]

CENT = Decimal("0.01")
PRICE_SCALE = Decimal(10_000)  # prices are stored in ten-thousandths
PRICE_STEP = Decimal("0.0001")  # ... so a price with more places cannot be recorded, nor paid, exactly
# Sanity bounds of the ledger, whatever path or book adapter a bet comes through (the limits in ``RiskLimits`` are
# configuration and may be lifted; these are not). MAX_PRICE is ingest's cap on a decimal price (docs/faults.md).
MAX_PRICE = Decimal(1000)
MAX_STAKE = Decimal("1000000.00")
MAX_PAYOUT = Decimal("10000000.00")  # stake x price: what a winning bet returns


class NotHaltedError(RuntimeError):
    """``risk resume`` on an account that is not halted: nothing to lift."""


def cents(amount: Decimal) -> int:
    """Decimal money to integer minor units; more than two decimals is a caller bug, not something to round away."""
    scaled = amount * 100
    if scaled != scaled.to_integral_value():
        raise ValueError(f"amount {amount} has more than two decimals")
    return int(scaled)


def from_cents(value: int | None) -> Decimal:
    return (Decimal(value or 0) / 100).quantize(CENT)


@dataclass(frozen=True)
class RiskRow:
    account: str
    halted: bool
    halted_reason: str | None
    halted_at: datetime | None


# Statements built once and executed with parameters: the backtest takes an account's lock and reads its exposure
# at every decision step, and building a statement costs more than running it on a small ledger.
_ROW_VALUES = {"account": bindparam("account"), "halted": False, "updated_at": bindparam("now")}
_ENSURE_ROW = {
    "postgresql": postgresql.insert(risk_state).values(_ROW_VALUES).on_conflict_do_nothing(index_elements=["account"]),
    "sqlite": sqlite.insert(risk_state).values(_ROW_VALUES).on_conflict_do_nothing(index_elements=["account"]),
}
_READ_ROW = select(risk_state).where(risk_state.c.account == bindparam("account"))
_READ_ROW_LOCKED = _READ_ROW.with_for_update()


def _ensure_row(conn: Connection, account: str, now: datetime) -> None:
    statement = _ENSURE_ROW.get(conn.dialect.name)
    if statement is not None:
        conn.execute(statement, {"account": account, "now": now})
    elif conn.execute(_READ_ROW, {"account": account}).first() is None:
        conn.execute(risk_state.insert().values(account=account, halted=False, updated_at=now))


def _read_row(conn: Connection, account: str, *, for_update: bool) -> RiskRow:
    query = _READ_ROW_LOCKED if for_update and conn.dialect.name == "postgresql" else _READ_ROW
    row = conn.execute(query, {"account": account}).mappings().first()
    if row is None:
        return RiskRow(account, False, None, None)
    halted_at = row["halted_at"]
    return RiskRow(account, bool(row["halted"]), row["halted_reason"], as_utc(halted_at) if halted_at else None)


@contextmanager
def account_transaction(engine: Engine, account: str, clock: Clock) -> Iterator[tuple[Connection, RiskRow]]:
    """One transaction holding ``account``'s risk lock; committed on success, rolled back on any error."""
    now = as_utc_instant(clock.now())
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            _ensure_row(conn, account, now)
            row = _read_row(conn, account, for_update=True)
            yield conn, row
        except BaseException:
            conn.rollback()
            raise
        conn.commit()


def _day_bounds(now: datetime) -> tuple[datetime, datetime]:
    start = as_utc_instant(now).replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)


_MINE = bets.c.account == bindparam("account")
_TODAY_SETTLED = (bets.c.settled_at >= bindparam("start")) & (bets.c.settled_at < bindparam("end"))
_TODAY_PLACED = (bets.c.placed_at >= bindparam("start")) & (bets.c.placed_at < bindparam("end"))
_TOTALS = select(
    func.coalesce(func.sum(bets.c.pnl_cents), 0),
    func.coalesce(func.sum(case((_TODAY_SETTLED, bets.c.pnl_cents))), 0),
    func.count(case((_TODAY_PLACED, 1))),
).where(_MINE)
_OPEN = select(bets.c.event_id, bets.c.competition, bets.c.stake_cents).where(_MINE, bets.c.state == "placed")


def load_exposure(conn: Connection, row: RiskRow, now: datetime) -> ExposureState:
    """The account's position as the ledger records it; sums are over integer cents, so they are exact.

    One pass over the account's bets for the settled P&L, today's settled P&L and today's placements, and one read
    of the open bets: this runs at every placement, inside the lock."""
    start, end = _day_bounds(now)
    params = {"account": row.account, "start": start, "end": end}
    settled, today_pnl, bets_today = conn.execute(_TOTALS, params).one()
    state = ExposureState(
        halted=row.halted,
        halted_reason=row.halted_reason,
        settled_pnl=from_cents(int(settled)),
        loss_today=max(Decimal(0), -from_cents(int(today_pnl))),
    )
    for event_id, competition, stake in conn.execute(_OPEN, params):
        state.add(int(event_id), competition, from_cents(stake))
    state.bets_today = int(bets_today)
    return state


@dataclass(frozen=True)
class RiskEvent:
    action: str
    reason: str
    actor: str
    at: datetime


@dataclass(frozen=True)
class AccountStatus:
    """What ``betpipe risk status`` and ``betpipe bankroll`` show."""

    account: str
    halted: bool
    halted_reason: str | None
    halted_at: datetime | None
    starting_bankroll: Decimal
    settled_pnl: Decimal
    open_exposure: Decimal
    open_bets: int
    loss_today: Decimal
    bets_today: int
    events: tuple[RiskEvent, ...]

    @property
    def bankroll(self) -> Decimal:
        """Starting bankroll plus settled P&L; open stakes are still the account's until they lose."""
        return self.starting_bankroll + self.settled_pnl

    @property
    def available(self) -> Decimal:
        return self.bankroll - self.open_exposure


def account_status(engine: Engine, account: str, *, limits: RiskLimits, clock: Clock, events: int = 5) -> AccountStatus:
    """Read-only: takes no lock, so it may be a moment behind a concurrent placement."""
    now = as_utc_instant(clock.now())
    with engine.connect() as conn:
        row = _read_row(conn, account, for_update=False)
        state = load_exposure(conn, row, now)
        history = conn.execute(
            select(risk_events.c.action, risk_events.c.reason, risk_events.c.actor, risk_events.c.at)
            .where(risk_events.c.account == account)
            .order_by(risk_events.c.id.desc())
            .limit(events)
        ).all()
    return AccountStatus(
        account=account,
        halted=row.halted,
        halted_reason=row.halted_reason,
        halted_at=row.halted_at,
        starting_bankroll=limits.starting_bankroll,
        settled_pnl=state.settled_pnl,
        open_exposure=state.open_exposure,
        open_bets=sum(state.event_bets.values()),
        loss_today=state.loss_today,
        bets_today=state.bets_today,
        events=tuple(RiskEvent(action, reason, actor, as_utc(at)) for action, reason, actor, at in history),
    )


def _audit(conn: Connection, account: str, action: str, reason: str, actor: str, now: datetime) -> None:
    conn.execute(risk_events.insert().values(account=account, action=action, reason=reason, actor=actor, at=now))


def halt_account(engine: Engine, account: str, *, reason: str, actor: str, clock: Clock) -> None:
    """Trip the kill switch. Halting a halted account keeps the first halt time and records the new reason."""
    if not reason.strip():
        raise ValueError("a halt needs a reason")
    now = as_utc_instant(clock.now())
    with account_transaction(engine, account, clock) as (conn, row):
        conn.execute(
            update(risk_state)
            .where(risk_state.c.account == account)
            .values(halted=True, halted_reason=reason, halted_at=row.halted_at or now, updated_at=now)
        )
        _audit(conn, account, "halt", reason, actor, now)


def resume_account(engine: Engine, account: str, *, reason: str, actor: str, clock: Clock) -> None:
    """Lift the kill switch: the only way to, and always with a stated reason in the audit trail."""
    if not reason.strip():
        raise ValueError("a resume needs a reason")
    now = as_utc_instant(clock.now())
    with account_transaction(engine, account, clock) as (conn, row):
        if not row.halted:
            raise NotHaltedError(f"account {account!r} is not halted: nothing to resume")
        conn.execute(
            update(risk_state)
            .where(risk_state.c.account == account)
            .values(halted=False, halted_reason=None, halted_at=None, updated_at=now)
        )
        _audit(conn, account, "resume", reason, actor, now)
