"""Benchmark: one monitoring cycle over 50,000 served predictions and 10,000 settled bets (target < 5 s, 2 cores).

Synthetic rows are inserted in bulk into a fresh, migrated store (a temporary SQLite file; PostgreSQL too when
``BETPIPE_BENCH_DATABASE_URL`` is set): 50,000 events over 30 days in 6 competitions with results, a champion and a
challenger each serving half of them, 10,000 settled bets. The cycle recomputes 30 days of daily metrics, checks
drift of 12 features (20,000 training rows, 5,000 live rows, given in memory: the feature-store build is
benchmarked in bench_features), runs every check and raises and delivers its alerts to the log channel. The first
cycle summarises the drift reference; the second is the steady state. Seeding time is reported, not counted.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import Engine, insert

from bench.bench_ingest import fresh_postgres, fresh_sqlite
from betpipe.clock import FixedClock
from betpipe.config import MonitoringSettings, Settings
from betpipe.db.schema import competitions, events, results, teams
from betpipe.db.schema_betting import bets
from betpipe.db.schema_registry import model_aliases, model_versions, shadow_predictions
from betpipe.monitoring import LogChannel, run_cycle
from betpipe.registry.versions import ModelVersion

Row = dict[str, object]
NOW = datetime(2025, 3, 31, 12, 0, tzinfo=UTC)
DAYS = 30
FEATURES = 12


def _seed(engine: Engine, n_predictions: int, n_bets: int) -> None:
    rng = np.random.default_rng(0)
    start = NOW - timedelta(days=DAYS - 1, hours=10)
    offsets = np.sort(rng.uniform(0, (DAYS - 1) * 86400 + 30000, n_predictions))
    kickoffs = [start + timedelta(seconds=float(s)) for s in offsets]
    comp_of = rng.integers(1, 7, n_predictions)
    scores = rng.poisson(1.4, size=(n_predictions, 2))
    probabilities = rng.dirichlet([4.0, 2.5, 3.0], size=n_predictions)
    with engine.begin() as conn:
        conn.execute(
            insert(competitions), [{"id": i, "sport": "soccer", "code": f"C{i}", "name": f"C{i}"} for i in range(1, 7)]
        )
        conn.execute(insert(teams), [{"id": i, "sport": "soccer", "name": f"T{i}"} for i in (1, 2)])
        conn.execute(
            insert(events),
            [
                {"id": i + 1, "natural_key": f"bench:{i}", "sport": "soccer", "competition_id": int(comp_of[i])}
                | {"kickoff_utc": kickoffs[i], "kickoff_time_known": True, "home_team_id": 1, "away_team_id": 2}
                | {"status": "finished", "neutral_site": False, "source": "bench"}
                for i in range(n_predictions)
            ],
        )
        conn.execute(
            insert(results),
            [
                {"event_id": i + 1, "home_score": int(h), "away_score": int(a), "source": "bench"}
                for i, (h, a) in enumerate(scores)
            ],
        )
        lineage = {"start": "2020-01-01T00:00:00+00:00", "end": "2024-06-01T00:00:00+00:00", "row_count": 1}
        lineage |= {"data_hash": "bench", "feature_set_versions": {}, "seasons": []}
        for version, alias in ((1, "champion"), (2, "challenger")):
            conn.execute(
                insert(model_versions).values(
                    id=version, sport="soccer", market="1x2", model_type="bench", version=version,
                    artifact_sha256=f"{version:064d}", lineage=lineage, params={}, metrics={}, code_version="bench",
                    created_at=NOW - timedelta(days=60),
                )
            )  # fmt: skip
            conn.execute(
                insert(model_aliases).values(
                    sport="soccer", market="1x2", alias=alias, version_id=version, moved_at=NOW
                )
            )
        conn.execute(
            insert(shadow_predictions),
            [
                {"version_id": 1 + (i % 2), "event_id": i + 1, "probabilities": [float(x) for x in probabilities[i]]}
                | {"as_of": kickoffs[i] - timedelta(hours=2), "recorded_at": kickoffs[i] - timedelta(hours=2)}
                for i in range(n_predictions)
            ],
        )
        pnl = np.where(rng.random(n_bets) < 0.48, 1100, -1000)
        settled = [NOW - timedelta(seconds=float(s)) for s in rng.uniform(0, (DAYS - 1) * 86400, n_bets)]
        conn.execute(
            insert(bets),
            [
                {"idempotency_key": f"bench:{i}", "account": "paper", "event_id": i + 1, "market": "1x2"}
                | {"selection": "home", "line": 0.0, "requested_price_e4": 21000, "price_e4": 21000}
                | {"stake_cents": 1000, "probability": 0.5, "edge": 0.05, "book": "paper", "strategy": "bench"}
                | {"model_version": 1 + (i % 2), "competition": f"C{1 + i % 6}", "kickoff": settled[i]}
                | {"decision_time": settled[i] - timedelta(hours=3), "state": "won" if pnl[i] > 0 else "lost"}
                | {"created_at": settled[i] - timedelta(hours=3), "placed_at": settled[i] - timedelta(hours=3)}
                | {"settled_at": settled[i], "pnl_cents": int(pnl[i]), "clv": float(rng.normal(0.005, 0.05))}
                for i in range(n_bets)
            ],
        )


class SyntheticFeatures:
    """Training rows N(0, 1) and live rows with two of the twelve features shifted by half a standard deviation."""

    def reference(self, version: ModelVersion) -> pl.DataFrame:
        rng = np.random.default_rng(version.id)
        return pl.DataFrame({f"f_{j}": rng.normal(0, 1, 20_000) for j in range(FEATURES)})

    def live(self, version: ModelVersion, start: datetime, end: datetime) -> pl.DataFrame:
        rng = np.random.default_rng(100 + version.id)
        return pl.DataFrame({f"f_{j}": rng.normal(0.5 if j < 2 else 0.0, 1, 5_000) for j in range(FEATURES)})


def _cycles(engine: Engine, backend: str, n_predictions: int, n_bets: int) -> list[Row]:
    started = time.perf_counter()
    _seed(engine, n_predictions, n_bets)
    seed_seconds = time.perf_counter() - started
    settings = Settings(monitoring=MonitoringSettings(metrics_lookback_days=DAYS))
    rows: list[Row] = []
    for label, minutes in (("first cycle (builds drift references)", 0), ("steady-state cycle", 10)):
        clock = FixedClock(NOW + timedelta(minutes=minutes))
        started = time.perf_counter()
        report = run_cycle(engine, settings, clock=clock, channels=[LogChannel()], feature_source=SyntheticFeatures())
        seconds = time.perf_counter() - started
        if report.errors:
            raise RuntimeError("; ".join(report.errors))
        metrics: Any = report.metrics
        rows.append(
            {
                "benchmark": f"monitoring: {label}",
                "backend": backend,
                "predictions": n_predictions,
                "bets": n_bets,
                "metric rows": metrics.rows if metrics else 0,
                "alerts raised": len(report.raised.new_alert_ids) if report.raised else 0,
                "seconds": round(seconds, 3),
                "target s": 5.0,
                "seed s": round(seed_seconds, 1),
            }
        )
    return rows


def run(quick: bool = False) -> list[Row]:
    n_predictions, n_bets = (10_000, 2_000) if quick else (50_000, 10_000)
    with fresh_sqlite() as engine:
        rows = _cycles(engine, "sqlite", n_predictions, n_bets)
    url = os.environ.get("BETPIPE_BENCH_DATABASE_URL")
    if url:
        with fresh_postgres(url) as engine:
            rows += _cycles(engine, "postgresql", n_predictions, n_bets)
    return rows
