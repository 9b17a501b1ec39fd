"""Catalogue of feature-store builds: one row per build of a sport's feature set, never the feature values.

Values live in Parquet files under ``<data_dir>/features`` (see ``betpipe.features.store``); this table records
which feature-set version was built when, from which state of the source tables, with what parameters, where its
files are and a content hash of them. Registered on ``betpipe.db.schema.metadata`` so Alembic sees one schema.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, Float, Index, Integer, String, Table

from betpipe.db.schema import Id, UtcDateTime, metadata

feature_builds = Table(
    "feature_builds",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("sport", String(32), nullable=False),
    Column("feature_set_version", String(32), nullable=False),
    Column("built_at", UtcDateTime, nullable=False),
    Column("event_count", Integer, nullable=False),
    Column("row_count", Integer, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("parameters", JSON, nullable=False),
    Column("source_fingerprint", String(400), nullable=False),
    Column("path", String(1000), nullable=False),
    Column("seconds", Float, nullable=False),
)
Index("ix_feature_builds_sport_version", feature_builds.c.sport, feature_builds.c.feature_set_version)
