"""Market blend: a model's probabilities pooled with the pre-match market's margin-free probabilities in log-odds
space, with the pooling weights fitted on out-of-fold predictions of the model.

This is the model that has to beat the price a bettor actually faces. It never uses closing prices (they are not
known when the bet is placed) and never fits its weights on predictions the base model made on its own training
rows. Rows without a pre-match price get the base model's prediction alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from betpipe.modeling._base import BaseProbabilityModel, FloatArray, IntArray, register
from betpipe.modeling.calibration import LogLinearPool, _WrapperModel
from betpipe.modeling.market import market_probabilities, price_columns
from betpipe.modeling.validation import out_of_fold_predict

MIN_BLEND_ROWS = 200


@register
class MarketBlendModel(_WrapperModel):
    """softmax(a·log p_model + b·log p_market + c), (a, b, c) fitted out of fold; base refitted on all rows."""

    name = "market_blend"

    def __init__(
        self,
        base: BaseProbabilityModel,
        market_source: str = "f_market_p",
        market_method: str = "probabilities",
        min_train_seasons: int = 2,
        max_folds: int = 3,
    ) -> None:
        self.base = base
        self.market_source = market_source
        self.market_method = market_method
        self.min_train_seasons = min_train_seasons
        self.max_folds = max_folds

    def _input_columns(self) -> tuple[list[str], list[str]]:
        """The base model's columns, plus the market leg's as optional: rows without a price get the base alone."""
        required, optional = self.base_._input_columns()
        return required, [*optional, *price_columns(self.market_source, self.n_outcomes)]

    def _market(self, X: pl.DataFrame) -> FloatArray:
        return market_probabilities(X, self.market_source, self.n_outcomes, self.market_method)

    def _fit(self, X: pl.DataFrame, y: IntArray) -> None:
        oof, covered, _ = out_of_fold_predict(
            self.base,
            X,
            y,
            seasons=X.get_column("season").to_numpy(),
            min_train_seasons=self.min_train_seasons,
            max_folds=self.max_folds,
        )
        market = self._market(X)
        usable = covered & np.isfinite(market).all(axis=1)
        self.blend_rows_ = int(usable.sum())
        self.pool_ = LogLinearPool()
        if self.blend_rows_ >= MIN_BLEND_ROWS:
            self.pool_.fit([oof[usable], market[usable]], y[usable])
        else:  # too little out-of-fold evidence to weigh the market: the base model alone
            self.pool_.weights_ = np.array([1.0, 0.0])
            self.pool_.intercepts_ = np.zeros(self.n_outcomes)
        self.base_ = self.base.clone().fit(X, y)

    def _predict_proba(self, X: pl.DataFrame) -> FloatArray:
        p = self.base_.predict_proba(X)
        market = self._market(X)
        has_market = np.isfinite(market).all(axis=1)
        if has_market.any():
            p[has_market] = self.pool_.predict([p[has_market], market[has_market]])
        return p

    def _get_state(self) -> tuple[dict[str, Any], dict[str, FloatArray]]:
        return {"blend_rows_": self.blend_rows_}, {
            "weights_": self.pool_.weights_,
            "intercepts_": self.pool_.intercepts_,
        }

    def _set_state(self, state: dict[str, Any], arrays: dict[str, FloatArray], directory: Path) -> None:
        self.blend_rows_ = state["blend_rows_"]
        self.pool_ = LogLinearPool()
        self.pool_.weights_, self.pool_.intercepts_ = arrays["weights_"], arrays["intercepts_"]
