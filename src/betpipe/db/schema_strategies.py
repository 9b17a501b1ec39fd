"""Tables of the strategy registry: stored strategies (a content-hashed ``StrategySpec`` with its backtest lineage)
and the history of which one is live per sport.

Registered on ``betpipe.db.schema.metadata`` (imported at the bottom of ``schema``) so Alembic sees one schema.
Both tables are append-only: the live strategy is the head of ``strategy_moves`` for the sport, so every promotion
and rollback stays on record.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, ForeignKey, Index, String, Table, Text, UniqueConstraint

from betpipe.db.schema import Id, UtcDateTime, metadata

strategies = Table(
    "strategies",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("sport", String(32), nullable=False),
    Column("version", String(16), nullable=False),  # StrategySpec.version: a content hash
    Column("name", String(200), nullable=False),
    Column("spec", JSON, nullable=False),
    Column("lineage", JSON, nullable=False),  # backtest data, seasons, report hash, headline figures
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("sport", "version", name="uq_strategies_sport_version"),
)

strategy_moves = Table(
    "strategy_moves",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("sport", String(32), nullable=False),
    Column("action", String(16), nullable=False),  # promote | rollback
    Column("from_id", Id, ForeignKey("strategies.id"), nullable=True),
    Column("to_id", Id, ForeignKey("strategies.id"), nullable=True),
    Column("moved_at", UtcDateTime, nullable=False),
    Column("reason", Text, nullable=False),
    Column("actor", String(100), nullable=False),
)
Index("ix_strategy_moves_sport", strategy_moves.c.sport, strategy_moves.c.id)
