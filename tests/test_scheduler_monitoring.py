"""Monitoring as a scheduler job (issue 17 item 8): ``betpipe run`` registers a ``monitoring`` job at
``scheduler.monitoring_minutes``, stores it in its JSON job store like the pipeline's stages, and runs the monitoring
cycle from it, recorded in ``job_runs`` with the alerts it raised."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, select, text

from betpipe.clock import FixedClock
from betpipe.db.schema_jobs import job_runs
from betpipe.live.scheduler import _RUNTIME, JOBS, _Runtime, build_scheduler, intervals, run_job
from betpipe.live.stages import STAGES, StageResult
from betpipe.monitoring.alerts import list_alerts
from pipeline_store import live_settings

NOW = datetime(2025, 3, 22, 10, 30, tzinfo=UTC)


def _failing(*_: object) -> StageResult:
    raise RuntimeError("odds feed unreachable")


def test_monitoring_is_a_job_at_its_configured_interval(sqlite_engine: Engine, tmp_path: Path) -> None:
    settings = live_settings(str(sqlite_engine.url), tmp_path)
    settings = settings.model_copy(
        update={"scheduler": settings.scheduler.model_copy(update={"monitoring_minutes": 7.0})}
    )
    assert intervals(settings)["monitoring"] == timedelta(minutes=7)
    assert set(intervals(settings)) == set(JOBS) == {*STAGES, "monitoring"}
    scheduler = build_scheduler(sqlite_engine, settings, FixedClock(NOW))
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert jobs["monitoring"].args == ("monitoring",)
    assert jobs["monitoring"].trigger.interval == timedelta(minutes=7)


def test_the_monitoring_job_runs_the_cycle_and_records_its_alerts(sqlite_engine: Engine, tmp_path: Path) -> None:
    """A failed odds run is in job_runs; the monitoring job's cycle sees it (check_jobs) and says so."""
    settings = live_settings(str(sqlite_engine.url), tmp_path)
    clock = FixedClock(NOW)
    assert run_job("odds", sqlite_engine, settings, clock, stages={"odds": _failing}).status == "failed"
    before = len(list_alerts(sqlite_engine))
    run = run_job("monitoring", sqlite_engine, settings, clock)
    assert run.status == "succeeded", run.error
    assert run.details is not None
    assert run.details["step_errors"] == 0, run.details
    raised = list_alerts(sqlite_engine)[: len(list_alerts(sqlite_engine)) - before]  # newest first
    assert run.rows == run.details["alerts_new"] == len(raised) >= 1
    assert any(alert.kind == "job_failed" and "odds" in alert.title for alert in raised), raised


def test_the_scheduler_runs_the_monitoring_job_from_its_job_store(sqlite_engine: Engine, tmp_path: Path) -> None:
    """The real scheduler (its JSON job store in the database, jobs called by name) runs monitoring once."""
    settings = live_settings(str(sqlite_engine.url), tmp_path)
    clock = FixedClock(NOW)
    _RUNTIME["current"] = _Runtime(sqlite_engine, settings, clock)
    scheduler = build_scheduler(sqlite_engine, settings, clock)
    thread = threading.Thread(target=scheduler.start, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 240
        finished: list[str] = []
        while "monitoring" not in finished:
            assert time.monotonic() < deadline, f"only {finished} ran"
            time.sleep(0.5)
            with sqlite_engine.connect() as conn:
                query = select(job_runs.c.job).where(job_runs.c.finished_at.is_not(None))
                finished = list(conn.execute(query).scalars())
    finally:
        scheduler.shutdown(wait=True)
        thread.join(timeout=60)
        _RUNTIME.pop("current", None)
    with sqlite_engine.connect() as conn:
        stored = dict(conn.execute(text("SELECT id, job_state FROM apscheduler_jobs")).all())
        status = conn.execute(select(job_runs.c.status).where(job_runs.c.job == "monitoring")).scalars().all()
    assert json.loads(stored["monitoring"])["interval_seconds"] == settings.scheduler.monitoring_minutes * 60
    assert status == ["succeeded"]
