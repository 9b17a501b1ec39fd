"""Elo-logistic: an ordered logit (home/draw/away) or a logistic (two-way) on the feature store's Elo difference.

The Elo ratings themselves are features (point-in-time, updated after every result); this model only learns how a
rating gap maps to outcome probabilities, from training rows. It never reads a label of the rows it predicts.
Rows without a rating difference (null feature) get the base-rate fallback.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl
from scipy.optimize import minimize
from scipy.special import expit, log_expit

from betpipe.modeling._base import BaseProbabilityModel, FloatArray, IntArray, column, register

ELO_SCALE = 400.0


def _design(X: pl.DataFrame, features: Sequence[str]) -> FloatArray:
    return np.column_stack([column(X, name) / ELO_SCALE for name in features])


def ordered_logit_proba(z: FloatArray, cut_low: float, cut_high: float) -> FloatArray:
    """P(away) = σ(c1 − z), P(away or draw) = σ(c2 − z); z is the home side's strength index."""
    away = expit(cut_low - z)
    not_home = expit(cut_high - z)
    return np.column_stack([1.0 - not_home, not_home - away, away])


@register
class EloLogitModel(BaseProbabilityModel):
    """Ordered logit (3-way) or logistic (2-way) on ``features`` (Elo points, scaled by 1/400), L2-regularised."""

    name = "elo_logit"

    def __init__(self, features: Sequence[str] = ("f_elo_diff",), n_outcomes: int = 3, l2: float = 1e-4) -> None:
        self.features = features
        self.n_outcomes = n_outcomes
        self.l2 = l2

    def _fit(self, X: pl.DataFrame, y: IntArray) -> None:
        Z = _design(X, self.features)
        ok = np.isfinite(Z).all(axis=1)
        Z, y = Z[ok], y[ok]
        if Z.shape[0] < 10:
            self.coef_ = np.full(len(self.features), np.nan)
            self.intercepts_ = np.full(self.n_outcomes - 1, np.nan)
            return
        m = Z.shape[1]
        n = Z.shape[0]

        if self.n_outcomes == 2:
            home = (y == 0).astype(np.float64)

            def loss2(theta: FloatArray) -> tuple[float, FloatArray]:
                eta = theta[0] + Z @ theta[1:]
                nll = -(home * log_expit(eta) + (1 - home) * log_expit(-eta)).sum() / n
                resid = expit(eta) - home
                grad = np.concatenate([[resid.sum()], Z.T @ resid]) / n
                grad[1:] += 2 * self.l2 * theta[1:]
                return float(nll + self.l2 * (theta[1:] ** 2).sum()), grad

            result = minimize(loss2, np.zeros(m + 1), jac=True, method="L-BFGS-B")
            self.intercepts_ = np.asarray(result.x[:1], dtype=np.float64)
            self.coef_ = np.asarray(result.x[1:], dtype=np.float64)
            return

        def loss3(theta: FloatArray) -> float:
            beta, c1, log_gap = theta[:m], float(theta[m]), float(theta[m + 1])
            p = ordered_logit_proba(Z @ beta, c1, c1 + np.exp(log_gap))
            chosen = np.clip(p[np.arange(n), y], 1e-15, 1.0)
            return float(-np.log(chosen).sum() / n + self.l2 * (beta**2).sum())

        start = np.concatenate([np.ones(m), [-0.3, np.log(1.0)]])
        result = minimize(loss3, start, method="L-BFGS-B")
        c1 = float(result.x[m])
        self.coef_ = np.asarray(result.x[:m], dtype=np.float64)
        self.intercepts_ = np.array([c1, c1 + float(np.exp(result.x[m + 1]))])

    def _predict_proba(self, X: pl.DataFrame) -> FloatArray:
        z = _design(X, self.features) @ self.coef_
        if self.n_outcomes == 2:
            home = expit(self.intercepts_[0] + z)
            return np.column_stack([home, 1.0 - home])
        return ordered_logit_proba(z, float(self.intercepts_[0]), float(self.intercepts_[1]))

    def _input_columns(self) -> tuple[list[str], list[str]]:
        return list(self.features), []

    def _get_state(self) -> tuple[dict[str, Any], dict[str, FloatArray]]:
        return {}, {"coef_": self.coef_, "intercepts_": self.intercepts_}

    def _set_state(self, state: dict[str, Any], arrays: dict[str, FloatArray], directory: Any) -> None:
        self.coef_ = arrays["coef_"]
        self.intercepts_ = arrays["intercepts_"]
