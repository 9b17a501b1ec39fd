"""``betpipe run``: the scheduler for real (a subprocess with its JSON job store in the database), and a process
killed mid-job then restarted: no bet placed twice, no settlement skipped, the interrupted run recorded as failed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine, func, select, text

from betpipe.betting import list_bets
from betpipe.clock import FixedClock
from betpipe.db.schema_betting import bets
from betpipe.db.schema_jobs import job_runs
from betpipe.live.betting_run import betting_run
from betpipe.live.scheduler import JOBS, JsonJobStore, run_once
from betpipe.live.stages import STAGES
from pipeline_store import AFTER_MATCHDAY, live_settings, prepare_store

BETPIPE = Path(sys.executable).with_name("betpipe")
WAIT_SECONDS = 240.0

STALLING_RUN = """
import sys, time
from datetime import datetime
from pathlib import Path

import betpipe.live.betting_run as live_run
import betpipe.live.stages as stages
from betpipe.clock import FixedClock
from betpipe.config import load_settings
from betpipe.db import make_engine
from betpipe.live.scheduler import run_once

marker, job, as_of = Path(sys.argv[1]), sys.argv[2], datetime.fromisoformat(sys.argv[3])


def stall(what):
    marker.write_text(what)
    time.sleep(600)


class StallingBook(live_run.PaperBook):
    def place(self, order):
        reply = super().place(order)  # the bet is proposed and the book filled it: only the commit is missing
        stall("placing")
        return reply


class StallingResults(dict):
    def get(self, key, default=None):
        stall("settling")


real_settle = stages.settle_bets


def stalling_settle(engine, *, account, results, closing, clock):
    return real_settle(engine, account=account, results=StallingResults(results), closing=closing, clock=clock)


live_run.PaperBook = StallingBook
stages.settle_bets = stalling_settle
settings = load_settings()
run_once(make_engine(settings.effective_database_url), settings, FixedClock(as_of), jobs=[job])
"""


def _env(database_url: str, data_dir: Path) -> dict[str, str]:
    """The environment equivalent of ``live_settings``."""
    return {
        **os.environ,
        "BETPIPE_DATABASE_URL": database_url,
        "BETPIPE_DATA_DIR": str(data_dir),
        "BETPIPE_PIPELINE__BOOK": "sample_soft",
        "BETPIPE_PIPELINE__SHARP_BOOK": "sample_sharp",
        "BETPIPE_PIPELINE__SOURCE": "none",
        "BETPIPE_RISK__MAX_PRICE_AGE_SECONDS": str(4 * 86400.0),
        "BETPIPE_LOG_LEVEL": "WARNING",
    }


def _kill_when(process: subprocess.Popen[bytes], marker: Path) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not marker.exists():
        if process.poll() is not None:
            pytest.fail(f"the run ended (exit {process.returncode}) before reaching the stall: {process.stderr!r}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("the run never reached the stall")
        time.sleep(0.1)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)


def _stalled_run(tmp_path: Path, database_url: str, job: str, as_of: datetime) -> None:
    script = tmp_path / "stalling_run.py"
    script.write_text(STALLING_RUN)
    marker = tmp_path / f"stalled-{job}"
    process = subprocess.Popen(
        [sys.executable, str(script), str(marker), job, as_of.isoformat()],
        env=_env(database_url, tmp_path),
        cwd=tmp_path,
        stderr=subprocess.DEVNULL,
    )
    _kill_when(process, marker)


def _running(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).where(job_runs.c.status == "running")).scalar_one())


def test_killed_mid_betting_then_restarted_places_each_bet_once(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    settings = live_settings(database_url, tmp_path)
    eve = prepare_store(engine, settings)
    expected = betting_run(engine, settings, FixedClock(eve), dry_run=True)
    would_place = sum(1 for check in expected.checks if check is None)
    assert would_place > 0

    _stalled_run(tmp_path, database_url, "betting", eve)
    assert list_bets(engine, account="paper", limit=None) == []  # the killed transaction left nothing behind
    assert _running(engine) == 1

    restarted = run_once(engine, settings, FixedClock(eve + timedelta(minutes=10)), jobs=["betting"])[0]
    assert restarted.status == "succeeded"
    assert restarted.rows == would_place
    assert _running(engine) == 0
    with engine.connect() as conn:
        interrupted = conn.execute(select(job_runs.c.error).where(job_runs.c.status == "failed")).scalars().all()
    assert interrupted == ["interrupted: the process ended during the run"]
    again = run_once(engine, settings, FixedClock(eve + timedelta(minutes=20)), jobs=["betting"])[0]
    assert again.rows == 0
    with engine.connect() as conn:
        keys = conn.execute(select(bets.c.idempotency_key)).scalars().all()
    assert len(keys) == len(set(keys)) == len(expected.opportunities.decision.candidates)


def test_killed_mid_settlement_then_restarted_settles_everything_due(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    settings = live_settings(database_url, tmp_path)
    eve = prepare_store(engine, settings)
    assert run_once(engine, settings, FixedClock(eve), jobs=["betting"])[0].rows
    placed = list_bets(engine, account="paper", state="open", limit=None)
    later = eve + AFTER_MATCHDAY

    _stalled_run(tmp_path, database_url, "results", later)
    assert len(list_bets(engine, account="paper", state="open", limit=None)) == len(placed)

    restarted = run_once(engine, settings, FixedClock(later), jobs=["results"])[0]
    assert restarted.status == "succeeded"
    due = {bet.id for bet in placed if bet.kickoff + timedelta(hours=2) <= later}
    assert due
    settled = {bet.id for bet in list_bets(engine, account="paper", state="settled", limit=None)}
    assert due <= settled


def test_job_store_is_json_and_refuses_foreign_or_pickled_jobs(engine: Engine) -> None:
    scheduler = BackgroundScheduler(timezone=UTC, jobstores={"default": JsonJobStore(engine=engine)})
    scheduler.start(paused=True)
    try:
        start = datetime(2026, 1, 1, tzinfo=UTC)
        scheduler.add_job(
            "betpipe.live.scheduler:scheduled_job",
            trigger=IntervalTrigger(seconds=90, start_date=start, timezone=UTC),
            args=["odds"],
            id="odds",
            replace_existing=True,
        )
        with engine.begin() as conn:
            state = json.loads(conn.execute(text("SELECT job_state FROM apscheduler_jobs")).scalar_one())
            assert state["func"] == "betpipe.live.scheduler:scheduled_job"
            assert state["args"] == ["odds"]
            assert state["interval_seconds"] == 90.0
            foreign = json.dumps({**state, "id": "evil", "func": "os:system", "args": ["true"]}).encode()
            conn.execute(
                text("INSERT INTO apscheduler_jobs (id, next_run_time, job_state) VALUES ('evil', 0, :s)"),
                {"s": foreign},
            )
            conn.execute(
                text("INSERT INTO apscheduler_jobs (id, next_run_time, job_state) VALUES ('pickled', 0, :s)"),
                {"s": b"\x80\x04\x95cos\nsystem\n."},
            )
        jobs = scheduler.get_jobs()
        assert [(job.id, job.args, job.trigger.interval) for job in jobs] == [
            ("odds", ("odds",), timedelta(seconds=90))
        ]
        with engine.connect() as conn:
            assert conn.execute(text("SELECT id FROM apscheduler_jobs")).scalars().all() == ["odds"]
    finally:
        scheduler.shutdown(wait=False)


def test_betpipe_run_runs_every_job_from_its_database_job_store_and_stops_on_sigterm(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    url = str(sqlite_engine.url)
    settings = live_settings(url, tmp_path)
    prepare_store(sqlite_engine, settings)
    process = subprocess.Popen([str(BETPIPE), "run"], env=_env(url, tmp_path), cwd=tmp_path, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + WAIT_SECONDS
        done: set[str] = set()
        while not set(STAGES) <= done:  # every stage ran (the monitoring job may have too)
            assert process.poll() is None, f"betpipe run exited with {process.returncode}"
            assert time.monotonic() < deadline, f"only {sorted(done)} ran"
            time.sleep(0.5)
            with sqlite_engine.connect() as conn:
                done = set(conn.execute(select(job_runs.c.job).where(job_runs.c.finished_at.is_not(None))).scalars())
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
    with sqlite_engine.connect() as conn:
        stored = conn.execute(text("SELECT id, job_state FROM apscheduler_jobs ORDER BY id")).all()
        statuses = conn.execute(select(job_runs.c.job, job_runs.c.status)).all()
    assert sorted(row[0] for row in stored) == sorted(JOBS)  # the stages and monitoring
    assert all(json.loads(row[1])["args"] == [row[0]] for row in stored)
    assert {status for _, status in statuses} <= {"succeeded", "failed"}
