"""Scoring two registered versions on exactly the same rows, and the probability metrics used for it.

Uses ``betpipe.modeling.metrics`` (``log_loss`` / ``brier`` / ``rps``) when the modeling package provides them, so the
registry and the evaluation report agree; otherwise the small vectorised fallbacks below. Must never compare two
models on different rows: both predict the one frame handed in, and the paired per-row differences are reported.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import Engine

from betpipe.config import Settings
from betpipe.registry.errors import RegistryError
from betpipe.registry.versions import ModelClasses, ModelVersion, get_version, load_verified

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
# (probabilities (n, k), labels (n,)) -> {metric: value}; the argument order of ``betpipe.modeling.metrics``.
MetricsFn = Callable[[FloatArray, np.ndarray[Any, Any]], dict[str, float]]
EPSILON = 1e-15


def as_class_matrix(proba: np.ndarray[Any, Any]) -> FloatArray:
    """``(n, k)`` probabilities; a ``(n,)`` vector is read as the probability of class 0 (home) of a two-way market."""
    matrix = np.asarray(proba, dtype=np.float64)
    if matrix.ndim == 1:
        matrix = np.column_stack([matrix, 1.0 - matrix])
    if matrix.ndim != 2:
        raise ValueError(f"probabilities must be (n,) or (n, k), got shape {matrix.shape}")
    return matrix


def per_row_log_loss(proba: np.ndarray[Any, Any], y: np.ndarray[Any, Any]) -> FloatArray:
    matrix = as_class_matrix(proba)
    labels = np.asarray(y, dtype=np.int64)
    picked = matrix[np.arange(labels.shape[0]), labels]
    result: FloatArray = -np.log(np.clip(picked, EPSILON, 1.0))
    return result


def fallback_metrics(proba: FloatArray, y: np.ndarray[Any, Any]) -> dict[str, float]:
    """Log loss, Brier and RPS as ``betpipe.modeling.metrics`` defines them, for when that package is absent."""
    matrix = as_class_matrix(proba)
    labels = np.asarray(y, dtype=np.int64)
    onehot = np.zeros_like(matrix)
    onehot[np.arange(matrix.shape[0]), labels] = 1.0
    error = matrix - onehot
    brier = error[:, 0] ** 2 if matrix.shape[1] == 2 else np.sum(error**2, axis=1)
    gap = np.cumsum(error, axis=1)[:, :-1]
    rps = np.sum(gap**2, axis=1) / (matrix.shape[1] - 1)
    return {
        "log_loss": float(per_row_log_loss(matrix, labels).mean()),
        "brier": float(brier.mean()),
        "rps": float(rps.mean()),
    }


def default_metrics(proba: FloatArray, y: np.ndarray[Any, Any]) -> dict[str, float]:
    """The modeling package's log loss, Brier and RPS (one definition project-wide), else ``fallback_metrics``."""
    try:
        from betpipe.modeling import metrics as modeling_metrics
    except ImportError:
        return fallback_metrics(proba, y)
    return {
        "log_loss": modeling_metrics.log_loss(proba, y),
        "brier": modeling_metrics.brier(proba, y),
        "rps": modeling_metrics.rps(proba, y),
    }


def _check_labels(y: np.ndarray[Any, Any], n_classes: int) -> np.ndarray[Any, Any]:
    labels = np.asarray(y)
    if labels.ndim != 1:
        raise ValueError(f"labels must be one class index per row, got shape {labels.shape}")
    if labels.size and (not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"labels must be integer class indices in [0, {n_classes}); got {labels.dtype} values")
    return labels


@dataclass(frozen=True)
class ComparisonReport:
    """Both versions on the same rows; ``differences`` are B minus A (negative log loss difference: B is better)."""

    version_a: ModelVersion
    version_b: ModelVersion
    rows: int
    metrics_a: dict[str, float]
    metrics_b: dict[str, float]
    differences: dict[str, float]
    log_loss_difference_se: float  # standard error of the paired per-row log loss difference
    max_abs_probability_difference: float


def compare_predictions(
    version_a: ModelVersion,
    version_b: ModelVersion,
    proba_a: np.ndarray[Any, Any],
    proba_b: np.ndarray[Any, Any],
    y: np.ndarray[Any, Any],
    metrics_fn: MetricsFn | None = None,
) -> ComparisonReport:
    """The report for two prediction sets already known to be on the same rows (shared by shadow scoring)."""
    matrix_a, matrix_b = as_class_matrix(proba_a), as_class_matrix(proba_b)
    if matrix_a.shape != matrix_b.shape:
        raise ValueError(f"the two versions predicted different shapes: {matrix_a.shape} vs {matrix_b.shape}")
    labels = _check_labels(y, matrix_a.shape[1])
    if labels.shape[0] != matrix_a.shape[0]:
        raise ValueError(f"{labels.shape[0]} labels for {matrix_a.shape[0]} rows")
    score = metrics_fn or default_metrics
    metrics_a, metrics_b = score(matrix_a, labels), score(matrix_b, labels)
    rows = int(matrix_a.shape[0])
    paired = per_row_log_loss(matrix_b, labels) - per_row_log_loss(matrix_a, labels)
    se = float(paired.std(ddof=1) / np.sqrt(rows)) if rows > 1 else float("nan")
    return ComparisonReport(
        version_a=version_a,
        version_b=version_b,
        rows=rows,
        metrics_a=metrics_a,
        metrics_b=metrics_b,
        differences={k: metrics_b[k] - metrics_a[k] for k in metrics_a if k in metrics_b},
        log_loss_difference_se=se,
        max_abs_probability_difference=float(np.abs(matrix_a - matrix_b).max()) if rows else 0.0,
    )


def compare_versions(
    engine: Engine,
    a: int,
    b: int,
    frame: pl.DataFrame,
    y: np.ndarray[Any, Any] | pl.Series,
    *,
    settings: Settings,
    metrics_fn: MetricsFn | None = None,
    model_classes: ModelClasses | None = None,
) -> ComparisonReport:
    """Load both versions (verified) and score them on ``frame``/``y``: the same rows by construction."""
    with engine.connect() as conn:
        version_a, version_b = get_version(conn, a), get_version(conn, b)
    if version_a.market != version_b.market:
        raise RegistryError(
            f"cannot compare {version_a.label} with {version_b.label}: different markets predict different outcomes"
        )
    if frame.height == 0:
        raise ValueError("no rows to compare on")
    labels = y.to_numpy() if isinstance(y, pl.Series) else np.asarray(y)
    model_a = load_verified(version_a, settings, model_classes)
    model_b = load_verified(version_b, settings, model_classes)
    return compare_predictions(
        version_a, version_b, model_a.predict_proba(frame), model_b.predict_proba(frame), labels, metrics_fn
    )


def metrics_table(report: ComparisonReport) -> Mapping[str, tuple[float, float, float]]:
    """metric -> (A, B, B - A), in a stable order for printing."""
    return {k: (report.metrics_a[k], report.metrics_b[k], v) for k, v in sorted(report.differences.items())}
