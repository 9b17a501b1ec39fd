"""Backtest of line-market strategies on the shared data (issue 18 item 3): the CLV per market of strategies that
list O/U 2.5 and Asian handicap, priced from the market-implied grid (Pinnacle pre-match 1X2 + O/U 2.5 + its main
AH line where quoted, quarter lines included) and taken at the best of the five soft books' prices where
football-data has them (O/U and AH: Bet365 alone from 2019-20). AH rows are also split by the bet's line: whole or
half (``asian_handicap: whole/half``) and quarter (``asian_handicap: quarter``).

Protocol: 6 leagues, 2019-20..2022-23 (P>2.5 exists from 2019-20), flat stakes of 10, limits lifted
(``UNCAPPED_LIMITS``), CLV against the margin-free (multiplicative) Pinnacle close of the same line, 2,000-resample
bootstrap 95 % CI over bets. Uses the store named by BETPIPE_BENCH_STORE (betpipe.sqlite with football-data
ingested and features built). Writes bench/results/backtest_lines.{json,md}; CPU time and load average beside.

    BETPIPE_BENCH_STORE=/path/to/store .venv/bin/python -m bench.bench_backtest_lines
"""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

OUT = Path(__file__).with_name("results")
LEAGUES = ("E0", "SP1", "D1", "I1", "F1", "E1")
SPAN = ("2019-2020", "2022-2023")
RUNS: list[tuple[str, tuple[str, ...], float]] = [
    ("O/U 2.5, t = 0", ("total",), 0.0),
    ("O/U 2.5, t = 0.02", ("total",), 0.02),
    ("Asian handicap, t = 0", ("asian_handicap",), 0.0),
    ("1X2 + O/U + AH, t = 0.02", ("1x2", "total", "asian_handicap"), 0.02),
]


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _ci(values: np.ndarray[Any, Any]) -> tuple[float, float, float]:
    from betpipe.modeling.metrics import bootstrap_mean_ci

    (ci,) = bootstrap_mean_ci(values.reshape(-1, 1))
    return float(ci.mean), float(ci.low), float(ci.high)


def main() -> None:
    from betpipe.backtest.simulate import run
    from betpipe.backtest.spec import UNCAPPED_LIMITS, BacktestSpec
    from betpipe.config import Settings
    from betpipe.db import make_engine

    store = os.environ.get("BETPIPE_BENCH_STORE")
    if not store:
        sys.exit("set BETPIPE_BENCH_STORE to a store with football-data ingested (see bench/bench_backtest.py)")
    root = Path(store)
    scratch = Path(tempfile.mkdtemp(prefix="bench_lines_"))
    settings = Settings(data_dir=scratch, database_url=f"sqlite:///{root / 'betpipe.sqlite'}")
    engine = make_engine(settings.effective_database_url)
    rows: list[dict[str, Any]] = []
    for name, markets, threshold in RUNS:
        spec = BacktestSpec(
            competitions=LEAGUES, first_season=SPAN[0], last_season=SPAN[1], markets=markets, min_edge=threshold,
            staking="flat:10", limits=dict(UNCAPPED_LIMITS),
        )  # fmt: skip
        load, cpu, wall = os.getloadavg()[0], _cpu(), time.perf_counter()
        result = run(spec, engine=engine, settings=settings, ledger_path=scratch / f"{spec.run_id}.sqlite")
        seconds, cpu = time.perf_counter() - wall, _cpu() - cpu
        bets = result.bets.filter(pl.col("clv").is_not_null())
        quarter = ((pl.col("line") * 2).round(0) != pl.col("line") * 2).fill_null(False)
        split = bets.filter(pl.col("market") == "asian_handicap").with_columns(
            pl.when(quarter)
            .then(pl.lit("asian_handicap: quarter"))
            .otherwise(pl.lit("asian_handicap: whole/half"))
            .alias("market")
        )
        groups = sorted([*bets.group_by("market"), *split.group_by("market")], key=lambda g: str(g[0][0]))
        for (market,), group in groups:
            clv = group.get_column("clv").to_numpy()
            mean, low, high = _ci(clv)
            rows.append(
                {
                    "run": name, "market": market, "bets": int(clv.size), "clv": mean, "clv_low": low,
                    "clv_high": high, "roi": float(group.get_column("pnl").sum() / group.get_column("stake").sum()),
                    "wall_s": round(seconds, 1), "cpu_s": round(cpu, 1), "load_1m_before": round(load, 1),
                }
            )  # fmt: skip
        print(rows[-1] if rows else name, flush=True)
    engine.dispose()
    OUT.mkdir(exist_ok=True)
    (OUT / "backtest_lines.json").write_text(json.dumps(rows, indent=2) + "\n")
    lines = [
        "| run | market | bets | mean CLV [95% CI] | ROI | wall s | CPU s | load (1 min) |",
        "|---|---|---:|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['run']} | {r['market']} | {r['bets']:,} | {r['clv']:+.2%} "
        f"[{r['clv_low']:+.2%}, {r['clv_high']:+.2%}] | {r['roi']:+.1%} | {r['wall_s']} | {r['cpu_s']} "
        f"| {r['load_1m_before']} |"
        for r in rows
    ]
    (OUT / "backtest_lines.md").write_text("\n".join(lines).replace("%", " %") + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
