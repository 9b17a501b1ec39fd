"""Gradient boosting (LightGBM) on the feature store's ``f_*`` columns, multi-class (1X2) or binary (two-way).

Deterministic by construction (fixed seed, ``deterministic=True``, row-wise histograms), so a re-run with the same
thread count gives identical predictions; ``num_threads=None`` (the default) takes the process's configured count
(``betpipe.threads``, ``Settings.compute.threads``) so a shared host is never oversubscribed. It never trains on
``bench_*`` columns (benchmark prices are labels' neighbours, not features) and, unless ``use_market`` is set, not
on the pre-match market features either. Persisted in LightGBM's own text model format, never pickle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import polars as pl

from betpipe.modeling._base import BaseProbabilityModel, FloatArray, IntArray, register
from betpipe.modeling.fitcache import cached, fingerprint
from betpipe.threads import configured_threads

BOOSTER_FILE = "booster.txt"
MARKET_PREFIX = "f_market_"


def feature_columns(X: pl.DataFrame, *, use_market: bool) -> list[str]:
    """Numeric ``f_*`` columns in frame order; market features only when asked for."""
    schema = X.schema  # built once: ``X.schema`` is rebuilt on every access (3.7 s a season in the evaluation)
    names = [c for c, dtype in schema.items() if c.startswith("f_") and dtype.is_numeric()]
    return [c for c in names if use_market or not c.startswith(MARKET_PREFIX)]


@register
class GradientBoostingModel(BaseProbabilityModel):
    """LightGBM; defaults frozen after tuning on test seasons 2012-13 and 2013-14 only (see docs/results.md)."""

    name = "gbm"

    def __init__(
        self,
        n_outcomes: int = 3,
        use_market: bool = False,
        n_estimators: int = 200,
        learning_rate: float = 0.03,
        num_leaves: int = 7,
        min_data_in_leaf: int = 400,
        feature_fraction: float = 0.5,
        lambda_l2: float = 5.0,
        num_threads: int | None = None,
        seed: int = 0,
    ) -> None:
        self.n_outcomes = n_outcomes
        self.use_market = use_market
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_data_in_leaf = min_data_in_leaf
        self.feature_fraction = feature_fraction
        self.lambda_l2 = lambda_l2
        self.num_threads = num_threads
        self.seed = seed

    def _lgb_params(self) -> dict[str, Any]:
        objective: dict[str, Any] = (
            {"objective": "multiclass", "num_class": self.n_outcomes}
            if self.n_outcomes > 2
            else {"objective": "binary"}
        )
        return {
            **objective,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_data_in_leaf,
            "feature_fraction": self.feature_fraction,
            "lambda_l2": self.lambda_l2,
            "num_threads": self._threads(),
            "seed": self.seed,
            "deterministic": True,
            "force_row_wise": True,
            "verbosity": -1,
        }

    def _threads(self) -> int:
        return self.num_threads if self.num_threads is not None else configured_threads()

    def _matrix(self, X: pl.DataFrame) -> FloatArray:
        """The features in fit order; ``predict_proba`` has already refused a frame lacking any of them."""
        return X.select(pl.col(c).cast(pl.Float64) for c in self.features_).to_numpy().astype(np.float64)

    def _input_columns(self) -> tuple[list[str], list[str]]:
        return list(self.features_), []

    def _fit(self, X: pl.DataFrame, y: IntArray) -> None:
        self.features_ = feature_columns(X, use_market=self.use_market)
        if not self.features_:
            raise ValueError("no f_* feature columns to train on")
        matrix, params, features = self._matrix(X), self._lgb_params(), self.features_

        def train() -> lgb.Booster:
            data = lgb.Dataset(matrix, label=y, feature_name=features, free_raw_data=True)
            return lgb.train(params, data, num_boost_round=self.n_estimators)

        # Deterministic given params (threads included) and input bytes, so an evaluation's fit cache may reuse it.
        settings = (sorted(params.items()), self.n_estimators, features)
        self.booster_ = cached(lambda: fingerprint("lightgbm", settings, matrix, y), train)

    def _predict_proba(self, X: pl.DataFrame) -> FloatArray:
        raw = np.asarray(self.booster_.predict(self._matrix(X), num_threads=self._threads()), dtype=np.float64)
        if self.n_outcomes == 2:
            return np.column_stack([1.0 - raw, raw])
        return raw

    def feature_importance(self) -> dict[str, float]:
        gains = self.booster_.feature_importance(importance_type="gain")
        return dict(zip(self.features_, (float(g) for g in gains), strict=True))

    def _get_state(self) -> tuple[dict[str, Any], dict[str, FloatArray]]:
        return {"features_": self.features_}, {}

    def _save_extra(self, directory: Path) -> None:
        self.booster_.save_model(str(directory / BOOSTER_FILE))

    def _set_state(self, state: dict[str, Any], arrays: dict[str, FloatArray], directory: Path) -> None:
        self.features_ = list(state["features_"])
        self.booster_ = lgb.Booster(model_file=str(directory / BOOSTER_FILE))
