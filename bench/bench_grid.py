"""Grid benchmark (issue 15 item 6): a grid of 50 market-leg strategies over the six leagues, 2013-14 .. 2022-23, on
a 2-worker local Dask cluster, as ``betpipe backtest --grid`` runs it: wall and CPU time (this process and the
workers it started), the load average before and after, and the grid's adjusted verdict. Goal: < 10 min.
``run_s`` is the runs with each strategy's report built in its task on the workers, as ``--grid`` does
(``run_many(reports=True)``); ``wall_s`` adds writing the 50 JSON + HTML files and ``grid.json`` in this process.

``python -m bench grid`` (``--quick``: 6 strategies on E0 alone). ``BETPIPE_BENCH_GRID_STRATEGIES=N`` runs only the
first N strategies of the grid when the machine is too busy for all 50 (the row says how many ran). Uses the store
of BETPIPE_BENCH_STORE, or ingests ../shared/data into a temporary one (not timed), as bench_backtest does.
Reports go to bench/results/grid/.
"""

from __future__ import annotations

import json
import os
import resource
import time
from pathlib import Path
from typing import Any

from bench.bench_backtest import LEAGUES, _settings

Row = dict[str, Any]
OUT = Path(__file__).with_name("results") / "grid"
GOAL_SECONDS = 600.0
GRID: dict[str, Any] = {
    "base": {"source": "market", "staking": "flat:1"},
    "axes": {
        "min_edge": [0.0, 0.01, 0.02, 0.03, 0.05],
        "market_method": ["multiplicative", "shin"],
        "consensus_weight": [0.0, 0.25, 0.5, 0.75, 1.0],
    },
}


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _load() -> float:
    return round(os.getloadavg()[0], 1)


def run(quick: bool = False) -> list[Row]:
    from betpipe.backtest import UNCAPPED_LIMITS, BacktestSpec, run_many, write_reports
    from betpipe.backtest.grid import expand_grid, grid_document

    settings = _settings()
    grid = {**GRID, "base": {**GRID["base"], "limits": UNCAPPED_LIMITS}}
    strategies = expand_grid(grid)
    limit = int(os.environ.get("BETPIPE_BENCH_GRID_STRATEGIES", "6" if quick else "50"))
    strategies = strategies[:limit]
    competitions = ("E0",) if quick else LEAGUES
    specs = [BacktestSpec.of(s, competitions, "2013-2014", "2022-2023", refit_days=30.0) for s in strategies]
    load_before, cpu_before, started = _load(), _cpu_seconds(), time.perf_counter()
    results = run_many(specs, settings=settings, out_dir=OUT, executor="local", workers=2, reports=True)
    run_seconds = time.perf_counter() - started
    reports = write_reports(results, out_dir=OUT, paired=False)  # as `--grid`: built on the workers, written here
    by_name = {s.name: s for s in specs}
    document = grid_document(
        {r.name: r.bets for r in reports}, {r.name: by_name[r.name] for r in reports}, untouched_from="2016-2017"
    )
    wall = time.perf_counter() - started
    cpu = _cpu_seconds() - cpu_before
    (OUT / "grid.json").write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    verdict = document["verdict"]
    return [
        {
            "benchmark": f"grid of {len(specs)} strategies, {'+'.join(competitions)} 2013-14..2022-23, 2 workers",
            "strategies": len(specs),
            "run_s": round(run_seconds, 1),
            "wall_s": round(wall, 1),
            "cpu_s": round(cpu, 1),
            "goal_s": GOAL_SECONDS if len(specs) == 50 and not quick else None,
            "load_before": load_before,
            "load_after": _load(),
            "best": verdict["best"],
            "p_adjusted": verdict.get("p_adjusted"),
            "survives": verdict["survives"],
        }
    ]


if __name__ == "__main__":
    for row in run(quick=bool(os.environ.get("BENCH_QUICK"))):
        print(json.dumps(row))
