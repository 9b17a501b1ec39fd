"""Market-implied score grids: per match, the goal expectations (and optionally rho) whose Dixon–Coles grid reproduces
the margin-free prices given, from any subset of markets (1X2, an over/under line, an Asian handicap line).

The fit is a Levenberg–Marquardt least squares run on all matches at once (numpy over rows, never a loop over
matches): residuals are probability differences, the Jacobian comes from forward differences of the same vectorised
pricing the rest of betpipe uses (``score_grid``), so "implied" means "reproduced by our own pricing". It never
removes margins itself: callers pass margin-free probabilities (``betpipe.odds``) so the method stays their choice.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from betpipe.modeling._base import FloatArray
from betpipe.modeling.score_grid import ScoreGrid, dixon_coles_grid
from betpipe.odds import remove_margin_or_nan

__all__ = [
    "FIT_MAX_GOALS",
    "ImpliedGoals",
    "fit_goal_expectations",
    "fit_market_goals",
    "fit_market_grid",
    "main_handicap",
]

FIT_MAX_GOALS = 10  # censored at 10+: exact for every line within +-9.5, and 16x fewer cells than a 40-goal grid
RHO_BOUND = 0.2  # as DixonColesModel's fit
_STEP = 1e-6
_MIN_GOALS, _MAX_GOALS = 0.02, 8.0


@dataclass(frozen=True)
class ImpliedGoals:
    """Per match: the implied expectations, rho, and how well they reproduce the inputs.

    ``rmse`` is the root mean squared probability error over the markets a row had; ``converged`` is False for rows
    that had fewer equations than unknowns (their expectations are NaN) or that hit the iteration limit.
    """

    home_goals: FloatArray
    away_goals: FloatArray
    rho: FloatArray
    rmse: FloatArray
    converged: npt.NDArray[np.bool_]
    iterations: int
    max_goals: int = FIT_MAX_GOALS

    def grid(self, *, max_goals: int | None = None) -> ScoreGrid:
        """The implied grid (rows that could not be fitted are NaN and price as NaN)."""
        size = self.max_goals if max_goals is None else max_goals
        return dixon_coles_grid(self.home_goals, self.away_goals, self.rho, max_goals=size)

    def one_x_two(self) -> FloatArray:
        """(N, 3) 1X2 probabilities of the implied grid, e.g. the 1X2 implied by AH and O/U prices alone."""
        return self.grid().one_x_two()


def _column(values: npt.ArrayLike | None, n: int, name: str) -> FloatArray:
    if values is None:
        return np.full(n, np.nan)
    out = np.broadcast_to(np.asarray(values, dtype=np.float64), (n,)).copy()
    bad = np.isfinite(out) & ((out <= 0.0) | (out >= 1.0))
    if bad.any():
        raise ValueError(f"{name} must be probabilities strictly between 0 and 1 (got {out[bad][0]})")
    return out


def _targets(
    p1x2: npt.ArrayLike | None, p_over: npt.ArrayLike | None, p_ah_home: npt.ArrayLike | None, n: int
) -> FloatArray:
    """(N, 4) targets: home, away (the draw follows), over, AH home; NaN where a market is absent."""
    out = np.full((n, 4), np.nan)
    if p1x2 is not None:
        p = np.asarray(p1x2, dtype=np.float64)
        if p.shape != (n, 3):
            raise ValueError(f"p1x2 must be (N, 3) home/draw/away probabilities, not shape {p.shape}")
        ok = np.isfinite(p).all(axis=1)
        if ok.any() and (np.abs(p[ok].sum(axis=1) - 1.0) > 1e-6).any():
            raise ValueError("p1x2 rows must sum to 1 (remove the margin first, e.g. betpipe.odds)")
        out[ok, 0], out[ok, 1] = p[ok, 0], p[ok, 2]
    out[:, 2] = _column(p_over, n, "p_over")
    out[:, 3] = _column(p_ah_home, n, "p_ah_home")
    return out


def _model(theta: FloatArray, ou_line: FloatArray, ah_line: FloatArray, max_goals: int) -> FloatArray:
    """(rows, 4) the prices of the targets under parameters theta = (log lam, log mu, rho)."""
    grid = dixon_coles_grid(np.exp(theta[:, 0]), np.exp(theta[:, 1]), theta[:, 2], max_goals=max_goals)
    p = grid.one_x_two()
    over = grid.totals(ou_line).no_push_probability
    home = grid.asian_handicap(ah_line).no_push_probability
    return np.column_stack([p[:, 0], p[:, 2], over, home])


def fit_goal_expectations(
    *,
    p1x2: npt.ArrayLike | None = None,
    p_over: npt.ArrayLike | None = None,
    ou_line: npt.ArrayLike = 2.5,
    ah_line: npt.ArrayLike | None = None,
    p_ah_home: npt.ArrayLike | None = None,
    rho: npt.ArrayLike = 0.0,
    fit_rho: bool = False,
    max_goals: int = FIT_MAX_GOALS,
    max_iter: int = 60,
    tol: float = 1e-10,
) -> ImpliedGoals:
    """Goal expectations (N,) per match whose grid reproduces the margin-free probabilities given.

    Any subset of markets: ``p1x2`` (N, 3) home/draw/away; ``p_over`` P(over ``ou_line``) as a no-push two-way
    probability; ``p_ah_home`` the home side's no-push probability at the home handicap ``ah_line`` (lines may differ
    per match). A row needs at least two equations (1X2 gives two; O/U and AH one each), three with ``fit_rho``;
    otherwise ``rho`` (scalar or per match) is held fixed. NaN marks a market a row lacks.

    >>> implied = fit_goal_expectations(p_over=[0.52], p_ah_home=[0.55], ah_line=[-0.25])
    >>> [round(float(x), 2) for x in (implied.home_goals[0], implied.away_goals[0])]
    [1.61, 1.14]
    >>> round(float(implied.one_x_two()[0, 0]), 3)   # the 1X2 home probability those two prices imply
    0.482
    """
    sizes = [np.asarray(v).shape[0] for v in (p1x2, p_over, p_ah_home) if v is not None and np.ndim(v) > 0]
    if not sizes:
        raise ValueError("give at least one market (p1x2, p_over or p_ah_home) as per-match arrays")
    n = sizes[0]
    if any(s != n for s in sizes):
        raise ValueError(f"markets differ in length: {sizes}")
    target = _targets(p1x2, p_over, p_ah_home, n)
    if p_ah_home is not None and ah_line is None:
        raise ValueError("p_ah_home needs its ah_line (the home side's handicap)")
    ou = np.broadcast_to(np.asarray(ou_line, dtype=np.float64), (n,)).copy()
    ah = np.broadcast_to(np.asarray(0.0 if ah_line is None else ah_line, dtype=np.float64), (n,)).copy()
    ah = np.where(np.isfinite(ah), ah, 0.0)
    target[~np.isfinite(np.where(np.isfinite(target[:, 3]), ah, 0.0)), 3] = np.nan
    present = np.isfinite(target)
    unknowns = 3 if fit_rho else 2
    fittable = present.sum(axis=1) >= unknowns
    theta = np.column_stack(
        [np.full(n, np.log(1.45)), np.full(n, np.log(1.15)), np.broadcast_to(np.asarray(rho, float), (n,))]
    )
    weight = present.astype(np.float64)
    goal = np.where(present, target, 0.0)
    damping = np.full(n, 1e-3)
    active = np.flatnonzero(fittable)
    converged = np.zeros(n, dtype=bool)
    free = [0, 1, 2] if fit_rho else [0, 1]
    iterations = 0

    def residuals(rows: npt.NDArray[np.int64], th: FloatArray) -> FloatArray:
        model = _model(th, ou[rows], ah[rows], max_goals)
        return np.asarray(np.where(weight[rows] > 0, np.nan_to_num(model) - goal[rows], 0.0), dtype=np.float64)

    for iterations in range(1, max_iter + 1):  # noqa: B007 - the count is reported
        if active.size == 0:
            break
        th = theta[active]
        r = residuals(active, th)
        cost = (r**2).sum(axis=1)
        jac = np.empty((active.size, 4, len(free)))
        for j, column in enumerate(free):
            moved = th.copy()
            moved[:, column] += _STEP
            jac[:, :, j] = (residuals(active, moved) - r) / _STEP
        jtj = np.einsum("nmi,nmj->nij", jac, jac)
        jtr = np.einsum("nmi,nm->ni", jac, r)
        diag = np.einsum("nii->ni", jtj)
        lhs = jtj + (damping[active, None] * (diag + 1e-12))[:, :, None] * np.eye(len(free))
        step = -np.linalg.solve(lhs, jtr[:, :, None])[:, :, 0]
        trial = th.copy()
        trial[:, free] += step
        trial[:, 0:2] = np.clip(trial[:, 0:2], np.log(_MIN_GOALS), np.log(_MAX_GOALS))
        trial[:, 2] = np.clip(trial[:, 2], -RHO_BOUND, RHO_BOUND)
        new_cost = (residuals(active, trial) ** 2).sum(axis=1)
        better = new_cost <= cost
        theta[active[better]] = trial[better]
        damping[active] = np.where(better, damping[active] / 3.0, damping[active] * 4.0)
        gain = cost - np.where(better, new_cost, cost)
        done = better & ((new_cost < tol**2) | (gain <= 1e-14 * (cost + 1e-30)) | (np.abs(step).max(axis=1) < 1e-9))
        converged[active[done]] = True
        active = active[~done & (damping[active] < 1e12)]
    final = residuals(np.arange(n), theta)
    rmse = np.sqrt((final**2).sum(axis=1) / np.maximum(present.sum(axis=1), 1))
    lam, mu = np.exp(theta[:, 0]), np.exp(theta[:, 1])
    lam[~fittable], mu[~fittable], rmse[~fittable] = np.nan, np.nan, np.nan
    return ImpliedGoals(lam, mu, theta[:, 2].copy(), rmse, converged & fittable, iterations, max_goals)


def fit_market_goals(
    p1x2: npt.ArrayLike,
    p_over: npt.ArrayLike,
    *,
    ou_line: npt.ArrayLike = 2.5,
    ah_line: npt.ArrayLike | None = None,
    p_ah_home: npt.ArrayLike | None = None,
    max_iter: int = 60,
) -> ImpliedGoals:
    """The market-implied goals per event: expectations and rho fitted to the fair 1X2 plus whichever of P(over) and
    the home side's no-push AH probability a row has (NaN: absent). The one fit the backtest, the live run and the
    service's markets share.

    1X2 + O/U: three prices, three unknowns, exact where the Dixon-Coles bound on rho allows; + AH (any line on the
    quarter grid, ``main_handicap``'s choice): four prices, a least-squares compromise in probability. A quarter line
    is one equation like any other: the grid's no-push probability there is win weight / (win + loss weight) with
    half wins and half losses at half weight, whose inverse is the zero-profit price under half-stake settlement, and
    the home and away probabilities sum to 1 (1/o_home + 1/o_away = 1 at fair prices), so a de-margined two-way
    quote at a quarter line is that probability. A line off the quarter grid (a typo) is ignored. A row with neither
    total nor handicap is fitted from its 1X2 alone with rho = 0; one without a usable 1X2 is NaN. ``max_iter``
    bounds the Levenberg-Marquardt steps (rows that can be met converge within about 10; the rest run to the bound).
    """
    p = np.asarray(p1x2, dtype=np.float64).reshape(-1, 3)
    n = p.shape[0]
    over = np.broadcast_to(np.asarray(p_over, dtype=np.float64).reshape(-1), (n,))
    with np.errstate(invalid="ignore"):
        good = np.isfinite(p).all(axis=1) & (np.abs(p.sum(axis=1) - 1.0) < 1e-6) & (p > 0).all(axis=1)
        over = np.where(np.isfinite(over) & (over > 0) & (over < 1), over, np.nan)
    safe = np.where(good[:, None], p, np.nan)
    lines = np.broadcast_to(np.asarray(ou_line, dtype=np.float64), (n,))
    ah, p_ah = np.full(n, np.nan), np.full(n, np.nan)
    if p_ah_home is not None and ah_line is not None:
        ah = np.broadcast_to(np.asarray(ah_line, dtype=np.float64), (n,)).copy()
        p_ah = np.broadcast_to(np.asarray(p_ah_home, dtype=np.float64), (n,)).copy()
        with np.errstate(invalid="ignore"):
            usable = np.isfinite(ah) & (np.abs(ah * 4.0 - np.round(ah * 4.0)) < 1e-9) & (p_ah > 0) & (p_ah < 1)
        ah, p_ah = np.where(usable, ah, np.nan), np.where(usable, p_ah, np.nan)
    if n == 0:
        empty = np.zeros(0)
        return ImpliedGoals(empty, empty, empty, empty, np.zeros(0, dtype=bool), 0)
    has = np.isfinite(over) | np.isfinite(p_ah)
    home, away, rho, rmse = (np.full(n, np.nan) for _ in range(4))
    converged = np.zeros(n, dtype=bool)
    iterations = 0
    for rows in (has, ~has):  # rows are fitted independently: each subset alone is the same fit as all at once
        if not rows.any():
            continue
        if rows is has:  # 3 or 4 prices, 3 unknowns
            part = fit_goal_expectations(
                p1x2=safe[rows], p_over=over[rows], ou_line=lines[rows],
                ah_line=np.where(np.isfinite(ah), ah, 0.0)[rows], p_ah_home=p_ah[rows], fit_rho=True,
                max_iter=max_iter,
            )  # fmt: skip
        else:  # 1X2 alone, rho held at 0
            part = fit_goal_expectations(p1x2=safe[rows], max_iter=max_iter)
        home[rows], away[rows], rho[rows], rmse[rows] = part.home_goals, part.away_goals, part.rho, part.rmse
        converged[rows] = part.converged
        iterations = max(iterations, part.iterations)
    return ImpliedGoals(home, away, rho, rmse, converged, iterations)


def fit_market_grid(
    p1x2: npt.ArrayLike,
    p_over: npt.ArrayLike,
    *,
    ou_line: npt.ArrayLike = 2.5,
    ah_line: npt.ArrayLike | None = None,
    p_ah_home: npt.ArrayLike | None = None,
) -> ScoreGrid:
    """``fit_market_goals``' grid (an empty input gives an empty grid)."""
    if np.asarray(p1x2).size == 0:
        return ScoreGrid(np.zeros((0, FIT_MAX_GOALS + 1, FIT_MAX_GOALS + 1)))
    return fit_market_goals(p1x2, p_over, ou_line=ou_line, ah_line=ah_line, p_ah_home=p_ah_home).grid()


def main_handicap(quotes: pl.DataFrame, event_ids: npt.ArrayLike, method: str) -> tuple[FloatArray, FloatArray]:
    """Per event of ``event_ids``: the book's main Asian handicap line and its margin-free home probability.

    ``quotes`` is one book's two-sided AH quotes (event_id, line, selection home/away, price; one quote per side and
    line). Every line on the quarter grid counts (whole, half and quarter: a quarter line's de-margined price is the
    no-push probability the fit reads, see ``fit_market_goals``; lines off the grid are typos and dropped); of
    those, the line whose fair home probability is nearest 1/2, the smaller handicap on a tie. NaN where an event
    has none.
    """
    ids = np.asarray(event_ids, dtype=np.int64).reshape(-1)
    line, p_home = np.full(ids.size, np.nan), np.full(ids.size, np.nan)
    if quotes.height == 0 or ids.size == 0:
        return line, p_home
    wide = quotes.filter((pl.col("line") * 4).round(0) == pl.col("line") * 4).pivot(
        on="selection", index=["event_id", "line"], values="price", aggregate_function="last"
    )
    if not {"home", "away"} <= set(wide.columns) or wide.height == 0:
        return line, p_home
    fair = remove_margin_or_nan(wide.select("home", "away").to_numpy().astype(np.float64), method)[:, 0]
    best = (
        wide.select("event_id", "line")
        .with_columns(pl.Series("_p", fair))
        .drop_nans("_p")
        .drop_nulls("_p")
        .with_columns((pl.col("_p") - 0.5).abs().alias("_gap"), pl.col("line").abs().alias("_size"))
        .sort("event_id", "_gap", "_size")
        .group_by("event_id", maintain_order=True)
        .first()
    )
    at = {int(e): (float(ln), float(p)) for e, ln, p in best.select("event_id", "line", "_p").rows()}
    for i, event in enumerate(ids.tolist()):
        if event in at:
            line[i], p_home[i] = at[event]
    return line, p_home
