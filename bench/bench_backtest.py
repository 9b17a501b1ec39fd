"""Backtest benchmark on the shared data: the truth check against EVALUATION.md's reference strategy, the 6 leagues x
10 seasons monthly-refit timing (Elo-logit blend + market, and GBM), and the strategy table of docs/backtest.md.

Uses the store named by BETPIPE_BENCH_STORE (a directory holding betpipe.sqlite with football-data ingested) or
ingests ../shared/data into a temporary one first (not timed). Reports go to bench/results/backtest/.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

Row = dict[str, Any]
LEAGUES = ("E0", "E1", "SP1", "D1", "I1", "F1")
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "football-data"
OUT = Path(__file__).with_name("results") / "backtest"
FLAT_LIMITS = {
    "max_bets_per_event": "3",
    "max_bets_per_day": "100000",
    "max_open_exposure": "1000000",
    "max_event_exposure": "1000000",
    "max_competition_exposure": "1000000",
    "daily_loss_limit": "1000000",
    "bankroll_floor": "-1000000",
    "max_stake": "1000000",
}
REFERENCE = {0.0: (4212, 0.0080), 0.02: (1620, 0.0275)}


def _settings() -> Any:
    from betpipe.config import Settings
    from betpipe.db import make_engine, upgrade
    from betpipe.features import build_features
    from betpipe.ingest.football_data import ingest_football_data

    configured = os.environ.get("BETPIPE_BENCH_STORE")
    root = Path(configured) if configured else Path(tempfile.mkdtemp(prefix="bench_backtest_"))
    settings = Settings(data_dir=root, database_url=f"sqlite:///{root / 'betpipe.sqlite'}")
    if not (root / "betpipe.sqlite").is_file():
        engine = make_engine(settings.effective_database_url)
        upgrade(engine)
        ingest_football_data(engine, [SHARED])
        build_features(engine, sport="soccer", settings=settings)
        engine.dispose()
    return settings


def _row(name: str, report: Any, seconds: float | None = None) -> Row:
    s = report.summary
    clv, yld = s["mean_clv"] or {}, s["yield"] or {}
    return {
        "benchmark": name,
        "bets": s["bets"],
        "mean_clv_%": None if not clv else round(100 * clv["mean"], 2),
        "clv_ci_%": None if not clv else f"[{100 * clv['low']:+.2f}, {100 * clv['high']:+.2f}]",
        "clv>0_%": None if s["clv_positive_share"] is None else round(100 * s["clv_positive_share"], 1),
        "yield_%": None if not yld else round(100 * yld["mean"], 1),
        "yield_ci_%": None if not yld else f"[{100 * yld['low']:+.1f}, {100 * yld['high']:+.1f}]",
        "max_dd_%": round(100 * s["max_drawdown"], 1),
        "seconds": None if seconds is None else round(seconds, 1),
    }


def _run(specs: list[Any], settings: Any, name: str, executor: str = "inprocess") -> tuple[list[Any], float]:
    from betpipe.backtest import run_many, write_reports

    started = time.perf_counter()
    scratch = Path(tempfile.mkdtemp(prefix="bench_backtest_ledgers_"))  # per-run SQLite ledgers stay out of the repo
    results = run_many(specs, settings=settings, out_dir=scratch, executor=executor)  # type: ignore[arg-type]
    seconds = time.perf_counter() - started
    reference = specs[0].name if len(specs) > 1 else None
    return write_reports(results, out_dir=OUT / name, reference=reference), seconds


def run(quick: bool = False) -> list[Row]:
    from betpipe.backtest import BacktestSpec

    settings = _settings()
    rows: list[Row] = []
    flat = {"staking": "flat:1,simultaneous", "limits": FLAT_LIMITS, "competitions": LEAGUES}
    # 1. Truth: EVALUATION.md's "Pinnacle-fair value at Bet365", flat 1, t = 0 and 0.02, 2012-13 .. 2022-23.
    for t, (bets, clv) in REFERENCE.items():
        spec = BacktestSpec(first_season="2012-2013", last_season="2022-2023", strategy="market", min_edge=t, **flat)
        (report,), seconds = _run([spec], settings, f"reference_t{t:g}")
        row = _row(f"reference market t={t:g} (EVALUATION: {bets} bets, CLV {100 * clv:+.2f} %)", report, seconds)
        row["clv_minus_reference"] = round(report.summary["mean_clv"]["mean"] - clv, 4)
        rows.append(row)
    # 2. Speed: 6 leagues x 10 seasons, monthly refits, on a local Dask cluster (2 workers), cluster start included.
    span = {"first_season": "2013-2014", "last_season": "2022-2023", "competitions": LEAGUES}
    elo = [
        BacktestSpec(strategy="market", **span, **{"staking": "kelly:0.25"}),
        BacktestSpec(strategy="blend", model="elo_logit", market_weight=0.5, refit_days=30, **span),
    ]
    reports, seconds = _run(elo, settings, "speed_elo", executor="local")
    rows += [_row(f"6x10 monthly, Dask: {r.name}", r, seconds) for r in reports]
    if not quick:
        gbm = [BacktestSpec(strategy="blend", model="gbm", market_weight=0.5, refit_days=30, **span)]
        reports, seconds = _run(gbm, settings, "speed_gbm", executor="local")
        rows += [_row(f"6x10 monthly, Dask: {r.name}", r, seconds) for r in reports]
    # 3. Strategy table (docs/backtest.md): flat stakes, t = 0.02, 2013-14 on; paired CLV vs the market strategy.
    table = [
        BacktestSpec(strategy="market", min_edge=0.02, **{**span, **flat}),
        *[
            BacktestSpec(strategy="blend", model="elo_logit", market_weight=w, min_edge=0.02, **{**span, **flat})
            for w in (0.5, 0.8, 0.9)
        ],
        BacktestSpec(strategy="model", model="elo_logit", min_edge=0.02, **{**span, **flat}),
        BacktestSpec(strategy="market", min_edge=0.02, book="pinnacle", **{**span, **flat}),
    ]
    reports, seconds = _run(table, settings, "strategies", executor="local")
    for report in reports:
        row = _row(f"table: {report.name}", report)
        diffs = [v for v in _paired(report).values() if v]
        if diffs:
            d = diffs[0]
            row["clv_vs_market_%"] = f"{100 * d['mean']:+.2f} [{100 * d['low']:+.2f}, {100 * d['high']:+.2f}]"
        rows.append(row)
    return rows


def _paired(report: Any) -> dict[str, Any]:
    import json

    document = json.loads(report.json_path.read_text())
    return dict(document["paired_clv_difference"])


if __name__ == "__main__":
    for line in run(quick=False):
        print(line)
