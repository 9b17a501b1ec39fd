"""Monitoring metrics and cycle on SQLite and PostgreSQL: scores that equal modeling.metrics, money from the ledger,
idempotent daily rows, and "no data" in words (never a traceback) for an empty store, one day, no settled events, NaN.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, select

from betpipe.clock import FixedClock
from betpipe.config import Settings
from betpipe.db.schema import metadata, results
from betpipe.db.schema_monitoring import model_daily_metrics
from betpipe.modeling.metrics import brier, ece, log_loss, rps
from betpipe.monitoring import LogChannel, daily_metrics, run_cycle, update_daily_metrics
from betpipe.monitoring.metrics import grouped_ece
from betpipe.registry.shadow import outcome_1x2
from fakes.monitoring_data import NOW, seed_bets, seed_events, seed_model, seed_predictions

MONITORING_TABLES = {"model_daily_metrics", "drift_references", "drift_results", "alerts", "alert_deliveries"}


def _metric_rows(engine: Engine) -> list[dict[str, object]]:
    with engine.connect() as conn:
        rows = conn.execute(select(model_daily_metrics).order_by(model_daily_metrics.c.id)).mappings().all()
    return [{k: v for k, v in row.items() if k not in {"id", "computed_at"}} for row in rows]


def test_migration_0005_creates_exactly_the_declared_monitoring_tables(engine: Engine) -> None:
    """A hand-written migration that drifts from schema_monitoring would break the next autogenerate."""
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    ours = [d for d in diff if any(t in repr(d) for t in MONITORING_TABLES)]
    assert ours == []


def test_an_empty_store_gives_no_data_in_words_and_no_error(engine: Engine) -> None:
    report = run_cycle(engine, Settings(), clock=FixedClock(NOW), channels=[LogChannel()])
    assert report.errors == []
    assert report.metrics is not None
    assert report.metrics.message.startswith("no data")
    text = "\n".join(report.lines())
    assert "drift: no data" in text
    assert all(c.status in {"no_data", "ok"} for c in report.checks)
    assert {c.name for c in report.checks if c.status == "no_data"} >= {"risk:paper", "clv:paper", "loss_streak:paper"}
    assert report.raised is not None
    assert report.raised.new_alert_ids == ()


def test_one_day_of_predictions_and_bets_is_scored_exactly_as_modeling_metrics(engine: Engine) -> None:
    kickoff = NOW - timedelta(hours=5)
    ids = seed_events(engine, [kickoff + timedelta(minutes=i) for i in range(40)])
    version_id = seed_model(engine)
    probabilities = seed_predictions(engine, version_id, ids)
    seed_bets(
        engine,
        pnl_cents=[1100, -1000, -1000, 0],
        clv=[0.02, -0.01, 0.03, None],
        settled_at=[NOW - timedelta(hours=1)] * 4,
        model_version=version_id,
    )
    report, _ = update_daily_metrics(engine, accounts=["paper"], lookback_days=7, clock=FixedClock(NOW))
    assert report.scored == 40
    rows = _metric_rows(engine)
    assert len(rows) == 1
    row = rows[0]
    with engine.connect() as conn:
        scores = conn.execute(
            select(results.c.home_score, results.c.away_score)
            .where(results.c.event_id.in_(ids))
            .order_by(results.c.event_id)
        ).all()
    labels = outcome_1x2(pl.DataFrame({"home_score": [s[0] for s in scores], "away_score": [s[1] for s in scores]}))
    assert row["predictions"] == 40
    assert row["settled_events"] == 40
    assert row["brier"] == pytest.approx(brier(probabilities, labels), rel=1e-12)
    assert row["log_loss"] == pytest.approx(log_loss(probabilities, labels), rel=1e-12)
    assert row["rps"] == pytest.approx(rps(probabilities, labels), rel=1e-12)
    assert row["ece"] == pytest.approx(ece(probabilities, labels), rel=1e-12)
    assert (row["bets"], row["staked_cents"], row["pnl_cents"]) == (4, 4000, -900)
    assert row["roi"] == pytest.approx(-900 / 4000)
    assert row["mean_clv"] == pytest.approx(0.04 / 3)


def test_rerunning_the_metrics_changes_nothing(engine: Engine) -> None:
    ids = seed_events(engine, [NOW - timedelta(days=d, hours=2) for d in range(3) for _ in range(5)])
    seed_predictions(engine, seed_model(engine), ids)
    clock = FixedClock(NOW)
    update_daily_metrics(engine, accounts=["paper"], lookback_days=7, clock=clock)
    first = _metric_rows(engine)
    update_daily_metrics(engine, accounts=["paper"], lookback_days=7, clock=FixedClock(NOW + timedelta(minutes=5)))
    assert _metric_rows(engine) == first
    assert len(first) == 3


def test_a_model_with_no_settled_events_reports_counts_and_stores_null_scores(engine: Engine) -> None:
    ids = seed_events(engine, [NOW + timedelta(hours=h) for h in range(1, 6)], settled=False)
    seed_predictions(engine, seed_model(engine), ids)
    report, _ = update_daily_metrics(engine, accounts=["paper"], lookback_days=7, clock=FixedClock(NOW))
    assert report.message == "5 prediction(s), none settled yet: no scores to report"
    (row,) = _metric_rows(engine)
    assert (row["predictions"], row["settled_events"]) == (5, 0)
    assert row["brier"] is None
    assert row["ece"] is None
    assert row["roi"] is None


def test_bets_with_nan_clv_and_no_stake_store_null_not_nan(engine: Engine) -> None:
    seed_bets(engine, pnl_cents=[0, 0], clv=[float("nan"), None], settled_at=[NOW] * 2, stake_cents=0)
    update_daily_metrics(engine, accounts=["paper"], lookback_days=1, clock=FixedClock(NOW))
    (row,) = _metric_rows(engine)
    assert row["bets"] == 2
    assert row["mean_clv"] is None
    assert row["roi"] is None


def test_nan_probabilities_are_left_out_of_the_scores_not_propagated() -> None:
    day = NOW.date()
    predictions = pl.DataFrame(
        {
            "version_id": [1, 1],
            "market": ["1x2", "1x2"],
            "competition": ["E0", "E0"],
            "status": ["finished", "finished"],
            "probabilities": [[float("nan"), 0.5, 0.5], [0.6, 0.2, 0.2]],
            "home_score": [1, 2],
            "away_score": [0, 0],
            "day": [day, day],
        }
    )
    empty_bets = pl.DataFrame(
        schema={"day": pl.Date, "version_id": pl.Int64, "competition": pl.String}
        | {"stake_cents": pl.Int64, "pnl_cents": pl.Int64, "clv": pl.Float64}
    )
    frame = daily_metrics(predictions, empty_bets)
    assert frame.row(0, named=True)["predictions"] == 2
    assert frame.row(0, named=True)["settled_events"] == 1
    assert frame.row(0, named=True)["brier"] == pytest.approx(brier(np.array([[0.6, 0.2, 0.2]]), np.array([0])))


def test_grouped_ece_equals_the_modeling_definition_for_every_group() -> None:
    rng = np.random.default_rng(3)
    p = rng.dirichlet([3, 2, 3], size=900)
    y = rng.integers(0, 3, size=900)
    group = rng.integers(0, 7, size=900)
    table = grouped_ece(p, y, group)
    for g, value in table.iter_rows():
        mask = group == g
        assert value == pytest.approx(ece(p[mask], y[mask]), rel=1e-12)
