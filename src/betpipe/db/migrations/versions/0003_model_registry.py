"""model registry: versions, aliases, alias history, shadow predictions

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "model_versions",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("sport", sa.String(length=32), nullable=False),
        sa.Column("market", sa.String(length=16), nullable=False),
        sa.Column("model_type", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("artifact_sha256", sa.String(length=64), nullable=False),
        sa.Column("lineage", sa.JSON(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("code_version", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_versions")),
        sa.UniqueConstraint("sport", "market", "version", name="uq_model_versions_sport_market_version"),
        sa.UniqueConstraint("sport", "market", "artifact_sha256", name="uq_model_versions_sport_market_artifact"),
    )
    op.create_table(
        "model_aliases",
        sa.Column("sport", sa.String(length=32), nullable=False),
        sa.Column("market", sa.String(length=16), nullable=False),
        sa.Column("alias", sa.String(length=16), nullable=False),
        sa.Column("version_id", ID, nullable=False),
        sa.Column("moved_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("alias IN ('champion', 'challenger')", name=op.f("ck_model_aliases_alias_known")),
        sa.ForeignKeyConstraint(
            ["version_id"], ["model_versions.id"], name=op.f("fk_model_aliases_version_id_model_versions")
        ),
        sa.PrimaryKeyConstraint("sport", "market", "alias", name=op.f("pk_model_aliases")),
    )
    op.create_table(
        "model_alias_history",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("sport", sa.String(length=32), nullable=False),
        sa.Column("market", sa.String(length=16), nullable=False),
        sa.Column("alias", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("from_version_id", ID, nullable=True),
        sa.Column("to_version_id", ID, nullable=True),
        sa.Column("moved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["from_version_id"],
            ["model_versions.id"],
            name=op.f("fk_model_alias_history_from_version_id_model_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["to_version_id"],
            ["model_versions.id"],
            name=op.f("fk_model_alias_history_to_version_id_model_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_alias_history")),
    )
    op.create_index(
        "ix_model_alias_history_sport_market_alias", "model_alias_history", ["sport", "market", "alias"], unique=False
    )
    op.create_table(
        "shadow_predictions",
        sa.Column("version_id", ID, nullable=False),
        sa.Column("event_id", ID, nullable=False),
        sa.Column("probabilities", sa.JSON(), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], name=op.f("fk_shadow_predictions_event_id_events")),
        sa.ForeignKeyConstraint(
            ["version_id"], ["model_versions.id"], name=op.f("fk_shadow_predictions_version_id_model_versions")
        ),
        sa.PrimaryKeyConstraint("version_id", "event_id", name=op.f("pk_shadow_predictions")),
    )
    op.create_index("ix_shadow_predictions_event_id", "shadow_predictions", ["event_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_shadow_predictions_event_id", table_name="shadow_predictions")
    op.drop_table("shadow_predictions")
    op.drop_index("ix_model_alias_history_sport_market_alias", table_name="model_alias_history")
    op.drop_table("model_alias_history")
    op.drop_table("model_aliases")
    op.drop_table("model_versions")
