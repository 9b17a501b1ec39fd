"""strategies: stored, versioned strategies with backtest lineage, and which one is live per sport

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "strategies",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("sport", sa.String(length=32), nullable=False),
        sa.Column("version", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("lineage", sa.JSON(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_strategies")),
        sa.UniqueConstraint("sport", "version", name="uq_strategies_sport_version"),
    )
    op.create_table(
        "strategy_moves",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("sport", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("from_id", ID, nullable=True),
        sa.Column("to_id", ID, nullable=True),
        sa.Column("moved_at", UTC_DATETIME, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(["from_id"], ["strategies.id"], name=op.f("fk_strategy_moves_from_id_strategies")),
        sa.ForeignKeyConstraint(["to_id"], ["strategies.id"], name=op.f("fk_strategy_moves_to_id_strategies")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_strategy_moves")),
    )
    op.create_index("ix_strategy_moves_sport", "strategy_moves", ["sport", "id"])


def downgrade() -> None:
    op.drop_index("ix_strategy_moves_sport", table_name="strategy_moves")
    op.drop_table("strategy_moves")
    op.drop_table("strategies")
