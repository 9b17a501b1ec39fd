"""Tables of monitoring: daily model metrics, drift references and results, alerts and their per-channel deliveries.

Registered on ``betpipe.db.schema.metadata`` (imported at the bottom of ``schema``) so Alembic sees one schema.
Monitoring writes only these tables and reads every other one. Money is integer cents as in the ledger; metrics are
floats and may be NULL where a day has nothing to score (never NaN in the database).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from betpipe.db.schema import Id, UtcDateTime, metadata

DELIVERY_STATES = ("pending", "sending", "sent", "failed", "abandoned")
SEVERITIES = ("info", "warning", "critical")

model_daily_metrics = Table(
    "model_daily_metrics",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("day", Date, nullable=False),  # UTC kickoff day for predictions, UTC settlement day for bets
    Column("version_id", BigInteger, nullable=False),  # model_versions.id; 0 for bets made without a model
    Column("competition", String(64), nullable=False),
    Column("predictions", Integer, nullable=False),
    Column("settled_events", Integer, nullable=False),
    Column("brier", Float, nullable=True),
    Column("log_loss", Float, nullable=True),
    Column("rps", Float, nullable=True),
    Column("ece", Float, nullable=True),
    Column("bets", Integer, nullable=False),
    Column("staked_cents", BigInteger, nullable=False),
    Column("pnl_cents", BigInteger, nullable=False),
    Column("roi", Float, nullable=True),
    Column("mean_clv", Float, nullable=True),
    Column("computed_at", UtcDateTime, nullable=False),
    UniqueConstraint("day", "version_id", "competition", name="uq_model_daily_metrics_day_version_competition"),
)

drift_references = Table(
    "drift_references",
    metadata,
    # The training distribution of one feature of one model version, summarised once: see monitoring/reference.py.
    Column("version_id", BigInteger, primary_key=True),
    Column("feature", String(100), primary_key=True),
    Column("rows", Integer, nullable=False),
    Column("null_share", Float, nullable=False),
    Column("mean", Float, nullable=True),
    Column("std", Float, nullable=True),
    Column("edges", JSON, nullable=False),  # inner bin edges (reference deciles)
    Column("shares", JSON, nullable=False),  # reference share of each bin
    Column("sketch", JSON, nullable=False),  # evenly spaced quantiles: the reference for KS and Wasserstein
    Column("built_at", UtcDateTime, nullable=False),
)

drift_results = Table(
    "drift_results",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("checked_at", UtcDateTime, nullable=False),
    Column("version_id", BigInteger, nullable=False),
    Column("feature", String(100), nullable=False),
    Column("window_start", UtcDateTime, nullable=False),
    Column("window_end", UtcDateTime, nullable=False),
    Column("live_rows", Integer, nullable=False),
    Column("reference_rows", Integer, nullable=False),
    Column("method", String(16), nullable=False),  # small (PSI + KS) | large (Wasserstein + JS) | no_data
    Column("psi", Float, nullable=True),
    Column("ks_statistic", Float, nullable=True),
    Column("ks_pvalue", Float, nullable=True),
    Column("wasserstein", Float, nullable=True),
    Column("js_distance", Float, nullable=True),
    Column("drifted", Boolean, nullable=False),
)
Index("ix_drift_results_version_checked", drift_results.c.version_id, drift_results.c.checked_at)

alerts = Table(
    "alerts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("dedup_key", String(300), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("title", Text, nullable=False),
    Column("message", Text, nullable=False),
    Column("details", JSON, nullable=True),
    Column("raised_at", UtcDateTime, nullable=False),
    Column("last_seen_at", UtcDateTime, nullable=False),
    # Raising the same key again before this instant counts an occurrence instead of alerting again.
    Column("window_ends_at", UtcDateTime, nullable=False),
    Column("occurrences", Integer, nullable=False),
)
Index("ix_alerts_dedup_key_window", alerts.c.dedup_key, alerts.c.window_ends_at)
Index("ix_alerts_raised_at", alerts.c.raised_at)

alert_deliveries = Table(
    "alert_deliveries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("alert_id", Id, ForeignKey("alerts.id"), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("status", String(16), nullable=False),  # one of DELIVERY_STATES
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("last_attempt_at", UtcDateTime, nullable=True),
    Column("sent_at", UtcDateTime, nullable=True),
    UniqueConstraint("alert_id", "channel", name="uq_alert_deliveries_alert_channel"),
)
Index("ix_alert_deliveries_status", alert_deliveries.c.status)
