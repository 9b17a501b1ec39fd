"""monitoring: daily model metrics, drift references and results, alerts and alert deliveries

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "model_daily_metrics",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("version_id", sa.BigInteger(), nullable=False),
        sa.Column("competition", sa.String(length=64), nullable=False),
        sa.Column("predictions", sa.Integer(), nullable=False),
        sa.Column("settled_events", sa.Integer(), nullable=False),
        sa.Column("brier", sa.Float(), nullable=True),
        sa.Column("log_loss", sa.Float(), nullable=True),
        sa.Column("rps", sa.Float(), nullable=True),
        sa.Column("ece", sa.Float(), nullable=True),
        sa.Column("bets", sa.Integer(), nullable=False),
        sa.Column("staked_cents", sa.BigInteger(), nullable=False),
        sa.Column("pnl_cents", sa.BigInteger(), nullable=False),
        sa.Column("roi", sa.Float(), nullable=True),
        sa.Column("mean_clv", sa.Float(), nullable=True),
        sa.Column("computed_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_daily_metrics")),
        sa.UniqueConstraint("day", "version_id", "competition", name="uq_model_daily_metrics_day_version_competition"),
    )
    op.create_table(
        "drift_references",
        sa.Column("version_id", sa.BigInteger(), nullable=False),
        sa.Column("feature", sa.String(length=100), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("null_share", sa.Float(), nullable=False),
        sa.Column("mean", sa.Float(), nullable=True),
        sa.Column("std", sa.Float(), nullable=True),
        sa.Column("edges", sa.JSON(), nullable=False),
        sa.Column("shares", sa.JSON(), nullable=False),
        sa.Column("sketch", sa.JSON(), nullable=False),
        sa.Column("built_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("version_id", "feature", name=op.f("pk_drift_references")),
    )
    op.create_table(
        "drift_results",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("checked_at", UTC_DATETIME, nullable=False),
        sa.Column("version_id", sa.BigInteger(), nullable=False),
        sa.Column("feature", sa.String(length=100), nullable=False),
        sa.Column("window_start", UTC_DATETIME, nullable=False),
        sa.Column("window_end", UTC_DATETIME, nullable=False),
        sa.Column("live_rows", sa.Integer(), nullable=False),
        sa.Column("reference_rows", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("psi", sa.Float(), nullable=True),
        sa.Column("ks_statistic", sa.Float(), nullable=True),
        sa.Column("ks_pvalue", sa.Float(), nullable=True),
        sa.Column("wasserstein", sa.Float(), nullable=True),
        sa.Column("js_distance", sa.Float(), nullable=True),
        sa.Column("drifted", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drift_results")),
    )
    op.create_index("ix_drift_results_version_checked", "drift_results", ["version_id", "checked_at"], unique=False)
    op.create_table(
        "alerts",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("dedup_key", sa.String(length=300), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.Column("raised_at", UTC_DATETIME, nullable=False),
        sa.Column("last_seen_at", UTC_DATETIME, nullable=False),
        sa.Column("window_ends_at", UTC_DATETIME, nullable=False),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    op.create_index("ix_alerts_dedup_key_window", "alerts", ["dedup_key", "window_ends_at"], unique=False)
    op.create_index("ix_alerts_raised_at", "alerts", ["raised_at"], unique=False)
    op.create_table(
        "alert_deliveries",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("alert_id", ID, nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_attempt_at", UTC_DATETIME, nullable=True),
        sa.Column("sent_at", UTC_DATETIME, nullable=True),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"], name=op.f("fk_alert_deliveries_alert_id_alerts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_deliveries")),
        sa.UniqueConstraint("alert_id", "channel", name="uq_alert_deliveries_alert_channel"),
    )
    op.create_index("ix_alert_deliveries_status", "alert_deliveries", ["status"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_alert_deliveries_status", table_name="alert_deliveries")
    op.drop_table("alert_deliveries")
    op.drop_index("ix_alerts_raised_at", table_name="alerts")
    op.drop_index("ix_alerts_dedup_key_window", table_name="alerts")
    op.drop_table("alerts")
    op.drop_index("ix_drift_results_version_checked", table_name="drift_results")
    op.drop_table("drift_results")
    op.drop_table("drift_references")
    op.drop_table("model_daily_metrics")
