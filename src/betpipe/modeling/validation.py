"""Time-ordered validation: expanding-window folds by season (with a gap) and out-of-fold predictions.

A fold never trains on its own season or on any later one: the fold indices are the single source of truth for
"fitted on the past only", and tests assert it. Out-of-fold predictions are what calibration and blending weights
are fitted on, so neither ever sees a prediction the model made about its own training rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl
from numpy.typing import NDArray

from betpipe.modeling._base import BaseProbabilityModel, FloatArray, IntArray


@dataclass(frozen=True)
class Fold:
    test_season: str
    train_index: IntArray
    test_index: IntArray


def season_order(seasons: npt.ArrayLike) -> list[str]:
    """Seasons sorted in time; names are "YYYY-YYYY" or "YYYY", so lexical order is time order."""
    return sorted({str(s) for s in np.asarray(seasons).tolist()})


def season_folds(
    seasons: npt.ArrayLike,
    *,
    min_train_seasons: int = 1,
    gap: int = 0,
    test_seasons: list[str] | None = None,
    max_folds: int | None = None,
) -> list[Fold]:
    """Expanding-window folds: test on season S, train on every season at least ``gap + 1`` seasons before S.

    ``max_folds`` keeps only the latest folds (the ones closest to the data a final model is refitted on).
    """
    labels = np.asarray([str(s) for s in np.asarray(seasons).tolist()])
    order = season_order(labels)
    rank = {s: i for i, s in enumerate(order)}
    row_rank = np.array([rank[s] for s in labels], dtype=np.int64)
    folds = []
    for i, season in enumerate(order):
        if test_seasons is not None and season not in test_seasons:
            continue
        train_until = i - gap  # exclusive rank bound
        if train_until < min_train_seasons:
            continue
        train = np.flatnonzero(row_rank < train_until)
        test = np.flatnonzero(row_rank == i)
        if train.size and test.size:
            folds.append(Fold(season, train.astype(np.int64), test.astype(np.int64)))
    if max_folds is not None:
        folds = folds[-max_folds:] if max_folds > 0 else []
    return folds


def out_of_fold_predict(
    model: BaseProbabilityModel,
    X: pl.DataFrame,
    y: npt.ArrayLike,
    *,
    seasons: npt.ArrayLike,
    min_train_seasons: int = 1,
    gap: int = 0,
    max_folds: int | None = None,
) -> tuple[FloatArray, NDArray[np.bool_], list[Fold]]:
    """Predictions for each fold's test rows by a clone fitted on that fold's past; NaN where no fold covers a row.

    Returns the (n, k) predictions, the mask of rows that have one, and the folds used.
    """
    labels = np.asarray(y, dtype=np.int64)
    folds = season_folds(seasons, min_train_seasons=min_train_seasons, gap=gap, max_folds=max_folds)
    out = np.full((X.height, model.n_outcomes), np.nan)
    for fold in folds:
        fitted = model.clone().fit(X[fold.train_index], labels[fold.train_index])
        out[fold.test_index] = fitted.predict_proba(X[fold.test_index])
    covered = np.isfinite(out).all(axis=1)
    return out, covered, folds
