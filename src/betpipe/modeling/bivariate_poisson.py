"""Bivariate Poisson goals (Karlis & Ntzoufras 2003): home = W1 + W3, away = W2 + W3, where a shared W3 ~ Poisson(l3)
correlates the two scores; team attack/defence, home advantage and time decay as in ``DixonColesModel``.

Fitted by weighted maximum likelihood with an exact, vectorised gradient (dP(x, y)/dl1 = P(x-1, y) - P(x, y), and
alike for l2 and l3). Trained on the goals of the training rows only; it never reads the scores of rows it predicts.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
from scipy.optimize import minimize
from scipy.special import gammaln

from betpipe.modeling._base import FloatArray, IntArray, register
from betpipe.modeling.dixon_coles import DixonColesModel
from betpipe.modeling.score_grid import DEFAULT_MAX_GOALS, ScoreGrid, bivariate_poisson_grid

LOG_L3_BOUNDS = (-9.0, 0.0)  # l3 in [1e-4, 1]: from independence to a strong shared component


def _log_kernel(x: IntArray, y: IntArray, l1: FloatArray, l2: FloatArray, l3: FloatArray) -> FloatArray:
    """log sum_k l1^(x-k)/(x-k)! l2^(y-k)/(y-k)! l3^k/k! per row (-inf where x or y < 0): P(x, y) times
    e^(l1 + l2 + l3)."""
    out = np.full(x.shape[0], -np.inf)
    valid = (x >= 0) & (y >= 0)
    if not valid.any():
        return out
    xv, yv = x[valid].astype(np.float64), y[valid].astype(np.float64)
    a, b, c = np.log(l1[valid]), np.log(l2[valid]), np.log(l3[valid])
    upto = np.minimum(xv, yv)
    k = np.arange(int(upto.max()) + 1, dtype=np.float64)[None, :]
    terms = (
        (xv[:, None] - k) * a[:, None]
        - gammaln(np.maximum(xv[:, None] - k, 0.0) + 1.0)
        + (yv[:, None] - k) * b[:, None]
        - gammaln(np.maximum(yv[:, None] - k, 0.0) + 1.0)
        + k * c[:, None]
        - gammaln(k + 1.0)
    )
    terms = np.where(k <= upto[:, None], terms, -np.inf)
    top = terms.max(axis=1)
    out[valid] = top + np.log(np.exp(terms - top[:, None]).sum(axis=1))
    return out


@register
class BivariatePoissonModel(DixonColesModel):
    """Bivariate Poisson with exponential time decay ``xi`` per day; ``rho_`` is kept at 0 (no Dixon–Coles tau)."""

    name = "bivariate_poisson"

    def _fit(self, X: pl.DataFrame, y: IntArray) -> None:
        if self.n_outcomes != 3:
            raise ValueError("the bivariate Poisson models soccer scores (home/draw/away); n_outcomes must be 3")
        h, a, gx, gy, neutral, w = self._scored_window(X)
        n, t = gx.shape[0], self.team_ids_.shape[0]

        def loss(theta: FloatArray) -> tuple[float, FloatArray]:
            att, dfn, home, log_l3 = theta[:t], theta[t : 2 * t], theta[2 * t], theta[2 * t + 1]
            l1 = np.exp(att[h] + dfn[a] + home * (1 - neutral))
            l2 = np.exp(att[a] + dfn[h])
            l3 = np.full(n, np.exp(log_l3))
            base = _log_kernel(gx, gy, l1, l2, l3)
            r1 = np.exp(_log_kernel(gx - 1, gy, l1, l2, l3) - base)  # P(x-1, y) / P(x, y)
            r2 = np.exp(_log_kernel(gx, gy - 1, l1, l2, l3) - base)
            r3 = np.exp(_log_kernel(gx - 1, gy - 1, l1, l2, l3) - base)
            ll = w * (base - l1 - l2 - l3)
            g1 = w * l1 * (r1 - 1.0)  # d ll / d log l1
            g2 = w * l2 * (r2 - 1.0)
            g3 = w * l3 * (r3 - 1.0)
            grad_att = np.bincount(h, g1, t) + np.bincount(a, g2, t)
            grad_def = np.bincount(a, g1, t) + np.bincount(h, g2, t)
            grad = np.concatenate([grad_att, grad_def, [(g1 * (1 - neutral)).sum()], [g3.sum()]])
            penalty = self.l2 * ((att**2).sum() + (dfn**2).sum())
            grad[: 2 * t] -= 2 * self.l2 * theta[: 2 * t]
            return float(-(ll.sum() - penalty) / n), -grad / n

        start = np.zeros(2 * t + 2)
        start[2 * t], start[2 * t + 1] = 0.25, np.log(0.05)
        warm = getattr(self, "_warm_start", None)
        if warm is not None and warm[0].shape[0]:
            ids, att0, def0, rest = warm
            where = np.searchsorted(ids, self.team_ids_).clip(0, ids.shape[0] - 1)
            match = ids[where] == self.team_ids_
            start[:t][match] = att0[where[match]]
            start[t : 2 * t][match] = def0[where[match]]
            start[2 * t :] = rest
        bounds = [(None, None)] * (2 * t + 1) + [LOG_L3_BOUNDS]
        result = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=bounds, options={"maxiter": 500})
        self.attack_ = np.asarray(result.x[:t], dtype=np.float64)
        self.defence_ = np.asarray(result.x[t : 2 * t], dtype=np.float64)
        self.home_ = float(result.x[2 * t])
        self.log_l3_ = float(result.x[2 * t + 1])
        self.rho_ = 0.0
        self.converged_ = bool(result.success)

    def warm_start_from(self, other: DixonColesModel) -> BivariatePoissonModel:
        log_l3 = getattr(other, "log_l3_", np.log(0.05))
        self._warm_start = (other.team_ids_, other.attack_, other.defence_, np.array([other.home_, log_l3]))
        return self

    def rates(self, X: pl.DataFrame) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(l1, l2, l3) per row: the home-only, away-only and shared Poisson rates."""
        l1, l2 = super().expected_goals(X)
        return l1, l2, np.full(l1.shape[0], np.exp(self.log_l3_))

    def expected_goals(self, X: pl.DataFrame) -> tuple[FloatArray, FloatArray]:
        l1, l2, l3 = self.rates(X)
        return l1 + l3, l2 + l3

    def score_grid(self, X: pl.DataFrame, *, max_goals: int = DEFAULT_MAX_GOALS) -> ScoreGrid:
        self._check_input(X)
        return bivariate_poisson_grid(*self.rates(X), max_goals=max_goals)

    def _predict_proba(self, X: pl.DataFrame) -> FloatArray:
        return bivariate_poisson_grid(*self.rates(X), max_goals=self.max_goals).one_x_two()

    def _get_state(self) -> tuple[dict[str, Any], dict[str, FloatArray]]:
        state, arrays = super()._get_state()
        return state | {"log_l3_": self.log_l3_}, arrays

    def _set_state(self, state: dict[str, Any], arrays: dict[str, FloatArray], directory: Any) -> None:
        super()._set_state(state, arrays, directory)
        self.log_l3_ = float(state["log_l3_"])
