"""The dashboard's System page data: ingestion freshness per source, the scheduler's job runs, recent alerts.

Plain read-only queries to polars frames, apart from the ledger views (``dashboard_data``, ``dashboard_bets``).
Never writes; never reads the wall clock (callers pass ``now``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import polars as pl
from sqlalchemy import Engine, MetaData, Table, func, inspect, select

from betpipe.clock import as_utc_instant
from betpipe.db.schema import ingest_runs, odds_snapshots
from betpipe.monitoring.alerts import list_alerts
from betpipe.monitoring.dashboard_data import UTC_TIME, _frame

__all__ = ["freshness", "job_runs", "recent_alerts"]


def freshness(store: Engine, now: datetime) -> pl.DataFrame:
    """Per source: newest odds snapshot, newest successful ingest, the last ingest's status, and their ages."""
    with store.connect() as conn:
        odds = dict(
            conn.execute(
                select(odds_snapshots.c.source, func.max(odds_snapshots.c.captured_at)).group_by("source")
            ).all()
        )
        ok = dict(
            conn.execute(
                select(ingest_runs.c.source, func.max(ingest_runs.c.finished_at))
                .where(ingest_runs.c.status == "ok")
                .group_by(ingest_runs.c.source)
            ).all()
        )
        last = select(ingest_runs.c.source, func.max(ingest_runs.c.id).label("id")).group_by(ingest_runs.c.source)
        latest = last.subquery()
        statuses = dict(
            conn.execute(
                select(ingest_runs.c.source, ingest_runs.c.status).join(latest, latest.c.id == ingest_runs.c.id)
            ).all()
        )
    sources = sorted(set(odds) | set(ok) | set(statuses))
    frame = _frame(
        [(s, odds.get(s), ok.get(s), statuses.get(s)) for s in sources],
        {"source": pl.String, "last_odds": UTC_TIME, "last_ingest_ok": UTC_TIME, "last_ingest_status": pl.String},
    )
    instant = pl.lit(as_utc_instant(now)).cast(UTC_TIME)
    return frame.with_columns(
        ((instant - pl.col("last_odds")).dt.total_seconds() / 3600).alias("odds_age_hours"),
        ((instant - pl.col("last_ingest_ok")).dt.total_seconds() / 3600).alias("ingest_age_hours"),
    )


def job_runs(store: Engine, limit: int = 50) -> pl.DataFrame | None:
    """The scheduler's newest runs; None on a store without the ``job_runs`` table (before the scheduler)."""
    if not inspect(store).has_table("job_runs"):
        return None
    table = Table("job_runs", MetaData(), autoload_with=store)
    names = ["job", "started_at", "finished_at", "status", "error", "rows"]
    query = select(*[table.c[n] for n in names]).order_by(table.c.started_at.desc(), table.c.id.desc()).limit(limit)
    with store.connect() as conn:
        rows = list(conn.execute(query))
    schema: dict[str, Any] = {"job": pl.String, "started_at": UTC_TIME, "finished_at": UTC_TIME}
    schema |= {"status": pl.String, "error": pl.String, "rows": pl.Int64}
    return _frame(rows, schema)


def recent_alerts(store: Engine, limit: int = 50) -> pl.DataFrame:
    records = list_alerts(store, limit=limit)
    schema: dict[str, Any] = {"raised_at": UTC_TIME, "severity": pl.String, "kind": pl.String, "title": pl.String}
    schema |= {"occurrences": pl.Int64, "deliveries": pl.String}
    rows = [
        (
            a.raised_at,
            a.severity,
            a.kind,
            a.title,
            a.occurrences,
            ", ".join(f"{k}: {v}" for k, v in sorted(a.deliveries.items())) or "none",
        )
        for a in records
    ]
    return _frame(rows, schema)
