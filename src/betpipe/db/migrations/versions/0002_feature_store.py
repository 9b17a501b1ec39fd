"""feature store catalogue

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 19:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feature_builds",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("sport", sa.String(length=32), nullable=False),
        sa.Column("feature_set_version", sa.String(length=32), nullable=False),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("source_fingerprint", sa.String(length=400), nullable=False),
        sa.Column("path", sa.String(length=1000), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feature_builds")),
    )
    op.create_index("ix_feature_builds_sport_version", "feature_builds", ["sport", "feature_set_version"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_feature_builds_sport_version", table_name="feature_builds")
    op.drop_table("feature_builds")
