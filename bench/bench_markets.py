"""Markets benchmark (issue 18 item 5): every market priced from 100k score grids, and the market-implied fit of 100k
matches. Targets: pricing < 2 s, fit < 10 s on 2 cores.

"Every market" per match: 1X2, double chance, draw-no-bet, BTTS, win to nil, over/under at the 17 lines 0.5..4.5
(quarters included, over and under with all five grades) and the Asian handicap at the 33 lines -4..+4 (home and away)
plus each match's own line; correct scores are the grid cells themselves. Grid construction is timed apart from
pricing. Each case: median of 3 repeats, wall and CPU (user + sys of this process) with the load average.
"""

from __future__ import annotations

import os
import resource
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

Row = dict[str, Any]
TOTAL_LINES = np.arange(0.5, 4.51, 0.25)
AH_LINES = np.arange(-4.0, 4.01, 0.25)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _inputs(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.uniform(0.4, 3.2, n), rng.uniform(0.3, 2.6, n), np.full(n, -0.06)


def _measure(label: str, work: Callable[[], object], *, target: str, detail: str, repeats: int = 3) -> Row:
    walls, cpus, loads = [], [], []
    for _ in range(repeats):
        loads.append(os.getloadavg()[0])
        cpu, wall = _cpu(), time.perf_counter()
        work()
        walls.append(time.perf_counter() - wall)
        cpus.append(_cpu() - cpu)
    return {
        "benchmark": label,
        "seconds": statistics.median(walls),
        "cpu_seconds": statistics.median(cpus),
        "load": statistics.median(loads),
        "target": target,
        "detail": f"{detail}; wall {min(walls):.2f}-{max(walls):.2f} s, load {min(loads):.1f}-{max(loads):.1f}",
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }


def _price_everything(grid: Any, own_line: np.ndarray) -> int:
    """Every market of every match; returns how many prices (grade probabilities count one each) it produced."""
    n = len(grid)
    out = [grid.one_x_two(), grid.double_chance(), grid.draw_no_bet(), grid.btts(), grid.win_to_nil()]
    count = n * (3 + 3 + 2 + 1 + 2)
    for line in TOTAL_LINES:
        for side in ("over", "under"):
            out.append(grid.totals(line, side).won)
            count += 5 * n
    for line in (*AH_LINES, own_line):
        for side in ("home", "away"):
            out.append(grid.asian_handicap(line, side).won)
            count += 5 * n
    return count


def run(quick: bool = False) -> list[Row]:
    from betpipe.modeling.market_implied import fit_goal_expectations
    from betpipe.modeling.score_grid import dixon_coles_grid

    n = 20_000 if quick else 100_000
    lam, mu, rho = _inputs(n)
    own_line = np.round((mu - lam) * 4.0) / 4.0
    rows = [
        _measure(
            f"Dixon–Coles score grids, {n:,} matches x 16 x 16",
            lambda: dixon_coles_grid(lam, mu, rho),
            target="(part of pricing)",
            detail="censored tail at 15+ goals",
        )
    ]
    grid = dixon_coles_grid(lam, mu, rho)
    prices = _price_everything(dixon_coles_grid(lam[:10], mu[:10], rho[:10]), own_line[:10]) // 10 * n

    def price() -> None:
        fresh = type(grid)(grid.probabilities)  # no cached total/difference distributions from a previous repeat
        _price_everything(fresh, own_line)

    rows.append(
        _measure(
            f"every market from {n:,} grids",
            price,
            target="< 2 s on 2 cores",
            detail=f"{prices:,} grade probabilities: 1X2, DC, DNB, BTTS, win to nil, 17 O/U and 34 AH lines x 2 sides",
        )
    )
    small = dixon_coles_grid(lam, mu, rho, max_goals=10)
    p1x2 = small.one_x_two()
    p_over = small.totals(2.5).no_push_probability
    p_ah = small.asian_handicap(own_line).no_push_probability
    rows.append(
        _measure(
            f"market-implied fit, {n:,} matches, 1X2 + O/U 2.5",
            lambda: fit_goal_expectations(p1x2=p1x2, p_over=p_over, rho=rho),
            target="< 10 s on 2 cores",
            detail="Levenberg–Marquardt on all rows at once, 11 x 11 censored grids",
        )
    )
    rows.append(
        _measure(
            f"market-implied fit, {n:,} matches, O/U 2.5 + AH (own line)",
            lambda: fit_goal_expectations(p_over=p_over, p_ah_home=p_ah, ah_line=own_line, rho=rho),
            target="< 10 s on 2 cores",
            detail="the 1X2 implied by AH and O/U prices alone",
        )
    )
    return rows


if __name__ == "__main__":
    for row in run(quick=False):
        print(row)
