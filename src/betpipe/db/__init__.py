"""Storage: engine/session factory, schema, migrations and set-based upserts."""

from betpipe.db.bulk import UpsertCounts, as_utc, upsert, utc_now
from betpipe.db.engine import current_revision, make_engine, upgrade

__all__ = ["UpsertCounts", "as_utc", "current_revision", "make_engine", "upgrade", "upsert", "utc_now"]
