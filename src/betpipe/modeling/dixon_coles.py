"""Dixon–Coles (1997) for soccer: time-decayed Poisson goals with team attack/defence, home advantage and the
low-score correction rho, fitted by maximum likelihood with an analytic, vectorised gradient.

Trained on goals (``home_score``/``away_score``) of the training rows only; it never reads the scores of rows it
predicts. Teams never seen in training get a promoted-side prior (a weak attack and defence) rather than an error.
The walk-forward evaluation refits it on a schedule (``refit_days``) using results known before each block.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
from scipy.optimize import minimize
from scipy.stats import poisson

from betpipe.modeling._base import BaseProbabilityModel, FloatArray, IntArray, column, register
from betpipe.modeling.score_grid import DEFAULT_MAX_GOALS, ScoreGrid, dixon_coles_grid

SECONDS_PER_DAY = 86_400.0
RHO_BOUND = 0.2
NEW_TEAM_QUANTILE = 0.15


def _days(X: pl.DataFrame) -> FloatArray:
    return X.get_column("kickoff_utc").dt.epoch("s").cast(pl.Float64).to_numpy() / SECONDS_PER_DAY


def _tau_terms(
    x: IntArray, y: IntArray, lam: FloatArray, mu: FloatArray, rho: float
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """log τ and its derivatives with respect to log λ, log μ and ρ, per row."""
    n = x.shape[0]
    tau, d1, d2, dr = np.ones(n), np.zeros(n), np.zeros(n), np.zeros(n)
    c00, c01, c10, c11 = (x == 0) & (y == 0), (x == 0) & (y == 1), (x == 1) & (y == 0), (x == 1) & (y == 1)
    lm = lam * mu
    tau[c00] = 1 - lm[c00] * rho
    d1[c00] = d2[c00] = -lm[c00] * rho
    dr[c00] = -lm[c00]
    tau[c01] = 1 + lam[c01] * rho
    d1[c01] = lam[c01] * rho
    dr[c01] = lam[c01]
    tau[c10] = 1 + mu[c10] * rho
    d2[c10] = mu[c10] * rho
    dr[c10] = mu[c10]
    tau[c11] = 1 - rho
    dr[c11] = -1.0
    tau = np.maximum(tau, 1e-10)
    return np.log(tau), d1 / tau, d2 / tau, dr / tau


@register
class DixonColesModel(BaseProbabilityModel):
    """Dixon–Coles with exponential time decay ``xi`` per day relative to the latest training kickoff."""

    name = "dixon_coles"

    def __init__(
        self,
        xi: float = 0.0019,
        max_history_days: float = 1100.0,
        l2: float = 0.01,
        max_goals: int = 10,
        n_outcomes: int = 3,
    ) -> None:
        self.xi = xi
        self.max_history_days = max_history_days
        self.l2 = l2
        self.max_goals = max_goals
        self.n_outcomes = n_outcomes

    def _fit(self, X: pl.DataFrame, y: IntArray) -> None:
        if self.n_outcomes != 3:
            raise ValueError("Dixon–Coles models soccer scores (home/draw/away); n_outcomes must be 3")
        h, a, gx, gy, neutral, w = self._scored_window(X)
        n, t = gx.shape[0], self.team_ids_.shape[0]
        warm = getattr(self, "_warm_start", None)

        def loss(theta: FloatArray) -> tuple[float, FloatArray]:
            att, dfn, home, rho = theta[:t], theta[t : 2 * t], theta[2 * t], theta[2 * t + 1]
            eta1 = att[h] + dfn[a] + home * (1 - neutral)
            eta2 = att[a] + dfn[h]
            lam, mu = np.exp(eta1), np.exp(eta2)
            log_tau, d1, d2, dr = _tau_terms(gx, gy, lam, mu, rho)
            ll = w * (log_tau + gx * eta1 - lam + gy * eta2 - mu)
            g1 = w * (gx - lam + d1)
            g2 = w * (gy - mu + d2)
            grad_att = np.bincount(h, g1, t) + np.bincount(a, g2, t)
            grad_def = np.bincount(a, g1, t) + np.bincount(h, g2, t)
            grad = np.concatenate([grad_att, grad_def, [(g1 * (1 - neutral)).sum()], [(w * dr).sum()]])
            penalty = self.l2 * ((att**2).sum() + (dfn**2).sum())
            grad[: 2 * t] -= 2 * self.l2 * theta[: 2 * t]
            return float(-(ll.sum() - penalty) / n), -grad / n

        start = np.zeros(2 * t + 2)
        start[2 * t] = 0.25
        if warm is not None and warm[0].shape[0]:  # continue from the previous fit: teams keep their ratings
            ids, att0, def0, rest = warm
            where = np.searchsorted(ids, self.team_ids_).clip(0, ids.shape[0] - 1)
            match = ids[where] == self.team_ids_
            start[:t][match] = att0[where[match]]
            start[t : 2 * t][match] = def0[where[match]]
            start[2 * t :] = rest
        bounds = [(None, None)] * (2 * t + 1) + [(-RHO_BOUND, RHO_BOUND)]
        result = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=bounds, options={"maxiter": 500})
        self.attack_ = np.asarray(result.x[:t], dtype=np.float64)
        self.defence_ = np.asarray(result.x[t : 2 * t], dtype=np.float64)
        self.home_ = float(result.x[2 * t])
        self.rho_ = float(result.x[2 * t + 1])
        self.converged_ = bool(result.success)

    def warm_start_from(self, other: DixonColesModel) -> DixonColesModel:
        """Seed the next fit with ``other``'s ratings (same answer, far fewer iterations)."""
        self._warm_start = (other.team_ids_, other.attack_, other.defence_, np.array([other.home_, other.rho_]))
        return self

    def _scored_window(self, X: pl.DataFrame) -> tuple[IntArray, IntArray, IntArray, IntArray, FloatArray, FloatArray]:
        """The scored games within ``max_history_days`` of the last one, as the goal models fit them: home and away
        team indices into ``team_ids_`` (set here), goals, the neutral flag and the time-decay weights (mean 1)."""
        days = _days(X)
        hs, as_ = column(X, "home_score"), column(X, "away_score")
        last = float(np.nanmax(days))
        keep = np.isfinite(hs) & np.isfinite(as_) & (days >= last - self.max_history_days)
        home_ids = X.get_column("home_team_id").to_numpy()[keep]
        away_ids = X.get_column("away_team_id").to_numpy()[keep]
        self.team_ids_ = np.unique(np.concatenate([home_ids, away_ids])).astype(np.int64)
        h = np.searchsorted(self.team_ids_, home_ids)
        a = np.searchsorted(self.team_ids_, away_ids)
        gx, gy = hs[keep].astype(np.int64), as_[keep].astype(np.int64)
        w = np.exp(-self.xi * (last - days[keep]))
        return h, a, gx, gy, self._neutral(X)[keep], w / w.mean()

    @staticmethod
    def _neutral(X: pl.DataFrame) -> FloatArray:
        if "neutral_site" not in X.columns:
            return np.zeros(X.height)
        return X.get_column("neutral_site").fill_null(False).cast(pl.Float64).to_numpy()

    def _ratings(self, ids: IntArray) -> tuple[FloatArray, FloatArray]:
        """Attack/defence per id; unseen teams get the promoted-side prior (weak attack, leaky defence)."""
        t = self.team_ids_.shape[0]
        where = np.searchsorted(self.team_ids_, ids).clip(0, max(t - 1, 0))
        known = self.team_ids_[where] == ids
        att = np.where(known, self.attack_[where], np.quantile(self.attack_, NEW_TEAM_QUANTILE))
        dfn = np.where(known, self.defence_[where], np.quantile(self.defence_, 1 - NEW_TEAM_QUANTILE))
        return att, dfn

    def expected_goals(self, X: pl.DataFrame) -> tuple[FloatArray, FloatArray]:
        att_h, def_h = self._ratings(X.get_column("home_team_id").to_numpy().astype(np.int64))
        att_a, def_a = self._ratings(X.get_column("away_team_id").to_numpy().astype(np.int64))
        lam = np.exp(att_h + def_a + self.home_ * (1 - self._neutral(X)))
        mu = np.exp(att_a + def_h)
        return lam, mu

    def score_grid(self, X: pl.DataFrame, *, max_goals: int = DEFAULT_MAX_GOALS) -> ScoreGrid:
        """Every row's fitted score distribution, from which every market is priced (``ScoreGrid``).

        Its tail is censored at ``max_goals`` rather than truncated, so its 1X2 differs from ``predict_proba``
        (truncated at ``self.max_goals`` and renormalised, kept so earlier results stay bit-identical) by at most the
        mass beyond ``self.max_goals`` (P(X > 10) is 6e-5 at 2.5 expected goals, 3e-3 at 4).
        """
        self._check_input(X)
        lam, mu = self.expected_goals(X)
        return dixon_coles_grid(lam, mu, self.rho_, max_goals=max_goals)

    def _predict_proba(self, X: pl.DataFrame) -> FloatArray:
        lam, mu = self.expected_goals(X)
        goals = np.arange(self.max_goals + 1)
        px = poisson.pmf(goals[None, :], lam[:, None])
        py = poisson.pmf(goals[None, :], mu[:, None])
        grid = px[:, :, None] * py[:, None, :]
        rho = self.rho_
        grid[:, 0, 0] *= 1 - lam * mu * rho
        grid[:, 0, 1] *= 1 + lam * rho
        grid[:, 1, 0] *= 1 + mu * rho
        grid[:, 1, 1] *= 1 - rho
        home = np.tril(np.ones((self.max_goals + 1,) * 2), -1)  # x > y
        p_home = (grid * home).sum(axis=(1, 2))
        p_draw = np.trace(grid, axis1=1, axis2=2)
        p_away = (grid * home.T).sum(axis=(1, 2))
        return np.column_stack([p_home, p_draw, p_away])

    def _input_columns(self) -> tuple[list[str], list[str]]:
        return ["home_team_id", "away_team_id"], ["neutral_site"]  # absent neutral_site: every game at home

    def _get_state(self) -> tuple[dict[str, Any], dict[str, FloatArray]]:
        state = {"home_": self.home_, "rho_": self.rho_, "converged_": self.converged_}
        arrays = {"team_ids_": self.team_ids_.astype(np.float64), "attack_": self.attack_, "defence_": self.defence_}
        return state, arrays

    def _set_state(self, state: dict[str, Any], arrays: dict[str, FloatArray], directory: Any) -> None:
        self.home_, self.rho_, self.converged_ = state["home_"], state["rho_"], state["converged_"]
        self.team_ids_ = arrays["team_ids_"].astype(np.int64)
        self.attack_, self.defence_ = arrays["attack_"], arrays["defence_"]
