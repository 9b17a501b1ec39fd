"""The live pipeline's stages on a small sample league, on SQLite and PostgreSQL: one cycle predicts, bets and
(after the matchday) settles; a second cycle changes nothing; a dry run writes nothing; a failing job is recorded,
alerted and does not stop the others."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from betpipe.betting import list_bets
from betpipe.clock import Clock, FixedClock
from betpipe.config import Settings
from betpipe.db.schema_betting import bets
from betpipe.db.schema_jobs import job_runs
from betpipe.db.schema_registry import shadow_predictions
from betpipe.live.betting_run import betting_run
from betpipe.live.prices import latest_prices
from betpipe.live.scheduler import run_once
from betpipe.live.stages import STAGES, StageResult
from betpipe.registry import alias_version
from pipeline_store import AFTER_MATCHDAY, live_settings, prepare_store


def _count(engine: Engine, table: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_one_cycle_predicts_bets_then_settles_and_a_rerun_changes_nothing(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    settings = live_settings(database_url, tmp_path, strategy="blend")  # the champion's probabilities take part
    eve = prepare_store(engine, settings)
    runs = run_once(engine, settings, FixedClock(eve))
    assert [r.job for r in runs] == list(STAGES)
    assert {r.job: r.status for r in runs} == dict.fromkeys(STAGES, "succeeded"), [r.error for r in runs]
    assert _count(engine, job_runs) == len(STAGES)
    retrain = next(r for r in runs if r.job == "retrain")
    assert retrain.details is not None
    assert retrain.details["promoted"] is False  # no played event after both training ranges: no evidence, no swap
    challenger = alias_version(engine, "soccer", "1x2", "challenger")
    assert challenger is not None
    assert challenger.id == retrain.details["challenger"]
    predictions = _count(engine, shadow_predictions)
    assert predictions > 0
    placed = list_bets(engine, account="paper", state="open", limit=None)
    assert placed, "the sample league's soft book should offer the blend strategy some value"
    assert all(bet.decision_time < bet.kickoff and bet.model_version is not None for bet in placed)
    assert all(bet.book == "sample_soft" for bet in placed)

    again = run_once(engine, settings, FixedClock(eve + timedelta(minutes=30)))
    betting = next(r for r in again if r.job == "betting")
    assert betting.rows == 0
    assert betting.details is not None
    assert betting.details["duplicates"] == betting.details["candidates"] > 0
    assert _count(engine, bets) == len(list_bets(engine, account="paper", limit=None))
    assert len(list_bets(engine, account="paper", state="open", limit=None)) == len(placed)

    later = FixedClock(eve + AFTER_MATCHDAY)
    results = run_once(engine, settings, later, jobs=["results"])[0]
    assert results.status == "succeeded"
    due = [bet for bet in placed if bet.kickoff + timedelta(hours=2) <= later.now()]
    assert due, "the first matchday is over four days after its eve"
    settled = {bet.id: bet for bet in list_bets(engine, account="paper", state="settled", limit=None)}
    assert {bet.id for bet in due} <= set(settled)
    assert all(settled[bet.id].clv is not None for bet in due)
    assert run_once(engine, settings, later, jobs=["results"])[0].rows == 0  # nothing settles twice


def test_dry_run_decides_and_checks_but_writes_nothing(sqlite_engine: Engine, tmp_path: Path) -> None:
    settings = live_settings(str(sqlite_engine.url), tmp_path)
    eve = prepare_store(sqlite_engine, settings)
    run = betting_run(sqlite_engine, settings, FixedClock(eve), dry_run=True)
    assert run.opportunities.decision.candidates
    assert len(run.checks) == len(run.opportunities.decision.candidates)
    assert run.placements == []
    assert _count(sqlite_engine, bets) == 0


def test_only_prices_known_at_now_and_before_kickoff_are_used(sqlite_engine: Engine, tmp_path: Path) -> None:
    settings = live_settings(str(sqlite_engine.url), tmp_path)
    eve = prepare_store(sqlite_engine, settings)
    prices = latest_prices(sqlite_engine, sport="soccer", books=["sample_soft"], now=eve)
    assert prices.height > 0
    assert (prices["decided_at"] <= eve).all()
    assert (prices["decided_at"] < prices["kickoff_utc"]).all()
    assert (prices["kickoff_utc"] > eve).all()
    earlier = latest_prices(sqlite_engine, sport="soccer", books=["sample_soft"], now=eve - timedelta(days=5))
    assert earlier.height < prices.height


def test_a_failing_job_is_recorded_alerted_and_does_not_stop_the_others(
    sqlite_engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = live_settings(str(sqlite_engine.url), tmp_path)
    calls: list[str] = []

    def broken(engine: Engine, settings: Settings, clock: Clock) -> StageResult:
        calls.append("broken")
        raise RuntimeError("odds feed down")

    def fine(engine: Engine, settings: Settings, clock: Clock) -> StageResult:
        calls.append("fine")
        return StageResult(3, {"ok": True})

    clock = FixedClock(datetime(2025, 1, 1, tzinfo=UTC))
    runs = run_once(sqlite_engine, settings, clock, stages={"odds": broken, "betting": fine})
    assert calls == ["broken", "fine"]
    assert [(r.job, r.status, r.rows) for r in runs] == [("odds", "failed", None), ("betting", "succeeded", 3)]
    assert runs[0].error == "RuntimeError: odds feed down"
    with sqlite_engine.connect() as conn:
        stored = conn.execute(select(job_runs.c.job, job_runs.c.status, job_runs.c.error, job_runs.c.finished_at)).all()
    assert [(job, status) for job, status, _, _ in stored] == [("odds", "failed"), ("betting", "succeeded")]
    assert all(finished is not None for *_, finished in stored)
    alerts = _monitoring_alerts(sqlite_engine)
    if alerts is not None:
        assert any("odds" in title for title in alerts)


def _monitoring_alerts(engine: Engine) -> list[str] | None:
    try:
        from betpipe.db.schema_monitoring import alerts
    except ImportError:
        return None
    with engine.connect() as conn:
        return [str(t) for t in conn.execute(select(alerts.c.title)).scalars()]
