"""The estimator template every betpipe model follows: scikit-learn surface plus pickle-free persistence.

Subclasses implement ``_fit``, ``_predict_proba`` and, for persistence, ``_get_state``/``_set_state``. Rows are a
polars frame of the feature-store contract (``betpipe.features.training_matrix``); labels are class indices into the
columns of ``predict_proba`` (3-way: 0 home, 1 draw, 2 away; two-way: 0 home, 1 away). Artifacts are JSON, numpy
``.npz`` (``allow_pickle=False``) or LightGBM's text format: never pickle, so loading an artifact cannot run code.
Hyper-parameters are stored unmodified in ``__init__``; everything learnt ends in ``_``.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt
import polars as pl
from numpy.typing import NDArray

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


class BaseProbabilityModel:
    """Template: ``fit``/``predict_proba``/``get_params``/``set_params``/``save_artifact``/``load_artifact``."""

    name: ClassVar[str] = "base"
    n_outcomes: int
    classes_: IntArray
    fallback_: FloatArray

    # ------------------------------------------------------------------ scikit-learn surface

    @classmethod
    def _param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return [p.name for p in signature.parameters.values() if p.name != "self" and p.kind != p.VAR_KEYWORD]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        params = {name: getattr(self, name) for name in self._param_names()}
        if deep:
            for key, value in list(params.items()):
                if isinstance(value, BaseProbabilityModel):
                    params.update({f"{key}__{k}": v for k, v in value.get_params().items()})
        return params

    def set_params(self, **params: Any) -> Self:
        valid = set(self._param_names())
        for key, value in params.items():
            head, _, rest = key.partition("__")
            if head not in valid:
                raise ValueError(f"invalid parameter {head!r} for {type(self).__name__}")
            if rest:
                getattr(self, head).set_params(**{rest: value})
            else:
                setattr(self, head, value)
        return self

    def clone(self) -> Self:
        """An unfitted copy with the same hyper-parameters (nested models cloned too)."""
        params = {
            k: (v.clone() if isinstance(v, BaseProbabilityModel) else v) for k, v in self.get_params(deep=False).items()
        }
        return type(self)(**params)

    def fit(self, X: pl.DataFrame, y: npt.ArrayLike) -> Self:
        labels = np.asarray(y, dtype=np.int64)
        if labels.shape != (X.height,):
            raise ValueError(f"y has shape {labels.shape} but X has {X.height} rows")
        if X.height == 0:
            raise ValueError(f"{type(self).__name__} cannot be fitted on zero rows")
        if labels.min() < 0 or labels.max() >= self.n_outcomes:
            raise ValueError(f"labels must be class indices in 0..{self.n_outcomes - 1}")
        self.classes_ = np.arange(self.n_outcomes, dtype=np.int64)
        self.fallback_ = base_rates(labels, self.n_outcomes)
        self._fit(X, labels)
        return self

    def predict_proba(self, X: pl.DataFrame) -> FloatArray:
        """(n, k) probabilities summing to 1; rows the model cannot price get the training base rates."""
        if not hasattr(self, "fallback_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted")
        if X.height == 0:
            return np.empty((0, self.n_outcomes), dtype=np.float64)
        p = np.asarray(self._predict_proba(X), dtype=np.float64)
        bad = ~np.isfinite(p).all(axis=1)
        p[bad] = self.fallback_
        return normalise(p)

    def fallback_rows(self, X: pl.DataFrame) -> NDArray[np.bool_]:
        """Rows this model prices from its fallback (base rates); reported, never dropped."""
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
            raise RuntimeError(f"{type(self).__name__} is not fitted; nothing to save")
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
        return model  # type: ignore[return-value]

    @classmethod
    def _from_params(cls, params: dict[str, Any], directory: Path) -> BaseProbabilityModel:
        del directory
        return cls(**params)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.get_params(deep=False).items())
        return f"{type(self).__name__}({shown})"
