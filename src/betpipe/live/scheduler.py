"""``betpipe run``: the live pipeline's stages on intervals, in one process, with APScheduler 3.x and its job store in
the configured database; every run of a job is recorded in ``job_runs`` (start, end, status, error, rows touched).

A failing job is recorded, logged and raised as an alert (through ``betpipe.monitoring`` when it is installed) and
never stops the other jobs. Jobs run one at a time (one worker thread): the stages share the database and a
two-core box. A process killed mid-job loses only that job's open transaction: every stage is idempotent, bets are
keyed by their price capture instant and settlement reads only open bets, so the next run places nothing twice and
settles whatever is due. The job store is JSON, not pickle: it never unpickles a row, and only calls functions of
this module by name.
"""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.job import Job
from apscheduler.jobstores.base import ConflictingIdError, JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger
from apscheduler.util import datetime_to_utc_timestamp
from sqlalchemy import Engine, insert, update
from sqlalchemy.exc import IntegrityError

from betpipe.clock import Clock, as_utc_instant
from betpipe.config import Settings
from betpipe.db.schema_jobs import job_runs
from betpipe.live.stages import STAGES, StageResult
from betpipe.logs import get_logger

__all__ = ["JobRun", "JsonJobStore", "recover_interrupted", "run_forever", "run_job", "run_once", "scheduled_job"]

log = get_logger(__name__)
Stage = Callable[[Engine, Settings, Clock], StageResult]
_ERROR_CHARS = 2000
_FUNC_PREFIX = f"{__name__}:"


@dataclass(frozen=True)
class JobRun:
    id: int
    job: str
    status: str
    rows: int | None
    error: str | None
    details: dict[str, Any] | None


def intervals(settings: Settings) -> dict[str, timedelta]:
    """Job name -> how often it runs (``SchedulerSettings``)."""
    s = settings.scheduler
    return {
        "odds": timedelta(minutes=s.odds_minutes),
        "results": timedelta(hours=s.results_hours),
        "features": timedelta(hours=s.features_hours),
        "predictions": timedelta(hours=s.predictions_hours),
        "betting": timedelta(minutes=s.betting_minutes),
        "retrain": timedelta(days=s.retrain_days),
        "close_retrain": timedelta(days=s.close_retrain_days),
        "monitoring": timedelta(minutes=s.monitoring_minutes),
    }


def monitoring_job(engine: Engine, settings: Settings, clock: Clock) -> StageResult:
    """One monitoring cycle (``betpipe monitor run``) as a job: rows are the new alerts. A failing step is already an
    alert of the cycle's own (``monitoring_error``), so it is reported in the details, not failed a second time."""
    from betpipe.monitoring.cycle import run_cycle

    report = run_cycle(engine, settings, clock=clock)
    new = len(report.raised.new_alert_ids) if report.raised is not None else 0
    delivery = report.delivery
    details = {
        "alerts_new": new,
        "deliveries_sent": delivery.sent if delivery else 0,
        "deliveries_failed": delivery.failed if delivery else 0,
        "step_errors": len(report.errors),
    }
    return StageResult(rows=new, details=details | ({"first_error": report.errors[0]} if report.errors else {}))


JOBS: dict[str, Stage] = {**STAGES, "monitoring": monitoring_job}
"""What ``betpipe run`` schedules: the pipeline's stages, then the monitoring cycle (``intervals``)."""


def _json_safe(details: Mapping[str, Any]) -> dict[str, Any]:
    return dict(json.loads(json.dumps(details, default=str)))


def _alert(engine: Engine, settings: Settings, clock: Clock, job: str, error: str) -> None:
    """Log, then hand the failure to monitoring's alert channels when that package exists; never raises."""
    log.error("job failed", job=job, error=error)
    try:
        from betpipe.monitoring.alerts import AlertSpec, raise_alerts
        from betpipe.monitoring.channels import Severity, channels_from_settings
    except ImportError:
        return
    try:
        monitoring = settings.monitoring  # type: ignore[attr-defined]
        spec = AlertSpec(
            kind="job_failed",
            key=f"job:{job}",
            severity=Severity.WARNING,
            title=f"betpipe job {job!r} failed",
            message=error,
            details={"job": job},
        )
        raise_alerts(
            engine,
            [spec],
            channels=channels_from_settings(monitoring),
            window=timedelta(hours=float(monitoring.dedup_window_hours)),
            clock=clock,
        )
    except Exception as alert_error:  # an alert that cannot be stored must not take the scheduler down
        log.error("could not raise the job-failure alert", job=job, error=repr(alert_error))


def run_job(
    name: str, engine: Engine, settings: Settings, clock: Clock, *, stages: Mapping[str, Stage] = JOBS
) -> JobRun:
    """Run one stage and record it; a failure is recorded and alerted, never raised (KeyboardInterrupt aside)."""
    stage = stages[name]
    started = as_utc_instant(clock.now())
    with engine.begin() as conn:
        run_id = int(
            conn.execute(
                insert(job_runs).values(job=name, started_at=started, status="running").returning(job_runs.c.id)
            ).scalar_one()
        )
    log.info("job started", job=name, run_id=run_id)
    status, rows, error, details = "succeeded", None, None, None
    try:
        result = stage(engine, settings, clock)
        rows, details = result.rows, _json_safe(result.details)
    except Exception as failure:
        status, error = "failed", f"{type(failure).__name__}: {failure}"[:_ERROR_CHARS]
    finished = as_utc_instant(clock.now())
    with engine.begin() as conn:
        conn.execute(
            update(job_runs)
            .where(job_runs.c.id == run_id)
            .values(finished_at=finished, status=status, rows=rows, error=error, details=details)
        )
    if error is not None:
        _alert(engine, settings, clock, name, error)
    else:
        log.info("job finished", job=name, run_id=run_id, rows=rows)
    return JobRun(run_id, name, status, rows, error, details)


def recover_interrupted(engine: Engine, clock: Clock) -> int:
    """Runs left ``running`` by a process that died mid-job are marked failed (their transactions rolled back)."""
    now = as_utc_instant(clock.now())
    with engine.begin() as conn:
        result = conn.execute(
            update(job_runs)
            .where(job_runs.c.status == "running")
            .values(status="failed", finished_at=now, error="interrupted: the process ended during the run")
        )
    return int(result.rowcount or 0)


def run_once(
    engine: Engine,
    settings: Settings,
    clock: Clock,
    *,
    jobs: Sequence[str] | None = None,
    stages: Mapping[str, Stage] = STAGES,
) -> list[JobRun]:
    """One cycle: every job (or ``jobs``) once, in pipeline order; a failed job does not stop the next."""
    recover_interrupted(engine, clock)
    return [run_job(name, engine, settings, clock, stages=stages) for name in (jobs or list(stages))]


# --- the long-running scheduler -------------------------------------------------------------------------------


class JsonJobStore(SQLAlchemyJobStore):  # type: ignore[misc]
    """APScheduler's SQLAlchemy job store with JSON job state instead of pickle, for interval jobs of this module."""

    def _encode(self, job: Job) -> bytes:
        state = job.__getstate__()
        trigger = state["trigger"]
        if not isinstance(trigger, IntervalTrigger) or not str(state["func"]).startswith(_FUNC_PREFIX):
            raise ValueError(f"job {job.id!r}: only interval jobs of {__name__} are stored")
        when = state["next_run_time"]
        body = {
            "id": state["id"],
            "func": state["func"],
            "args": list(state["args"]),
            "name": state["name"],
            "executor": state["executor"],
            "misfire_grace_time": state["misfire_grace_time"],
            "coalesce": state["coalesce"],
            "max_instances": state["max_instances"],
            "next_run_time": None if when is None else when.astimezone(UTC).isoformat(),
            "interval_seconds": trigger.interval.total_seconds(),
            "start_date": trigger.start_date.astimezone(UTC).isoformat(),
        }
        return json.dumps(body, sort_keys=True).encode()

    def _reconstitute_job(self, job_state: bytes) -> Job:
        body = json.loads(job_state)
        if not str(body["func"]).startswith(_FUNC_PREFIX):
            raise ValueError(f"refusing a stored job that calls {body['func']!r}")
        trigger = IntervalTrigger(
            seconds=float(body["interval_seconds"]), start_date=datetime.fromisoformat(body["start_date"]), timezone=UTC
        )
        when = body["next_run_time"]
        state = {
            "version": 1,
            "id": body["id"],
            "func": body["func"],
            "trigger": trigger,
            "executor": body["executor"],
            "args": tuple(body["args"]),
            "kwargs": {},
            "name": body["name"],
            "misfire_grace_time": body["misfire_grace_time"],
            "coalesce": body["coalesce"],
            "max_instances": body["max_instances"],
            "next_run_time": None if when is None else datetime.fromisoformat(when),
        }
        job = Job.__new__(Job)
        job.__setstate__(state)
        job._scheduler = self._scheduler
        job._jobstore_alias = self._alias
        return job

    def add_job(self, job: Job) -> None:
        values = {"id": job.id, "next_run_time": datetime_to_utc_timestamp(job.next_run_time)}
        with self.engine.begin() as connection:
            try:
                connection.execute(self.jobs_t.insert().values(**values, job_state=self._encode(job)))
            except IntegrityError as error:
                raise ConflictingIdError(job.id) from error

    def update_job(self, job: Job) -> None:
        statement = (
            self.jobs_t.update()
            .values(next_run_time=datetime_to_utc_timestamp(job.next_run_time), job_state=self._encode(job))
            .where(self.jobs_t.c.id == job.id)
        )
        with self.engine.begin() as connection:
            if connection.execute(statement).rowcount == 0:
                raise JobLookupError(job.id)

    def shutdown(self) -> None:
        """The engine belongs to the caller (``betpipe run``), which disposes of it."""


@dataclass
class _Runtime:
    engine: Engine
    settings: Settings
    clock: Clock


_RUNTIME: dict[str, _Runtime] = {}  # "current": set by ``run_forever`` for the jobs APScheduler calls by name
_RUNTIME_LOCK = threading.Lock()


def scheduled_job(name: str) -> None:
    """What the stored jobs call (by textual reference): one recorded run of the named stage."""
    runtime = _RUNTIME.get("current")
    if runtime is None:
        raise RuntimeError("scheduled_job called outside `betpipe run`")
    run_job(name, runtime.engine, runtime.settings, runtime.clock)


def build_scheduler(engine: Engine, settings: Settings, clock: Clock) -> BlockingScheduler:
    """A blocking scheduler with every job (re)registered in the database job store, first runs due now."""
    scheduler = BlockingScheduler(
        timezone=UTC,
        jobstores={"default": JsonJobStore(engine=engine)},
        executors={"default": ThreadPoolExecutor(max_workers=1)},
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": settings.scheduler.misfire_grace_seconds,
        },
    )
    now = as_utc_instant(clock.now())
    for name, every in intervals(settings).items():
        scheduler.add_job(
            f"{_FUNC_PREFIX}scheduled_job",
            trigger=IntervalTrigger(seconds=every.total_seconds(), start_date=now, timezone=UTC),
            args=[name],
            id=name,
            name=name,
            replace_existing=True,
            next_run_time=now,
        )
    return scheduler


def run_forever(engine: Engine, settings: Settings, clock: Clock) -> None:
    """Run the scheduler until SIGTERM/SIGINT; interrupted runs of a previous process are marked failed first."""
    recovered = recover_interrupted(engine, clock)
    if recovered:
        log.warning("previous runs were interrupted", runs=recovered)
    with _RUNTIME_LOCK:
        _RUNTIME["current"] = _Runtime(engine, settings, clock)
    scheduler = build_scheduler(engine, settings, clock)

    def stop(_signum: int, _frame: object) -> None:
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    log.info("scheduler started", jobs={k: str(v) for k, v in intervals(settings).items()})
    try:
        scheduler.start()
    finally:
        with _RUNTIME_LOCK:
            _RUNTIME.pop("current", None)
