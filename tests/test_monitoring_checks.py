"""Drift statistics and the money/machinery checks: each flags its planted fault, stays quiet without one, and
says "no data" when there is nothing to judge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import Engine, Table, insert, select

from betpipe.clock import FixedClock
from betpipe.config import Settings
from betpipe.db.schema import bookmakers, ingest_runs, metadata, odds_snapshots
from betpipe.db.schema_monitoring import drift_references, drift_results
from betpipe.monitoring import DriftThresholds, Severity, check_drift, compare, summarise
from betpipe.monitoring.checks import check_clv, check_exposure, check_freshness, check_jobs, check_loss_streak
from fakes.monitoring_data import NOW, PlantedFeatures, seed_bets, seed_events, seed_model

THRESHOLDS = DriftThresholds()


@pytest.mark.parametrize("live_rows", [200, 5000], ids=["small-psi-ks", "large-wasserstein-js"])
def test_a_shifted_feature_drifts_and_an_unshifted_one_does_not(live_rows: int) -> None:
    rng = np.random.default_rng(0)
    reference = summarise("f_elo_diff", rng.normal(0, 100, 20_000))
    same = compare(reference, rng.normal(0, 100, live_rows), THRESHOLDS)
    shifted = compare(reference, rng.normal(60, 100, live_rows), THRESHOLDS)
    assert same.method == shifted.method == ("small" if live_rows < THRESHOLDS.large_sample else "large")
    assert not same.drifted, same.reason
    assert shifted.drifted, shifted.reason


def test_ks_p_value_counts_the_true_reference_size_not_the_sketch() -> None:
    rng = np.random.default_rng(1)
    values = rng.normal(0, 1, 50_000)
    reference = summarise("f", values)
    assert len(reference.sketch) == 1000
    assert reference.rows == 50_000
    result = compare(reference, rng.normal(0.3, 1, 500), THRESHOLDS)
    assert result.ks_pvalue is not None
    assert result.ks_pvalue < 1e-6


@pytest.mark.parametrize(
    ("reference", "live", "says"),
    [
        (np.full(100, np.nan), np.zeros(100), "0 training values"),
        (np.arange(100.0), np.array([]), "0 live values"),
        (np.arange(100.0), np.full(50, np.nan), "0 live values"),
        (np.arange(100.0), np.arange(10.0), "10 live values"),
    ],
)
def test_empty_or_nan_samples_are_no_data_in_words(reference: np.ndarray, live: np.ndarray, says: str) -> None:
    result = compare(summarise("f", reference), live, THRESHOLDS)
    assert result.method == "no_data"
    assert not result.drifted
    assert says in result.reason


def test_a_constant_feature_compares_without_dividing_by_zero() -> None:
    result = compare(summarise("f_neutral", np.zeros(500)), np.zeros(100), THRESHOLDS)
    assert result.method == "small"
    assert not result.drifted
    moved = compare(summarise("f_neutral", np.zeros(500)), np.ones(100), THRESHOLDS)
    assert moved.drifted


def test_drift_summarises_the_reference_once_and_stores_each_check(engine: Engine) -> None:
    version_id = seed_model(engine)
    source = PlantedFeatures(shift=1.0)
    clock = FixedClock(NOW)
    (first,) = check_drift(engine, Settings(), clock=clock, source=source)
    (second,) = check_drift(engine, Settings(), clock=FixedClock(NOW + timedelta(hours=1)), source=source)
    assert source.reference_calls == 1
    assert first.alert is not None
    assert first.alert.key == f"drift:{version_id}"
    assert first.alert.details["features"] == ["f_shifted"]
    assert second.alert is not None
    with engine.connect() as conn:
        assert len(conn.execute(select(drift_references)).all()) == 2
        stored = conn.execute(select(drift_results.c.feature, drift_results.c.drifted)).all()
    assert sorted(stored) == [("f_shifted", True), ("f_shifted", True), ("f_stable", False), ("f_stable", False)]


def test_drift_with_too_few_live_rows_is_no_data(engine: Engine) -> None:
    seed_model(engine)
    (report,) = check_drift(engine, Settings(), clock=FixedClock(NOW), source=PlantedFeatures(3.0, live_rows=5))
    assert report.alert is None
    assert "no data: 5 live row(s), need 30" in report.message


def test_exposure_and_daily_loss_against_their_limits(engine: Engine) -> None:
    settings = Settings()  # open exposure limit 200.00, daily loss limit 50.00, warn at 80 %
    seed_bets(engine, pnl_cents=[None] * 17, clv=[None] * 17, settled_at=[None] * 17)  # 170.00 open
    result = check_exposure(engine, settings, "paper", clock=FixedClock(NOW))
    assert result.status == "alert"
    (spec,) = result.alerts
    assert (spec.kind, spec.severity) == ("exposure", Severity.WARNING)
    seed_bets(
        engine, pnl_cents=[-1000] * 6, clv=[0.0] * 6, settled_at=[NOW - timedelta(hours=1)] * 6, first_event_id=100
    )
    seed_bets(engine, pnl_cents=[None] * 4, clv=[None] * 4, settled_at=[None] * 4, first_event_id=200)  # 210.00 open
    kinds = {s.kind: s for s in check_exposure(engine, settings, "paper", clock=FixedClock(NOW)).alerts}
    assert kinds["exposure"].severity is Severity.CRITICAL
    assert kinds["daily_loss"].severity is Severity.CRITICAL
    assert kinds["daily_loss"].key == f"daily_loss:paper:{NOW.date().isoformat()}"


def test_clv_turning_negative_needs_the_whole_interval_below_zero(engine: Engine) -> None:
    settings = Settings()
    rng = np.random.default_rng(2)
    settled = [NOW - timedelta(minutes=i) for i in range(200)]
    seed_bets(engine, pnl_cents=[100] * 200, clv=list(rng.normal(0.01, 0.05, 200)), settled_at=settled)
    assert check_clv(engine, settings, "paper").status == "ok"
    later = [NOW + timedelta(minutes=i) for i in range(200)]
    seed_bets(
        engine, pnl_cents=[100] * 200, clv=list(rng.normal(-0.03, 0.05, 200)), settled_at=later, first_event_id=1000
    )
    result = check_clv(engine, settings, "paper")
    assert result.status == "alert"
    assert result.alerts[0].details["high"] < 0
    assert check_clv(engine, settings, "backtest:none").status == "no_data"


def test_a_loss_streak_is_flagged_only_when_every_recent_bet_lost(engine: Engine) -> None:
    settings = Settings()
    seed_bets(
        engine, pnl_cents=[-500] * 9 + [900], clv=[0.0] * 10, settled_at=[NOW - timedelta(hours=i) for i in range(10)]
    )
    assert check_loss_streak(engine, settings, "paper").status == "ok"
    seed_bets(engine, pnl_cents=[-500], clv=[0.0], settled_at=[NOW + timedelta(hours=1)], first_event_id=50)
    seed_bets(engine, pnl_cents=[-500], clv=[0.0], settled_at=[NOW + timedelta(hours=2)], first_event_id=51)
    result = check_loss_streak(engine, settings, "paper")
    assert result.status == "alert"
    assert "50.00" in result.message


def test_stale_odds_and_failed_ingests_and_jobs_are_flagged(engine: Engine) -> None:
    (event_id,) = seed_events(engine, [NOW - timedelta(days=3)])
    with engine.begin() as conn:
        book = conn.execute(
            insert(bookmakers).values(key="pinnacle", name="Pinnacle", is_aggregate=False).returning(bookmakers.c.id)
        ).scalar_one()
        conn.execute(
            insert(odds_snapshots),
            [
                {"event_id": event_id, "bookmaker_id": book, "market": "1x2", "selection": "home", "line": 0.0}
                | {"price": 2.0, "kind": "pre", "captured_at": at, "source": source}
                for source, at in (("odds_api", NOW - timedelta(hours=2)), ("football_data", NOW - timedelta(days=3)))
            ],
        )
        conn.execute(
            insert(ingest_runs),
            [
                {"source": "odds_api", "locator": "x", "started_at": NOW - timedelta(hours=1)}
                | {"finished_at": NOW - timedelta(hours=1), "status": "failed", "message": "HTTP 401"},
                {"source": "odds_api", "locator": "x", "started_at": NOW - timedelta(hours=3)}
                | {"finished_at": NOW - timedelta(hours=3), "status": "ok", "message": None},
            ],
        )
    clock = FixedClock(NOW)
    fresh = {r.name: r for r in check_freshness(engine, Settings(), clock=clock)}
    assert fresh["freshness:odds:odds_api"].status == "ok"
    assert fresh["freshness:odds:football_data"].status == "alert"
    assert fresh["freshness:ingest:odds_api"].status == "ok"
    jobs = {r.name: r for r in check_jobs(engine, Settings(), clock=clock)}
    assert jobs["ingest:odds_api"].status == "alert"
    assert "HTTP 401" in jobs["ingest:odds_api"].message
    if "job_runs" in metadata.tables:
        job_runs: Table = metadata.tables["job_runs"]
        with engine.begin() as conn:
            conn.execute(
                insert(job_runs).values(
                    job="settle", started_at=NOW - timedelta(hours=2), status="failed", error="boom"
                )
            )
        jobs = {r.name: r for r in check_jobs(engine, Settings(), clock=clock)}
        assert jobs["job:settle"].alerts[0].key == "job_failed:settle"


def test_jobs_check_tolerates_a_store_without_a_job_runs_table(sqlite_engine: Engine) -> None:
    with sqlite_engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS job_runs")
    results = check_jobs(sqlite_engine, Settings(), clock=FixedClock(datetime(2025, 1, 1, tzinfo=UTC)))
    assert results[0].status == "no_data"
    assert "no job_runs table" in results[0].message
