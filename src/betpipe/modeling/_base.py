"""The estimator template every betpipe model follows: scikit-learn surface plus pickle-free persistence.

Subclasses implement ``_fit``, ``_predict_proba`` and, for persistence, ``_get_state``/``_set_state``. Rows are a
polars frame of the feature-store contract (``betpipe.features.training_matrix``); labels are class indices into the
columns of ``predict_proba`` (3-way: 0 home, 1 draw, 2 away; two-way: 0 home, 1 away). Artifacts are JSON, numpy
``.npz`` (``allow_pickle=False``) or LightGBM's text format: never pickle, so loading an artifact cannot run code.
Hyper-parameters are stored unmodified in ``__init__``; everything learnt ends in ``_``. Built on scikit-learn's
``BaseEstimator`` (``get_params``/``set_params``/``clone``); predicting with an unfitted model raises
``NotFittedError``, and predicting on a frame that lacks a column the model was fitted with raises a ``ValueError``
naming it: a missing column never becomes silent NaNs. Only columns a model documents as optional (market prices,
whose absence means "no price yet", priced by the fallback) may be absent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt
import polars as pl
from numpy.typing import NDArray
from sklearn.base import BaseEstimator
from sklearn.base import clone as sklearn_clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
MODEL_FILE = "model.json"
ARRAYS_FILE = "arrays.npz"
FORMAT_VERSION = 1
OUTCOME_LABELS = {3: ("home", "draw", "away"), 2: ("home", "away")}

MODEL_CLASSES: dict[str, type[BaseProbabilityModel]] = {}


def register(cls: type[BaseProbabilityModel]) -> type[BaseProbabilityModel]:
    """Class decorator: make a model rebuildable from its ``name`` (the registry stores names, not code)."""
    if cls.name in MODEL_CLASSES and MODEL_CLASSES[cls.name] is not cls:
        raise ValueError(f"model name {cls.name!r} registered twice")
    MODEL_CLASSES[cls.name] = cls
    return cls


def get_model_class(name: str) -> type[BaseProbabilityModel]:
    try:
        return MODEL_CLASSES[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; known: {sorted(MODEL_CLASSES)}") from None


def labels_from_outcome(outcome: npt.ArrayLike, n_outcomes: int) -> IntArray:
    """Contract outcome codes (0 home, 1 draw, 2 away) to class indices; two-way maps away to 1 and rejects draws."""
    codes = np.asarray(outcome, dtype=np.int64)
    if n_outcomes == 3:
        return codes
    if (codes == 1).any():
        raise ValueError("a two-way model cannot be given draws/ties; drop them first")
    return np.asarray((codes == 2).astype(np.int64))


def base_rates(y: npt.ArrayLike, n_outcomes: int) -> FloatArray:
    """Class frequencies with add-one smoothing, so no outcome ever gets probability zero."""
    counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=n_outcomes).astype(np.float64) + 1.0
    return np.asarray(counts / counts.sum(), dtype=np.float64)


def column(X: pl.DataFrame, name: str) -> FloatArray:
    """A float column with nulls as NaN; an absent column is all NaN, so a missing feature means a fallback."""
    if name not in X.columns:
        return np.full(X.height, np.nan)
    return X.get_column(name).cast(pl.Float64).fill_null(np.nan).to_numpy().astype(np.float64)


def normalise(p: FloatArray) -> FloatArray:
    p = np.clip(p, 1e-9, None)
    return np.asarray(p / p.sum(axis=1, keepdims=True), dtype=np.float64)


class BaseProbabilityModel(BaseEstimator):  # type: ignore[misc]
    """Template: ``fit``/``predict_proba``/``save_artifact``/``load_artifact`` on scikit-learn's ``BaseEstimator``."""

    name: ClassVar[str] = "base"
    n_outcomes: int
    classes_: IntArray
    fallback_: FloatArray
    feature_names_in_: NDArray[np.object_]

    # ------------------------------------------------------------------ scikit-learn surface

    def clone(self) -> Self:
        """An unfitted copy with the same hyper-parameters (nested models cloned too): ``sklearn.base.clone``."""
        copy: Self = sklearn_clone(self)
        return copy

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "fallback_")

    def _input_columns(self) -> tuple[list[str], list[str]]:
        """(required, optional) columns of X this fitted model reads; optional ones may be absent (documented
        fallback). Called after fit and after loading, so artifacts need not store it."""
        return [], []

    def _record_inputs(self) -> None:
        required, optional = self._input_columns()
        self.feature_names_in_ = np.asarray([*required, *optional], dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        self.optional_features_ = tuple(optional)

    def _check_input(self, X: pl.DataFrame) -> None:
        """Fitted, and every required column present: a missing one would otherwise be read as all-NaN."""
        check_is_fitted(self)
        optional = set(getattr(self, "optional_features_", ()))
        names = getattr(self, "feature_names_in_", np.empty(0, dtype=object))
        missing = [str(c) for c in names if c not in optional and c not in X.columns]
        if missing:
            raise ValueError(
                f"{type(self).__name__} was fitted with column(s) that X lacks: {', '.join(missing)} "
                f"(X has {X.width} columns; build X with the same feature set as the training matrix)"
            )

    def fit(self, X: pl.DataFrame, y: npt.ArrayLike) -> Self:
        labels = np.asarray(y, dtype=np.int64)
        if labels.shape != (X.height,):
            raise ValueError(f"y has shape {labels.shape} but X has {X.height} rows")
        if X.height == 0:
            raise ValueError(f"{type(self).__name__} cannot be fitted on zero rows")
        if labels.min() < 0 or labels.max() >= self.n_outcomes:
            raise ValueError(f"labels must be class indices in 0..{self.n_outcomes - 1}")
        self.classes_ = np.arange(self.n_outcomes, dtype=np.int64)
        self._fit(X, labels)
        self.fallback_ = base_rates(labels, self.n_outcomes)  # last: a model whose _fit failed stays unfitted
        self._record_inputs()
        return self

    def predict_proba(self, X: pl.DataFrame) -> FloatArray:
        """(n, k) probabilities summing to 1; rows the model cannot price get the training base rates."""
        self._check_input(X)
        if X.height == 0:
            return np.empty((0, self.n_outcomes), dtype=np.float64)
        p = np.asarray(self._predict_proba(X), dtype=np.float64)
        bad = ~np.isfinite(p).all(axis=1)
        p[bad] = self.fallback_
        return normalise(p)

    def fallback_rows(self, X: pl.DataFrame) -> NDArray[np.bool_]:
        """Rows this model prices from its fallback (base rates); reported, never dropped."""
        self._check_input(X)
        if X.height == 0:
            return np.zeros(0, dtype=bool)
        p = np.asarray(self._predict_proba(X), dtype=np.float64)
        return np.asarray(~np.isfinite(p).all(axis=1))

    def _fit(self, X: pl.DataFrame, y: IntArray) -> None:
        raise NotImplementedError

    def _predict_proba(self, X: pl.DataFrame) -> FloatArray:
        """May return NaN rows where the model has no opinion; ``predict_proba`` fills them."""
        raise NotImplementedError

    # ------------------------------------------------------------------ persistence (no pickle)

    def _get_state(self) -> tuple[dict[str, Any], dict[str, FloatArray]]:
        """JSON-able state plus named arrays; subclasses extend and may write extra files in ``_save_extra``."""
        return {}, {}

    def _set_state(self, state: dict[str, Any], arrays: dict[str, FloatArray], directory: Path) -> None:
        del state, arrays, directory

    def _save_extra(self, directory: Path) -> None:
        del directory

    def save_artifact(self, directory: Path) -> None:
        if not hasattr(self, "fallback_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted; nothing to save")
        directory.mkdir(parents=True, exist_ok=True)
        state, arrays = self._get_state()
        params = {k: v for k, v in self.get_params(deep=False).items() if not isinstance(v, BaseProbabilityModel)}
        document = {"format": FORMAT_VERSION, "model": self.name, "params": params, "state": state}
        (directory / MODEL_FILE).write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
        all_arrays = {"fallback_": self.fallback_, **arrays}
        np.savez(directory / ARRAYS_FILE, allow_pickle=False, **{k: np.asarray(v) for k, v in all_arrays.items()})
        self._save_extra(directory)

    @classmethod
    def load_artifact(cls, directory: Path) -> Self:
        """Rebuild from ``save_artifact``'s files; called on the base class it dispatches on the stored name."""
        document = json.loads((directory / MODEL_FILE).read_text())
        if document.get("format") != FORMAT_VERSION:
            raise ValueError(f"unsupported artifact format {document.get('format')!r} in {directory}")
        target = get_model_class(document["model"])
        if not issubclass(target, cls):
            raise TypeError(f"artifact holds a {target.__name__}, not a {cls.__name__}")
        model = target._from_params(document["params"], directory)
        with np.load(directory / ARRAYS_FILE, allow_pickle=False) as data:
            arrays = {k: np.asarray(data[k]) for k in data.files}
        model.fallback_ = arrays.pop("fallback_")
        model.classes_ = np.arange(model.n_outcomes, dtype=np.int64)
        model._set_state(document["state"], arrays, directory)
        model._record_inputs()
        return model  # type: ignore[return-value]

    @classmethod
    def _from_params(cls, params: dict[str, Any], directory: Path) -> BaseProbabilityModel:
        del directory
        return cls(**params)
