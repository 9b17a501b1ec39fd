"""The relational schema (SQLAlchemy Core), the single source of truth for Alembic migrations.

Natural keys are unique constraints so every writer can upsert; nothing here encodes business rules beyond
what the database must guarantee (uniqueness, references, append-only raw payloads via triggers).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets BIGINT.
Id = BigInteger().with_variant(Integer(), "sqlite")
UtcDateTime = DateTime(timezone=True)


def _id() -> Column[int]:
    return Column("id", Id, primary_key=True, autoincrement=True)


def _created() -> Column[object]:
    return Column("created_at", UtcDateTime, nullable=False, server_default=func.current_timestamp())


competitions = Table(
    "competitions",
    metadata,
    _id(),
    Column("sport", String(32), nullable=False),
    Column("code", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    UniqueConstraint("sport", "code", name="uq_competitions_sport_code"),
)

seasons = Table(
    "seasons",
    metadata,
    _id(),
    Column("competition_id", Id, ForeignKey("competitions.id"), nullable=False),
    Column("name", String(32), nullable=False),
    Column("start_date", Date, nullable=True),
    Column("end_date", Date, nullable=True),
    UniqueConstraint("competition_id", "name", name="uq_seasons_competition_name"),
)

teams = Table(
    "teams",
    metadata,
    _id(),
    Column("sport", String(32), nullable=False),
    Column("name", String(200), nullable=False),
    UniqueConstraint("sport", "name", name="uq_teams_sport_name"),
)

team_aliases = Table(
    "team_aliases",
    metadata,
    _id(),
    Column("sport", String(32), nullable=False),
    Column("alias", String(200), nullable=False),
    Column("team_id", Id, ForeignKey("teams.id"), nullable=False),
    Column("source", String(64), nullable=False),
    UniqueConstraint("sport", "alias", name="uq_team_aliases_sport_alias"),
)

events = Table(
    "events",
    metadata,
    _id(),
    Column("natural_key", String(300), nullable=False, unique=True),
    Column("sport", String(32), nullable=False),
    Column("competition_id", Id, ForeignKey("competitions.id"), nullable=False),
    Column("season_id", Id, ForeignKey("seasons.id"), nullable=True),
    Column("kickoff_utc", UtcDateTime, nullable=False),
    Column("kickoff_time_known", Boolean, nullable=False),
    Column("home_team_id", Id, ForeignKey("teams.id"), nullable=False),
    Column("away_team_id", Id, ForeignKey("teams.id"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("neutral_site", Boolean, nullable=False),
    Column("attributes", JSON, nullable=True),
    Column("source", String(64), nullable=False),
)
Index("ix_events_competition_kickoff", events.c.competition_id, events.c.kickoff_utc)
Index("ix_events_sport_kickoff", events.c.sport, events.c.kickoff_utc)

event_refs = Table(
    "event_refs",
    metadata,
    Column("source", String(64), primary_key=True),
    Column("external_id", String(200), primary_key=True),
    Column("event_id", Id, ForeignKey("events.id"), nullable=False, index=True),
)

results = Table(
    "results",
    metadata,
    Column("event_id", Id, ForeignKey("events.id"), primary_key=True),
    Column("home_score", Integer, nullable=False),
    Column("away_score", Integer, nullable=False),
    Column("ht_home_score", Integer, nullable=True),
    Column("ht_away_score", Integer, nullable=True),
    Column("home_shots", Integer, nullable=True),
    Column("away_shots", Integer, nullable=True),
    Column("home_shots_on_target", Integer, nullable=True),
    Column("away_shots_on_target", Integer, nullable=True),
    Column("home_corners", Integer, nullable=True),
    Column("away_corners", Integer, nullable=True),
    Column("home_fouls", Integer, nullable=True),
    Column("away_fouls", Integer, nullable=True),
    Column("home_yellow", Integer, nullable=True),
    Column("away_yellow", Integer, nullable=True),
    Column("home_red", Integer, nullable=True),
    Column("away_red", Integer, nullable=True),
    Column("overtime", Boolean, nullable=True),
    Column("source", String(64), nullable=False),
)

bookmakers = Table(
    "bookmakers",
    metadata,
    _id(),
    Column("key", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    # Aggregates (market max/average) are descriptive statistics, not prices anyone could take.
    Column("is_aggregate", Boolean, nullable=False),
)

odds_snapshots = Table(
    "odds_snapshots",
    metadata,
    _id(),
    Column("event_id", Id, ForeignKey("events.id"), nullable=False),
    Column("bookmaker_id", Id, ForeignKey("bookmakers.id"), nullable=False),
    Column("market", String(16), nullable=False),
    Column("selection", String(16), nullable=False),
    # The home side's handicap for spread/asian handicap, the total for totals, 0 for markets without a line.
    Column("line", Float, nullable=False),
    Column("price", Float, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("captured_at", UtcDateTime, nullable=False),
    Column("source", String(64), nullable=False),
    UniqueConstraint(
        "event_id",
        "bookmaker_id",
        "market",
        "selection",
        "line",
        "kind",
        "captured_at",
        name="uq_odds_snapshots_natural",
    ),
)

raw_payloads = Table(
    "raw_payloads",
    metadata,
    _id(),
    Column("source", String(64), nullable=False),
    Column("locator", String(1000), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("fetched_at", UtcDateTime, nullable=False),
    Column("content_type", String(100), nullable=False),
    Column("body", LargeBinary, nullable=False),
    UniqueConstraint("source", "locator", "sha256", name="uq_raw_payloads_source_locator_sha"),
)

quarantine = Table(
    "quarantine",
    metadata,
    _id(),
    Column("source", String(64), nullable=False),
    Column("locator", String(1000), nullable=False),
    Column("row_ref", String(200), nullable=False),
    Column("record", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("raw_payload_id", Id, ForeignKey("raw_payloads.id"), nullable=True),
    _created(),
    UniqueConstraint("source", "locator", "row_ref", name="uq_quarantine_source_locator_row"),
)

change_log = Table(
    "change_log",
    metadata,
    _id(),
    Column("table_name", String(64), nullable=False),
    Column("record_key", String(400), nullable=False),
    Column("old_values", JSON, nullable=False),
    Column("new_values", JSON, nullable=False),
    Column("source", String(64), nullable=False),
    Column("changed_at", UtcDateTime, nullable=False),
)

ingest_runs = Table(
    "ingest_runs",
    metadata,
    _id(),
    Column("source", String(64), nullable=False),
    Column("locator", String(1000), nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime, nullable=True),
    Column("rows_read", Integer, nullable=False, server_default="0"),
    Column("inserted", Integer, nullable=False, server_default="0"),
    Column("updated", Integer, nullable=False, server_default="0"),
    Column("unchanged", Integer, nullable=False, server_default="0"),
    Column("quarantined", Integer, nullable=False, server_default="0"),
    Column("status", String(16), nullable=False),
    Column("message", Text, nullable=True),
)

api_requests = Table(
    "api_requests",
    metadata,
    _id(),
    Column("source", String(64), nullable=False),
    Column("endpoint", String(400), nullable=False),
    Column("requested_at", UtcDateTime, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("attempts", Integer, nullable=False),
    Column("requests_remaining", Numeric(12, 2), nullable=True),
    Column("requests_used", Numeric(12, 2), nullable=True),
    Column("requests_last", Numeric(12, 2), nullable=True),
    Column("error", Text, nullable=True),
)

from betpipe.db import schema_betting as _schema_betting  # noqa: E402,F401
from betpipe.db import schema_features as _schema_features  # noqa: E402,F401
from betpipe.db import schema_jobs as _schema_jobs  # noqa: E402,F401
from betpipe.db import schema_monitoring as _schema_monitoring  # noqa: E402,F401
from betpipe.db import schema_registry as _schema_registry  # noqa: E402,F401
from betpipe.db import schema_strategies as _schema_strategies  # noqa: E402,F401
