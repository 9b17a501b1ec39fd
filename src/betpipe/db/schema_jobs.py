"""The live pipeline's job log: one row per run of a scheduled job (start, end, status, error, rows touched).

Registered on ``betpipe.db.schema.metadata`` (imported at the bottom of ``schema``) so Alembic sees one schema.
Written only by ``betpipe.live.scheduler``; rows are never updated after a run finishes. APScheduler's own job store
table (``apscheduler_jobs``) is created and owned by APScheduler, not described here.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, Index, Integer, String, Table, Text

from betpipe.db.schema import Id, UtcDateTime, metadata

JOB_STATUSES = ("running", "succeeded", "failed")

job_runs = Table(
    "job_runs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("job", String(64), nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime, nullable=True),
    Column("status", String(16), nullable=False),
    Column("error", Text, nullable=True),
    Column("rows", Integer, nullable=True),
    Column("details", JSON, nullable=True),
)
Index("ix_job_runs_job_started", job_runs.c.job, job_runs.c.started_at)
