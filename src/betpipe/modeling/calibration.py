"""Probability calibration fitted only on out-of-fold predictions, with the method (none/Platt/isotonic) chosen
by a time-ordered validation split of those predictions.

Also home of ``LogLinearPool``: softmax of a weighted sum of log-probabilities, which is multi-class Platt scaling
for one input and the market blend for two. A calibrator never sees a prediction a model made on its own training
rows; ``CalibratedModel.fit`` refits the base model on all rows only after the calibrator is fitted out of fold.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np
import numpy.typing as npt
import polars as pl
from scipy.optimize import minimize
from scipy.special import log_softmax, softmax
from sklearn.isotonic import IsotonicRegression

from betpipe.modeling._base import BaseProbabilityModel, FloatArray, IntArray, normalise, register
from betpipe.modeling.metrics import log_loss, one_hot
from betpipe.modeling.validation import out_of_fold_predict

METHODS = ("none", "platt", "isotonic")
_EPS = 1e-6
_ISOTONIC_FLOOR = 1e-3


class LogLinearPool:
    """p ∝ exp(Σ_m a_m log p_m + b): weights per input source, an intercept per outcome (outcome 0 fixed at 0)."""

    def __init__(self, l2: float = 1e-4) -> None:
        self.l2 = l2

    def fit(self, sources: Sequence[FloatArray], y: npt.ArrayLike) -> Self:
        logs = np.stack([np.log(np.clip(s, _EPS, 1.0)) for s in sources])  # (m, n, k)
        m, n, k = logs.shape
        target = one_hot(y, k)

        def loss(theta: FloatArray) -> tuple[float, FloatArray]:
            a, b = theta[:m], np.concatenate([[0.0], theta[m:]])
            eta = np.tensordot(a, logs, axes=1) + b
            logq = log_softmax(eta, axis=1)
            resid = np.exp(logq) - target
            grad_a = np.einsum("mnk,nk->m", logs, resid) / n + 2 * self.l2 * (a - 1.0 / m)
            grad_b = resid.sum(axis=0)[1:] / n
            value = -(target * logq).sum() / n + self.l2 * ((a - 1.0 / m) ** 2).sum()
            return float(value), np.concatenate([grad_a, grad_b])

        start = np.concatenate([np.full(m, 1.0 / m), np.zeros(k - 1)])
        result = minimize(loss, start, jac=True, method="L-BFGS-B")
        self.weights_ = np.asarray(result.x[:m], dtype=np.float64)
        self.intercepts_ = np.concatenate([[0.0], result.x[m:]]).astype(np.float64)
        return self

    def predict(self, sources: Sequence[FloatArray]) -> FloatArray:
        logs = np.stack([np.log(np.clip(s, _EPS, 1.0)) for s in sources])
        return np.asarray(softmax(np.tensordot(self.weights_, logs, axes=1) + self.intercepts_, axis=1))


class Calibrator:
    """One of ``METHODS`` fitted on (predictions, labels); state is plain arrays so it persists without pickle."""

    def __init__(self, method: str) -> None:
        if method not in METHODS:
            raise ValueError(f"unknown calibration method {method!r}; use one of {METHODS}")
        self.method = method

    def fit(self, p: FloatArray, y: IntArray) -> Self:
        if self.method == "platt":
            pool = LogLinearPool().fit([p], y)
            self.arrays_ = {"weights": pool.weights_, "intercepts": pool.intercepts_}
        elif self.method == "isotonic":
            target = one_hot(y, p.shape[1])
            self.arrays_ = {}
            for j in range(p.shape[1]):
                iso = IsotonicRegression(y_min=_ISOTONIC_FLOOR, y_max=1 - _ISOTONIC_FLOOR, out_of_bounds="clip")
                iso.fit(p[:, j], target[:, j])
                self.arrays_[f"x{j}"] = np.asarray(iso.X_thresholds_, dtype=np.float64)
                self.arrays_[f"y{j}"] = np.asarray(iso.y_thresholds_, dtype=np.float64)
        else:
            self.arrays_ = {}
        return self

    def transform(self, p: FloatArray) -> FloatArray:
        if self.method == "platt":
            pool = LogLinearPool()
            pool.weights_, pool.intercepts_ = self.arrays_["weights"], self.arrays_["intercepts"]
            return pool.predict([p])
        if self.method == "isotonic":
            cols = [np.interp(p[:, j], self.arrays_[f"x{j}"], self.arrays_[f"y{j}"]) for j in range(p.shape[1])]
            return normalise(np.column_stack(cols))
        return p


def choose_calibration(p: FloatArray, y: IntArray, *, holdout: float = 1 / 3) -> tuple[str, dict[str, float]]:
    """Pick the method with the lowest log loss on the latest ``holdout`` share of time-ordered OOF rows."""
    n = p.shape[0]
    cut = round(n * (1 - holdout))
    if cut < 50 or n - cut < 50:
        return "none", {}
    scores = {m: log_loss(Calibrator(m).fit(p[:cut], y[:cut]).transform(p[cut:]), y[cut:]) for m in METHODS}
    return min(scores, key=lambda m: (scores[m], METHODS.index(m))), scores


class _WrapperModel(BaseProbabilityModel):
    """Shared persistence for models wrapping a ``base`` model: the base is saved in a ``base/`` sub-directory."""

    base: BaseProbabilityModel
    base_: BaseProbabilityModel

    @property
    def n_outcomes(self) -> int:  # type: ignore[override]
        return self.base.n_outcomes

    def _save_extra(self, directory: Path) -> None:
        self.base_.save_artifact(directory / "base")

    def _input_columns(self) -> tuple[list[str], list[str]]:
        return self.base_._input_columns()

    @classmethod
    def _from_params(cls, params: dict[str, Any], directory: Path) -> BaseProbabilityModel:
        model = cls(base=BaseProbabilityModel.load_artifact(directory / "base"), **params)  # type: ignore[call-arg]
        model.base_ = model.base  # the loaded base is the fitted one
        return model


@register
class CalibratedModel(_WrapperModel):
    """``base`` followed by a calibrator fitted on its out-of-fold predictions (expanding season folds)."""

    name = "calibrated"

    def __init__(
        self, base: BaseProbabilityModel, method: str = "auto", min_train_seasons: int = 2, max_folds: int = 3
    ) -> None:
        self.base = base
        self.method = method
        self.min_train_seasons = min_train_seasons
        self.max_folds = max_folds

    def _fit(self, X: pl.DataFrame, y: IntArray) -> None:
        oof, covered, _ = out_of_fold_predict(
            self.base,
            X,
            y,
            seasons=X.get_column("season").to_numpy(),
            min_train_seasons=self.min_train_seasons,
            max_folds=self.max_folds,
        )
        p, labels = oof[covered], y[covered]
        self.validation_scores_: dict[str, float] = {}
        if self.method == "auto":
            self.method_, self.validation_scores_ = choose_calibration(p, labels)
        else:
            self.method_ = self.method if p.shape[0] else "none"
        self.calibrator_ = Calibrator(self.method_).fit(p, labels) if p.shape[0] else Calibrator("none").fit(p, labels)
        self.oof_rows_ = int(p.shape[0])
        self.base_ = self.base.clone().fit(X, y)

    def _predict_proba(self, X: pl.DataFrame) -> FloatArray:
        return self.calibrator_.transform(self.base_.predict_proba(X))

    def _get_state(self) -> tuple[dict[str, Any], dict[str, FloatArray]]:
        state = {"method_": self.method_, "validation_scores_": self.validation_scores_, "oof_rows_": self.oof_rows_}
        return state, {f"cal_{k}": v for k, v in self.calibrator_.arrays_.items()}

    def _set_state(self, state: dict[str, Any], arrays: dict[str, FloatArray], directory: Path) -> None:
        self.method_ = state["method_"]
        self.validation_scores_ = state["validation_scores_"]
        self.oof_rows_ = state["oof_rows_"]
        self.calibrator_ = Calibrator(self.method_)
        self.calibrator_.arrays_ = {k[4:]: v for k, v in arrays.items() if k.startswith("cal_")}
