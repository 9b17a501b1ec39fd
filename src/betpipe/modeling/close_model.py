"""The model of the close: the sharp book's margin-free closing probabilities forecast from what is known at the
decision instant, as a regularised move away from its pre-match price.

``softmax(log p_pre + x·W + b)``: with ``W = b = 0`` the forecast *is* the Pinnacle pre-match price ("the close
equals the pre-match price"), and an L2 penalty on (W, b) pulls every fit back to that prior. ``x`` holds only
decision-time inputs (``betpipe.features.close_inputs``): every book's margin-free pre-match 1X2 price against the
sharp one, their dispersion, the aggregates' prices (descriptive only), the Asian handicap and over/under 2.5
prices, Elo against the market, the hours from capture to kickoff and the league. The target (the margin-free
``bench_ps_close`` prices) is read only by ``fit``, as a soft label; ``predict_proba`` never reads a closing price,
and the leak tests (tests/test_close_model_leakage.py) fail if one becomes an input.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np
import numpy.typing as npt
import polars as pl
from numpy.typing import NDArray
from scipy.optimize import minimize

from betpipe.features.close_inputs import ELO_COLUMNS, LINE_NAMES, SOFT_NAMES, TARGET_SOURCE, input_columns
from betpipe.modeling._base import BaseProbabilityModel, FloatArray, IntArray, column, register
from betpipe.modeling.market import market_probabilities, price_matrix
from betpipe.modeling.market_implied import fit_goal_expectations

SHARP_SOURCE = "c_ps"
MIN_TRAIN_ROWS = 300


def _log(p: FloatArray) -> FloatArray:
    return np.log(np.clip(p, 1e-9, 1.0))


def _two_way(X: pl.DataFrame, prefix: str, names: tuple[str, str]) -> FloatArray:
    """Margin-free (multiplicative) probability of the first selection of a two-way market; NaN where not quoted.
    Two near-even selections carry almost no favourite-longshot shape, so the method barely matters here."""
    prices = np.column_stack([column(X, f"{prefix}_{n}") for n in names])
    out = np.full(X.height, np.nan)
    ok = np.isfinite(prices).all(axis=1) & (prices > 1.0).all(axis=1)
    if ok.any():
        inv = 1.0 / prices[ok]
        out[ok] = inv[:, 0] / inv.sum(axis=1)
    return out


def _line_implied(X: pl.DataFrame, book: str, line: FloatArray) -> FloatArray:
    """(n, 3) 1X2 implied by ``book``'s Asian handicap and over/under 2.5 prices alone; NaN where either is missing."""
    over = _two_way(X, f"c_ou_{book}", ("over", "under"))
    home = _two_way(X, f"c_ah_{book}", ("home", "away"))
    quarter = np.isfinite(line) & np.isclose(line * 4.0, np.round(line * 4.0))  # a few stored lines are typos (0.758)
    both = np.isfinite(over) & np.isfinite(home) & quarter
    out = np.full((X.height, 3), np.nan)
    if both.any():
        fit = fit_goal_expectations(p_over=over[both], p_ah_home=home[both], ah_line=line[both])
        out[both] = fit.one_x_two()
    return out


def close_design(X: pl.DataFrame, method: str) -> tuple[FloatArray, FloatArray, list[str]]:
    """(log p_pre (n, 3), raw design (n, f), names): every input as a disagreement with the sharp pre-match price,
    0 where a book did not quote (no disagreement), so a missing book never moves the forecast."""
    pre = market_probabilities(X, SHARP_SOURCE, 3, method)
    base = _log(pre)
    cols: list[FloatArray] = []
    names: list[str] = []

    def add(name: str, values: FloatArray) -> None:
        cols.append(np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0))
        names.append(name)

    soft = []
    for book in (*SOFT_NAMES, "avg"):
        p = market_probabilities(X, f"c_{book}", 3, method)
        delta = _log(p) - base
        for k, sel in enumerate(("home", "draw", "away")):
            add(f"d_{book}_{sel}", delta[:, k])
        if book != "avg":
            soft.append(p)
    stack = np.stack(soft)  # (books, n, 3)
    quoted = np.isfinite(stack).all(axis=2)
    n_soft = quoted.sum(axis=0).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows (no soft book quoted) stay NaN
        mean_soft = np.nanmean(stack, axis=0)
        spread = np.nanstd(stack, axis=0)
    mean_delta = _log(mean_soft) - base
    for k, sel in enumerate(("home", "draw", "away")):
        add(f"d_soft_{sel}", mean_delta[:, k])
        add(f"sd_soft_{sel}", spread[:, k])
    add("n_soft", n_soft)
    best = price_matrix(X, "c_max", 3)
    for k, sel in enumerate(("home", "draw", "away")):
        add(f"max_edge_{sel}", np.log(best[:, k]) + base[:, k])
    sharp = price_matrix(X, SHARP_SOURCE, 3)
    add("ps_overround", (1.0 / sharp).sum(axis=1) - 1.0)
    for k, sel in enumerate(("home", "draw", "away")):
        add(f"log_pre_{sel}", base[:, k])
    # Asian handicap and over/under 2.5: the 1X2 those two prices imply (a goal-expectation fit), against the sharp
    # 1X2; line markets carry less favourite-longshot bias than 1X2 prices.
    line = column(X, "c_ah_line")
    add("ah_line", line)
    for book in LINE_NAMES:
        implied = _line_implied(X, book, line)
        delta = _log(implied) - base
        for k, sel in enumerate(("home", "draw", "away")):
            add(f"ahou_{book}_{sel}", delta[:, k])
        add(f"ou_{book}_over", _two_way(X, f"c_ou_{book}", ("over", "under")) - 0.5)
    elo = np.column_stack([column(X, c) for c in ELO_COLUMNS])
    elo_delta = _log(elo) - base
    for k, sel in enumerate(("home", "draw", "away")):
        add(f"elo_{sel}", elo_delta[:, k])
    hours = column(X, "hours_to_kickoff")
    lead = np.log1p(np.clip(np.nan_to_num(hours, nan=0.0), 0.0, None))
    add("log_hours", lead)
    for k, sel in enumerate(("home", "draw", "away")):
        add(f"d_soft_{sel}_x_hours", np.nan_to_num(mean_delta[:, k]) * lead)
    return base, np.column_stack(cols), names


def _softmax(z: FloatArray) -> FloatArray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True), dtype=np.float64)


@dataclass(frozen=True)
class CloseDesign:
    """A frame's inputs as arrays, computed once so a walk-forward's many refits slice rows instead of recomputing
    margins and goal-expectation fits. ``target`` (the close) is filled only when asked for, and only ``fit`` reads it.
    """

    method: str
    base: FloatArray  # (n, 3) log margin-free sharp pre-match probabilities
    raw: FloatArray  # (n, f) design before league dummies and scaling
    names: list[str]
    competitions: NDArray[np.str_]
    target: FloatArray  # (n, 3) margin-free close; NaN everywhere when built without it


def design_for(X: pl.DataFrame, method: str, *, with_target: bool = False) -> CloseDesign:
    base, raw, names = close_design(X, method)
    comps = X.get_column("competition").cast(pl.Utf8).fill_null("").to_numpy().astype(str)
    if "competition" not in X.columns:
        comps = np.full(X.height, "", dtype=str)
    target = market_probabilities(X, TARGET_SOURCE, 3, method) if with_target else np.full((X.height, 3), np.nan)
    return CloseDesign(method, base, raw, names, comps, target)


@register
class CloseModel(BaseProbabilityModel):
    """Forecast of the sharp book's margin-free close; ``l2`` is the prior's strength toward "close = pre-match".

    ``fit(X, y)``: ``y`` (results) is not used; the label is the margin-free close of ``bench_ps_close`` in ``X``
    (rows without one are not labels) and the fallback is the mean close of the training rows. Rows without a sharp
    pre-match price get the fallback.
    """

    name = "close_model"

    def __init__(self, method: str = "multiplicative", l2: float = 0.1, n_outcomes: int = 3) -> None:
        self.method = method
        self.l2 = l2
        self.n_outcomes = n_outcomes

    def fit(self, X: pl.DataFrame, y: npt.ArrayLike | None = None) -> Self:
        """Fit on every row of ``X`` that has a sharp pre-match and closing price; ``y`` (results) is not a label."""
        del y
        if X.height == 0:
            raise ValueError("CloseModel cannot be fitted on zero rows")
        return self.fit_design(design_for(X, self.method, with_target=True), np.arange(X.height))

    def _fit(self, X: pl.DataFrame, y: IntArray) -> None:
        del y
        self._fit_rows(design_for(X, self.method, with_target=True), np.arange(X.height))

    def fit_design(self, design: CloseDesign, rows: IntArray) -> CloseModel:
        """Fit on ``rows`` of a precomputed design (the walk-forward's path; same result as ``fit`` on those rows)."""
        self.classes_ = np.arange(self.n_outcomes, dtype=np.int64)
        self._fit_rows(design, rows)
        self._record_inputs()
        return self

    def _fit_rows(self, design: CloseDesign, rows: IntArray) -> None:
        if self.n_outcomes != 3:
            raise ValueError("the model of the close prices 1X2 markets only (n_outcomes=3)")
        if design.method != self.method:
            raise ValueError(f"design built for {design.method!r}, model uses {self.method!r}")
        base, raw, target = design.base[rows], design.raw[rows], design.target[rows]
        usable = np.isfinite(target).all(axis=1) & np.isfinite(base).all(axis=1)
        if usable.sum() < MIN_TRAIN_ROWS:
            raise ValueError(
                f"{int(usable.sum())} rows with a pre-match and a closing sharp price; need {MIN_TRAIN_ROWS}"
            )
        self.competitions_ = sorted(set(design.competitions[rows][usable].tolist()) - {""})
        self.design_names_ = [*design.names, *[f"league_{c}" for c in self.competitions_]]
        full = self._with_leagues(raw[usable], design.competitions[rows][usable])
        self.mean_ = full.mean(axis=0)
        scale = full.std(axis=0)
        self.scale_ = np.where(scale > 1e-12, scale, 1.0)
        x = (full - self.mean_) / self.scale_
        self.coef_, self.intercept_ = _fit_soft_logit(base[usable], x, target[usable], self.l2, self._warm())
        self.train_rows_ = int(usable.sum())
        mean_close = target[usable].mean(axis=0)
        self.fallback_ = np.asarray(mean_close / mean_close.sum(), dtype=np.float64)

    def _with_leagues(self, raw: FloatArray, comps: NDArray[np.str_]) -> FloatArray:
        dummies = [(comps == c).astype(np.float64) for c in self.competitions_]
        return np.column_stack([raw, *dummies]) if dummies else raw

    def warm_start_from(self, previous: CloseModel) -> None:
        """Start the next fit where ``previous`` ended (a refit on a few more weeks moves little): speed only."""
        if hasattr(previous, "coef_"):
            self._warm_theta = np.concatenate([previous.coef_.ravel(), previous.intercept_])

    def _warm(self) -> FloatArray | None:
        warm: FloatArray | None = getattr(self, "_warm_theta", None)
        return warm

    def predict_design(self, design: CloseDesign, rows: IntArray) -> FloatArray:
        """Forecasts for ``rows`` of a precomputed design (never reads its target); NaN rows get the fallback."""
        self._check_input(pl.DataFrame())  # fitted?
        p = self._forecast(design.base[rows], design.raw[rows], design.competitions[rows])
        p[~np.isfinite(p).all(axis=1)] = self.fallback_
        return p

    def _forecast(self, base: FloatArray, raw: FloatArray, comps: NDArray[np.str_]) -> FloatArray:
        x = (self._with_leagues(raw, comps) - self.mean_) / self.scale_
        p = _softmax(np.nan_to_num(base) + x @ self.coef_ + self.intercept_)
        p[~np.isfinite(base).all(axis=1)] = np.nan
        return p

    def _predict_proba(self, X: pl.DataFrame) -> FloatArray:
        design = design_for(X, self.method)
        return self._forecast(design.base, design.raw, design.competitions)

    def pre_match(self, X: pl.DataFrame) -> FloatArray:
        """The prior the model starts from: the sharp pre-match price, margin-free by the model's method."""
        return market_probabilities(X, SHARP_SOURCE, 3, self.method)

    def _input_columns(self) -> tuple[list[str], list[str]]:
        """Every decision-time column is optional (a book that did not quote is no disagreement); never a close."""
        return [], [*input_columns(), "hours_to_kickoff", "competition", *ELO_COLUMNS]

    def _get_state(self) -> tuple[dict[str, Any], dict[str, FloatArray]]:
        state: dict[str, Any] = {"competitions_": self.competitions_, "design_names_": self.design_names_}
        state["train_rows_"] = self.train_rows_
        return state, {
            "coef_": self.coef_,
            "intercept_": self.intercept_,
            "mean_": self.mean_,
            "scale_": self.scale_,
        }

    def _set_state(self, state: dict[str, Any], arrays: dict[str, FloatArray], directory: Path) -> None:
        del directory
        self.competitions_ = list(state["competitions_"])
        self.design_names_ = list(state["design_names_"])
        self.train_rows_ = int(state["train_rows_"])
        self.coef_, self.intercept_ = arrays["coef_"], arrays["intercept_"]
        self.mean_, self.scale_ = arrays["mean_"], arrays["scale_"]


def _fit_soft_logit(
    base: FloatArray, x: FloatArray, q: FloatArray, l2: float, warm: FloatArray | None
) -> tuple[FloatArray, FloatArray]:
    """Minimise mean cross-entropy of softmax(base + xW + b) against the soft labels q, plus l2/2·(|W|² + |b|²)."""
    n, f = x.shape
    k = q.shape[1]

    def loss(theta: FloatArray) -> tuple[float, FloatArray]:
        w = theta[: f * k].reshape(f, k)
        b = theta[f * k :]
        p = _softmax(base + x @ w + b)
        value = -float((q * _log(p)).sum()) / n + 0.5 * l2 * float(theta @ theta)
        residual = (p - q) / n
        grad = np.concatenate([(x.T @ residual).ravel(), residual.sum(axis=0)]) + l2 * theta
        return value, grad

    start = warm if warm is not None and warm.shape == (f * k + k,) else np.zeros(f * k + k)
    result = minimize(loss, start, jac=True, method="L-BFGS-B", options={"maxiter": 500, "gtol": 1e-7})
    theta = np.asarray(result.x, dtype=np.float64)
    return theta[: f * k].reshape(f, k), theta[f * k :]
