"""betting ledger: bets, bet transitions, risk state (kill switch) and risk events

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "bets",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("idempotency_key", sa.String(length=64), nullable=False),
        sa.Column("account", sa.String(length=100), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("market", sa.String(length=16), nullable=False),
        sa.Column("selection", sa.String(length=16), nullable=False),
        sa.Column("line", sa.Float(), nullable=False),
        sa.Column("requested_price_e4", sa.BigInteger(), nullable=False),
        sa.Column("price_e4", sa.BigInteger(), nullable=False),
        sa.Column("stake_cents", sa.BigInteger(), nullable=False),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("edge", sa.Float(), nullable=True),
        sa.Column("book", sa.String(length=64), nullable=False),
        sa.Column("book_ref", sa.String(length=200), nullable=True),
        sa.Column("strategy", sa.String(length=100), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=True),
        sa.Column("competition", sa.String(length=64), nullable=False),
        sa.Column("kickoff", UTC_DATETIME, nullable=False),
        sa.Column("decision_time", UTC_DATETIME, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("placed_at", UTC_DATETIME, nullable=True),
        sa.Column("settled_at", UTC_DATETIME, nullable=True),
        sa.Column("pnl_cents", sa.BigInteger(), nullable=True),
        sa.Column("clv", sa.Float(), nullable=True),
        sa.Column("clv_reason", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bets")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_bets_idempotency_key")),
    )
    op.create_index("ix_bets_account_state", "bets", ["account", "state"], unique=False)
    op.create_index("ix_bets_account_event", "bets", ["account", "event_id"], unique=False)
    op.create_index("ix_bets_account_placed_at", "bets", ["account", "placed_at"], unique=False)
    op.create_index("ix_bets_account_settled_at", "bets", ["account", "settled_at"], unique=False)
    op.create_table(
        "bet_transitions",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("bet_id", ID, nullable=False),
        sa.Column("from_state", sa.String(length=16), nullable=True),
        sa.Column("to_state", sa.String(length=16), nullable=False),
        sa.Column("at", UTC_DATETIME, nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["bet_id"], ["bets.id"], name=op.f("fk_bet_transitions_bet_id_bets")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bet_transitions")),
    )
    op.create_index("ix_bet_transitions_bet_id", "bet_transitions", ["bet_id"], unique=False)
    op.create_table(
        "risk_state",
        sa.Column("account", sa.String(length=100), nullable=False),
        sa.Column("halted", sa.Boolean(), nullable=False),
        sa.Column("halted_reason", sa.Text(), nullable=True),
        sa.Column("halted_at", UTC_DATETIME, nullable=True),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("account", name=op.f("pk_risk_state")),
    )
    op.create_table(
        "risk_events",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("account", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_events")),
    )
    op.create_index("ix_risk_events_account", "risk_events", ["account"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_risk_events_account", table_name="risk_events")
    op.drop_table("risk_events")
    op.drop_table("risk_state")
    op.drop_index("ix_bet_transitions_bet_id", table_name="bet_transitions")
    op.drop_table("bet_transitions")
    op.drop_index("ix_bets_account_settled_at", table_name="bets")
    op.drop_index("ix_bets_account_placed_at", table_name="bets")
    op.drop_index("ix_bets_account_event", table_name="bets")
    op.drop_index("ix_bets_account_state", table_name="bets")
    op.drop_table("bets")
