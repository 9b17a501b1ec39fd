"""Backtest benchmark on the shared data: the truth check against EVALUATION.md's reference strategy, the market-leg
strategy tables of docs/backtest.md (tuning seasons 2013-14 .. 2015-16 and untouched 2016-17 on, paired CLV
differences to the reference at the same threshold and at equal bet counts), the 6 leagues x 10 seasons
monthly-refit timing (Elo-logit blend + market, on Dask and in process, with the load average; GBM refitted yearly),
and the issue 15 speed row: the default strategy (line shopping over the five soft books, Kelly 0.25, t = 0.02) as one
account over 6 leagues x 10 seasons, in process, wall and CPU per phase (``--one-account`` runs only that row; run it
with ``PYTHONPATH=<an older checkout>/src`` to time older code on the same store).

Uses the store named by BETPIPE_BENCH_STORE (a directory holding betpipe.sqlite with football-data ingested) or
ingests ../shared/data into a temporary one first (not timed). Reports go to bench/results/backtest/.
"""

from __future__ import annotations

import json
import os
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

Row = dict[str, Any]
LEAGUES = ("E0", "E1", "SP1", "D1", "I1", "F1")
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "football-data"
OUT = Path(__file__).with_name("results") / "backtest"
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


CUT = "2016-07-01"  # tuning seasons 2013-14 .. 2015-16 before it, untouched seasons 2016-17 .. 2022-23 after
# Market-leg candidates (label, margin method, consensus weight); the pool weight and method were chosen on the
# tuning seasons only (docs/backtest.md), the untouched seasons are reported separately.
CANDIDATES = (
    ("reference", "multiplicative", 0.0),
    ("shin", "shin", 0.0),
    ("mult+consensus@0.25", "multiplicative", 0.25),
    ("mult+consensus@0.5", "multiplicative", 0.5),
    ("shin+consensus@0.25", "shin", 0.25),
    ("shin+consensus@0.5", "shin", 0.5),
)
CHOSEN = ("shin+consensus@0.25", "shin", 0.25)


def _period_rows(reports: list[Any], threshold: float) -> list[Row]:
    """Each strategy's figures on the tuning and the untouched seasons, paired with the reference both ways."""
    from datetime import datetime

    import polars as pl

    from betpipe.backtest import equal_count_clv_difference, paired_clv_difference, summarise

    cut = datetime.fromisoformat(CUT + "T00:00:00+00:00")
    by_name = {r.name.split("|")[0]: r for r in reports}
    reference = by_name.get(f"reference t={threshold:g}")
    rows = []
    for period, keep in (("tune", pl.col("kickoff_utc") < cut), ("untouched", pl.col("kickoff_utc") >= cut)):
        ref = None if reference is None else reference.bets.filter(keep)
        for name, report in by_name.items():
            bets = report.bets.filter(keep)
            summary = summarise(bets, starting_bankroll=6000.0)
            row = _row(f"{period} {name}", _Summary(summary.to_json()))
            if ref is not None and report is not reference:
                for key, diff in (("vs_ref_same_t_%", paired_clv_difference), ("vs_ref_equal_n_%", None)):
                    d = paired_clv_difference(bets, ref) if diff else equal_count_clv_difference(bets, ref)
                    row[key] = None if d is None else f"{100 * d.mean:+.2f} [{100 * d.low:+.2f}, {100 * d.high:+.2f}]"
            rows.append(row)
    return rows


class _Summary:
    def __init__(self, summary: dict[str, Any]) -> None:
        self.summary = summary


def _market_specs(span: dict[str, Any], threshold: float, book: str = "bet365") -> list[Any]:
    from betpipe.backtest import BacktestSpec

    candidates = CANDIDATES if book == "bet365" else (CHOSEN,)
    return [
        BacktestSpec(
            strategy="market", market_method=method, consensus_weight=weight, min_edge=threshold, book=book,
            label=f"{label} t={threshold:g}" + ("" if book == "bet365" else f" at {book}"), **span,
        )
        for label, method, weight in candidates
    ]  # fmt: skip


def run(quick: bool = False) -> list[Row]:
    from betpipe.backtest import UNCAPPED_LIMITS, BacktestSpec

    settings = _settings()
    rows: list[Row] = []
    flat = {"staking": "flat:1,simultaneous", "limits": UNCAPPED_LIMITS, "competitions": LEAGUES}
    # 1. Truth: EVALUATION.md's "Pinnacle-fair value at Bet365", flat 1, t = 0 and 0.02, 2012-13 .. 2022-23.
    for t, (bets, clv) in REFERENCE.items():
        spec = BacktestSpec(first_season="2012-2013", last_season="2022-2023", strategy="market", min_edge=t, **flat)
        (report,), seconds = _run([spec], settings, f"reference_t{t:g}")
        row = _row(f"reference market t={t:g} (EVALUATION: {bets} bets, CLV {100 * clv:+.2f} %)", report, seconds)
        row["clv_minus_reference"] = round(report.summary["mean_clv"]["mean"] - clv, 4)
        rows.append(row)
    span = {"first_season": "2013-2014", "last_season": "2022-2023", "competitions": LEAGUES}
    # 2. Strategy table (docs/backtest.md): flat stakes, 2013-14 on, tuning vs untouched seasons, paired vs reference.
    market_span = {**span, **flat}
    for t in (0.0, 0.02):
        specs = _market_specs(market_span, t) + _market_specs(market_span, t, book="pinnacle")
        reports, _ = _run(specs, settings, f"strategies_t{t:g}", executor="local")
        for report in reports:
            row = _row(f"table: {report.name}", report)
            diffs = [v for v in _paired(report).values() if v]
            if diffs:
                d = diffs[0]
                row["clv_vs_reference_%"] = f"{100 * d['mean']:+.2f} [{100 * d['low']:+.2f}, {100 * d['high']:+.2f}]"
            rows.append(row)
        rows += _period_rows([r for r in reports if "pinnacle" not in r.name], t)
    # 3. Speed: 6 leagues x 10 seasons, monthly refits, Elo-logit blend + market (Kelly 0.25), with the load average.
    elo = [
        BacktestSpec(strategy="market", **span, **{"staking": "kelly:0.25"}),
        BacktestSpec(strategy="blend", model="elo_logit", market_weight=0.5, refit_days=30, **span),
    ]
    for executor in ("local", "inprocess"):
        load = os.getloadavg()[0]
        reports, seconds = _run(elo, settings, f"speed_elo_{executor}", executor=executor)
        for r in reports:
            row = _row(f"6x10 monthly, {executor}: {r.name}", r, seconds)
            row["load_avg_1m_before"] = round(load, 1)
            rows.append(row)
        if quick:
            break
    # 4. Issue 15 item 6: the default strategy as one account with line shopping, CPU and wall per phase.
    rows += one_account_rows(settings, repeats=1 if quick else 3)
    if not quick:
        gbm = [BacktestSpec(strategy="blend", model="gbm", market_weight=0.5, refit_days=365, **span)]
        reports, seconds = _run(gbm, settings, "speed_gbm_yearly", executor="local")
        rows += [_row(f"6x10 yearly refits, Dask: {r.name}", r, seconds) for r in reports]
    return rows


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def one_account_rows(settings: Any, repeats: int = 3) -> list[Row]:
    """The default strategy over 6 leagues x 10 seasons as one account, in this process: per repeat, wall and CPU
    (user + sys of the process, polars' threads included) and the run's own phase timings, with the load average."""
    from betpipe.backtest import BacktestSpec, run
    from betpipe.db import make_engine

    spec = BacktestSpec(competitions=LEAGUES, first_season="2013-2014", last_season="2022-2023")
    engine = make_engine(settings.effective_database_url)
    scratch = Path(tempfile.mkdtemp(prefix="bench_backtest_one_account_"))
    rows = []
    for repeat in range(repeats):
        load_before = os.getloadavg()[0]
        wall, cpu = time.perf_counter(), _cpu()
        result = run(spec, engine=engine, settings=settings, ledger_path=scratch / f"{repeat}.sqlite")
        wall, cpu = time.perf_counter() - wall, _cpu() - cpu
        clv = result.bets.get_column("clv").drop_nulls()
        rows.append(
            {
                "benchmark": f"6x10 one account, line shopping, default strategy (repeat {repeat + 1})",
                "bets": result.bets.height,
                "mean_clv_%": round(100 * float(clv.mean()), 3) if clv.len() else None,  # type: ignore[arg-type]
                "stake_sum": round(float(result.bets.get_column("stake").sum()), 2),
                "wall_s": round(wall, 1),
                "cpu_s": round(cpu, 1),
                **{f"{k}_wall_s": round(v, 1) for k, v in result.seconds.items() if k != "total"},
                "load_avg_1m_before": round(load_before, 1),
                "load_avg_1m_after": round(os.getloadavg()[0], 1),
            }
        )
    engine.dispose()
    return rows


def _paired(report: Any) -> dict[str, Any]:
    import json

    document = json.loads(report.json_path.read_text())
    return dict(document["paired_clv_difference"])


if __name__ == "__main__":
    import sys

    if "--one-account" in sys.argv:  # only the issue 15 speed row, JSON to the path after --out (if given)
        found = one_account_rows(_settings(), repeats=int(os.environ.get("BENCH_REPEATS", "3")))
        if "--out" in sys.argv:
            Path(sys.argv[sys.argv.index("--out") + 1]).write_text(json.dumps(found, indent=2) + "\n")
        for line in found:
            print(line)
    else:
        for line in run(quick="--quick" in sys.argv):
            print(line)
