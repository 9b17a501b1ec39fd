"""Market baselines: margin-free bookmaker probabilities, and the base rates of earlier seasons.

The market "model" learns nothing from results; it only turns a row's prices into probabilities with a margin-removal
method of ``betpipe.odds``. It never repairs a price: a row with a missing or impossible price (<= 1, NaN) gets the
training base rates and is counted as a fallback row by the evaluation, never dropped.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from betpipe.modeling._base import (
    OUTCOME_LABELS,
    BaseProbabilityModel,
    FloatArray,
    IntArray,
    column,
    register,
)
from betpipe.odds import MarginMethod, remove_margin_or_nan


def price_columns(source: str, n_outcomes: int) -> list[str]:
    return [f"{source}_{label}" for label in OUTCOME_LABELS[n_outcomes]]


def price_matrix(X: pl.DataFrame, source: str, n_outcomes: int) -> FloatArray:
    """(n, k) matrix of ``{source}_{home|draw|away}`` columns (NaN where absent)."""
    return np.column_stack([column(X, name) for name in price_columns(source, n_outcomes)])


def market_probabilities(X: pl.DataFrame, source: str, n_outcomes: int, method: str) -> FloatArray:
    """Margin-free probabilities of ``source``'s prices; NaN rows where any price is missing or <= 1, or where
    ``method`` cannot de-margin the row (additive below zero): one longshot costs its row, not the batch.

    ``method="probabilities"`` means the columns already hold margin-free probabilities (the feature store's
    ``f_market_p_*``); they are only re-normalised.
    """
    values = price_matrix(X, source, n_outcomes)
    out = np.full(values.shape, np.nan)
    if method == "probabilities":
        valid = np.isfinite(values).all(axis=1) & (values > 0).all(axis=1)
        out[valid] = values[valid] / values[valid].sum(axis=1, keepdims=True)
        return out
    valid = np.isfinite(values).all(axis=1) & (values > 1.0).all(axis=1)
    if valid.any():
        out[valid] = remove_margin_or_nan(values[valid], MarginMethod(method))
    return out


@register
class MarketModel(BaseProbabilityModel):
    """Margin-free probabilities of one price source, e.g. ``bench_ps_close`` (Pinnacle closing) or ``f_market_p``."""

    name = "market"

    def __init__(self, source: str = "bench_ps_close", method: str = "shin", n_outcomes: int = 3) -> None:
        self.source = source
        self.method = method
        self.n_outcomes = n_outcomes

    def _fit(self, X: pl.DataFrame, y: IntArray) -> None:
        if self.method != "probabilities":
            MarginMethod(self.method)  # fail at fit time on a typo, not at prediction time

    def _predict_proba(self, X: pl.DataFrame) -> FloatArray:
        return market_probabilities(X, self.source, self.n_outcomes, self.method)

    def _input_columns(self) -> tuple[list[str], list[str]]:
        """Optional: a row (or frame) without this source's prices has no price yet and gets the fallback."""
        return [], price_columns(self.source, self.n_outcomes)


@register
class BaseRateModel(BaseProbabilityModel):
    """Outcome frequencies of the training rows: the floor every model must clear."""

    name = "base_rates"

    def __init__(self, n_outcomes: int = 3) -> None:
        self.n_outcomes = n_outcomes

    def _fit(self, X: pl.DataFrame, y: IntArray) -> None:
        counts = np.bincount(y, minlength=self.n_outcomes).astype(np.float64)
        self.rates_ = counts / counts.sum()

    def _predict_proba(self, X: pl.DataFrame) -> FloatArray:
        return np.tile(self.rates_, (X.height, 1))

    def _get_state(self) -> tuple[dict[str, Any], dict[str, FloatArray]]:
        return {}, {"rates_": self.rates_}

    def _set_state(self, state: dict[str, Any], arrays: dict[str, FloatArray], directory: Any) -> None:
        self.rates_ = arrays["rates_"]


@register
class FeatureProbabilityModel(BaseProbabilityModel):
    """Probabilities read straight from feature columns (e.g. the feature store's own Elo win probabilities).

    With two outcomes and no ``away`` column the away probability is 1 − home. Learns nothing but the fallback.
    """

    name = "feature_probabilities"

    def __init__(
        self, home: str = "f_elo_p_home", draw: str | None = None, away: str | None = None, n_outcomes: int = 2
    ) -> None:
        self.home = home
        self.draw = draw
        self.away = away
        self.n_outcomes = n_outcomes

    def _fit(self, X: pl.DataFrame, y: IntArray) -> None:
        if self.n_outcomes == 3 and (self.draw is None or self.away is None):
            raise ValueError("three outcomes need home, draw and away columns")

    def _predict_proba(self, X: pl.DataFrame) -> FloatArray:
        home = column(X, self.home)
        if self.n_outcomes == 2:
            away = column(X, self.away) if self.away else 1.0 - home
            p = np.column_stack([home, away])
        else:
            p = np.column_stack([home, column(X, str(self.draw)), column(X, str(self.away))])
        p[~(p >= 0).all(axis=1)] = np.nan
        return p

    def _input_columns(self) -> tuple[list[str], list[str]]:
        return [c for c in (self.home, self.draw, self.away) if c is not None], []
