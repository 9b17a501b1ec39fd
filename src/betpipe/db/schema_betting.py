"""Tables of the betting ledger: bets, every state change of a bet, the persisted risk state and its audit trail.

Registered on ``betpipe.db.schema.metadata`` (imported at the bottom of ``schema``) so Alembic sees one schema.
Every row is scoped by ``account`` ("paper" live, "backtest:<run id>" for a backtest), so a backtest can share the
database with the live ledger or keep its own SQLite file. Money is stored exactly as integers: stakes and P&L in
minor units of the account currency (cents), prices in ten-thousandths; never as floats. ``bets.event_id`` has
deliberately no foreign key to ``events``: a backtest ledger may live in a file that holds no events at all.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import JSON, BigInteger, Boolean, Column, Float, ForeignKey, Index, Integer, String, Table, Text
from sqlalchemy.sql import Select

from betpipe.db.schema import Id, UtcDateTime, metadata

SelectT = TypeVar("SelectT", bound=Select[Any])

BET_STATES = ("proposed", "rejected", "placed", "won", "lost", "void", "half_won", "half_lost")

bets = Table(
    "bets",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("idempotency_key", String(64), nullable=False, unique=True),
    Column("account", String(100), nullable=False),
    Column("event_id", BigInteger, nullable=False),  # no FK: see the module docstring
    Column("market", String(16), nullable=False),
    Column("selection", String(16), nullable=False),
    Column("line", Float, nullable=False),
    Column("requested_price_e4", BigInteger, nullable=False),  # the price the strategy decided at
    Column("price_e4", BigInteger, nullable=False),  # the price taken (after the book's slippage)
    Column("stake_cents", BigInteger, nullable=False),
    Column("probability", Float, nullable=False),
    Column("edge", Float, nullable=True),
    Column("book", String(64), nullable=False),
    Column("book_ref", String(200), nullable=True),
    Column("strategy", String(100), nullable=False),
    Column("model_version", Integer, nullable=True),
    Column("competition", String(64), nullable=False),
    Column("kickoff", UtcDateTime, nullable=False),
    Column("decision_time", UtcDateTime, nullable=False),
    Column("state", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("placed_at", UtcDateTime, nullable=True),
    Column("settled_at", UtcDateTime, nullable=True),
    Column("pnl_cents", BigInteger, nullable=True),
    Column("clv", Float, nullable=True),
    Column("clv_reason", Text, nullable=True),
    Column("reason", Text, nullable=True),
)
Index("ix_bets_account_state", bets.c.account, bets.c.state)
Index("ix_bets_account_event", bets.c.account, bets.c.event_id)
Index("ix_bets_account_placed_at", bets.c.account, bets.c.placed_at)
Index("ix_bets_account_settled_at", bets.c.account, bets.c.settled_at)

bet_transitions = Table(
    "bet_transitions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("bet_id", Id, ForeignKey("bets.id"), nullable=False),
    Column("from_state", String(16), nullable=True),  # NULL for the first state (proposed)
    Column("to_state", String(16), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("reason", Text, nullable=True),
    Column("details", JSON, nullable=True),
)
Index("ix_bet_transitions_bet_id", bet_transitions.c.bet_id)

risk_state = Table(
    "risk_state",
    metadata,
    # One row per account: the row every placement and settlement locks, and where the kill switch lives.
    Column("account", String(100), primary_key=True),
    Column("halted", Boolean, nullable=False),
    Column("halted_reason", Text, nullable=True),
    Column("halted_at", UtcDateTime, nullable=True),
    Column("updated_at", UtcDateTime, nullable=False),
)

risk_events = Table(
    "risk_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("account", String(100), nullable=False),
    Column("action", String(16), nullable=False),  # halt | resume
    Column("reason", Text, nullable=False),
    Column("actor", String(100), nullable=False),
    Column("at", UtcDateTime, nullable=False),
)
Index("ix_risk_events_account", risk_events.c.account)


def where_account_and_state(query: SelectT, *, account: str | None, state: str | None) -> SelectT:
    """The bet filters every ledger reader shares: ``state="open"`` is placed and not yet settled, ``"settled"`` any
    final grade, any other value one exact state. Here, beside the table, so the CLI's light reader and the betting
    package apply one rule without importing each other."""
    if account is not None:
        query = query.where(bets.c.account == account)
    if state == "open":
        query = query.where(bets.c.state == "placed")
    elif state == "settled":
        query = query.where(bets.c.settled_at.is_not(None))
    elif state is not None:
        query = query.where(bets.c.state == state)
    return query
