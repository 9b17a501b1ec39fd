"""Tables of the model registry: versions with lineage, champion/challenger aliases, their history, shadow scores.

Registered on ``betpipe.db.schema.metadata`` (imported at the bottom of ``schema``) so Alembic sees one schema.
Artifacts themselves never live here: only their sha256, the files stay in the content-addressed artifact directory.
"""

from __future__ import annotations

from sqlalchemy import JSON, CheckConstraint, Column, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint

from betpipe.db.schema import Id, UtcDateTime, metadata

ALIASES = ("champion", "challenger")

model_versions = Table(
    "model_versions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("sport", String(32), nullable=False),
    Column("market", String(16), nullable=False),
    Column("model_type", String(64), nullable=False),
    # 1, 2, 3, ... per (sport, market): what people say ("soccer 1x2 v7"); the id is what code passes around.
    Column("version", Integer, nullable=False),
    Column("artifact_sha256", String(64), nullable=False),
    Column("lineage", JSON, nullable=False),
    Column("params", JSON, nullable=False),
    Column("metrics", JSON, nullable=False),
    Column("code_version", String(200), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("sport", "market", "version", name="uq_model_versions_sport_market_version"),
    # The same artifact registered twice for one sport and market is one version: registration is idempotent.
    UniqueConstraint("sport", "market", "artifact_sha256", name="uq_model_versions_sport_market_artifact"),
)

model_aliases = Table(
    "model_aliases",
    metadata,
    Column("sport", String(32), primary_key=True),
    Column("market", String(16), primary_key=True),
    Column("alias", String(16), primary_key=True),
    Column("version_id", Id, ForeignKey("model_versions.id"), nullable=False),
    Column("moved_at", UtcDateTime, nullable=False),
    CheckConstraint("alias IN ('champion', 'challenger')", name="alias_known"),
)

model_alias_history = Table(
    "model_alias_history",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("sport", String(32), nullable=False),
    Column("market", String(16), nullable=False),
    Column("alias", String(16), nullable=False),
    Column("action", String(16), nullable=False),  # promote | rollback | clear
    Column("from_version_id", Id, ForeignKey("model_versions.id"), nullable=True),
    Column("to_version_id", Id, ForeignKey("model_versions.id"), nullable=True),
    Column("moved_at", UtcDateTime, nullable=False),
    Column("reason", Text, nullable=False),
    Column("actor", String(100), nullable=False),
)
Index(
    "ix_model_alias_history_sport_market_alias",
    model_alias_history.c.sport,
    model_alias_history.c.market,
    model_alias_history.c.alias,
)

shadow_predictions = Table(
    "shadow_predictions",
    metadata,
    Column("version_id", Id, ForeignKey("model_versions.id"), primary_key=True),
    Column("event_id", Id, ForeignKey("events.id"), primary_key=True),
    Column("probabilities", JSON, nullable=False),
    # When the prediction was made; only predictions made before kickoff count in a shadow report.
    Column("as_of", UtcDateTime, nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
)
Index("ix_shadow_predictions_event_id", shadow_predictions.c.event_id)
