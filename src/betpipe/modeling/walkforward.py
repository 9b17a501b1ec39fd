"""Walk-forward prediction by season: to predict season S a model is fitted on seasons before S only, optionally
refitted during S on results already known (kickoff + the sport's result delay) before each block starts.

This is where "never uses the future" is enforced for the evaluation: training rows are selected by season rank and
kickoff time, never by anything computed from the rows being predicted. A model that fails to fit or cannot price a
row gives that row its fallback (base rates of the training rows), counted and reported, never dropped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from numpy.typing import NDArray
from threadpoolctl import threadpool_limits

from betpipe.modeling._base import BaseProbabilityModel, FloatArray, IntArray, base_rates
from betpipe.modeling.dixon_coles import DixonColesModel

SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True)
class ModelSpec:
    """How to build one model for the evaluation; ``refit_days`` adds in-season refits every that many days."""

    name: str
    build: Callable[[], BaseProbabilityModel]
    refit_days: float | None = None
    anchor: bool = False  # a market baseline, not a model
    # Specs with the same fit_group reuse each other's fits (the evaluation's fit cache), so they run in one process.
    fit_group: str | None = None
    cost: float = 1.0  # relative CPU per scored season: orders parallel tasks and weighs the progress bar's ETA
    # Every column the model reads (those absent from the frame are skipped): the walk-forward slices only these for
    # each refit instead of the whole matrix. None: all columns. Dixon–Coles slices its rows ~40 times a season.
    columns: tuple[str, ...] | None = None


@dataclass
class WalkForwardResult:
    probabilities: FloatArray  # (rows to predict, k)
    fallback: NDArray[np.bool_]
    seconds: float
    notes: list[str] = field(default_factory=list)
    last_model: BaseProbabilityModel | None = None


def kickoff_seconds(frame: pl.DataFrame) -> FloatArray:
    return frame.get_column("kickoff_utc").dt.epoch("s").cast(pl.Float64).to_numpy()


def _fit_predict(
    spec: ModelSpec,
    previous: BaseProbabilityModel | None,
    frame: pl.DataFrame,
    y: IntArray,
    train: IntArray,
    predict: IntArray,
    k: int,
    notes: list[str],
    label: str,
) -> tuple[FloatArray, NDArray[np.bool_], BaseProbabilityModel | None]:
    rows = frame[predict]
    if train.size == 0:
        notes.append(f"{label}: no training rows; uniform fallback")
        return np.full((predict.size, k), 1.0 / k), np.ones(predict.size, dtype=bool), None
    model = spec.build()
    if isinstance(model, DixonColesModel) and isinstance(previous, DixonColesModel):
        model.warm_start_from(previous)
    try:
        model.fit(frame[train], y[train])
        return model.predict_proba(rows), model.fallback_rows(rows), model
    except (ValueError, RuntimeError, FloatingPointError, np.linalg.LinAlgError) as error:
        notes.append(f"{label}: fit failed ({error}); base-rate fallback")
        return np.tile(base_rates(y[train], k), (predict.size, 1)), np.ones(predict.size, dtype=bool), None


def walk_forward_predict(
    spec: ModelSpec,
    frame: pl.DataFrame,
    y: IntArray,
    *,
    labelled: NDArray[np.bool_],
    predict_mask: NDArray[np.bool_],
    n_outcomes: int,
    result_delay_hours: float,
    on_season: Callable[[str], None] | None = None,
) -> WalkForwardResult:
    """Predictions for ``predict_mask`` rows (in frame order); ``labelled`` marks rows usable for training.

    ``on_season(season)`` is called after each season is predicted (it drives the evaluation's progress bar).
    BLAS runs on one thread meanwhile: its work here is L-BFGS-B on a few hundred parameters, where OpenBLAS's
    extra threads only spin (20x the CPU for the same bits; docs/benchmarks.md, evaluate).
    """
    if spec.columns is not None:
        keep = {"season", "kickoff_utc", *spec.columns}
        frame = frame.select(c for c in frame.columns if c in keep)
    with threadpool_limits(limits=1, user_api="blas"):
        return _walk_forward(spec, frame, y, labelled, predict_mask, n_outcomes, result_delay_hours, on_season)


def _walk_forward(
    spec: ModelSpec,
    frame: pl.DataFrame,
    y: IntArray,
    labelled: NDArray[np.bool_],
    predict_mask: NDArray[np.bool_],
    n_outcomes: int,
    result_delay_hours: float,
    on_season: Callable[[str], None] | None,
) -> WalkForwardResult:
    started = time.perf_counter()
    seasons = np.asarray(frame.get_column("season").cast(pl.Utf8).to_list())
    kick = kickoff_seconds(frame)
    known_at = kick + result_delay_hours * 3600.0
    target = np.flatnonzero(predict_mask)
    out = np.full((target.size, n_outcomes), np.nan)
    fallback = np.zeros(target.size, dtype=bool)
    notes: list[str] = []
    model: BaseProbabilityModel | None = None
    for season in sorted(set(seasons[target].tolist())):
        in_season = target[seasons[target] == season]
        past = labelled & (seasons < season)
        if spec.refit_days is None:
            blocks = [(in_season, np.flatnonzero(past))]
        else:
            step = spec.refit_days * SECONDS_PER_DAY
            first = np.floor(kick[in_season].min() / SECONDS_PER_DAY) * SECONDS_PER_DAY
            block_of = ((kick[in_season] - first) // step).astype(np.int64)
            blocks = []
            for b in np.unique(block_of):
                start = first + b * step
                train = np.flatnonzero(labelled & (seasons <= season) & (known_at <= start))
                blocks.append((in_season[block_of == b], train))
        for rows, train in blocks:
            p, fb, fitted = _fit_predict(spec, model, frame, y, train, rows, n_outcomes, notes, f"{spec.name} {season}")
            model = fitted or model
            idx = np.searchsorted(target, rows)  # target is sorted (flatnonzero) and holds every row predicted
            out[idx] = p
            fallback[idx] = fb
        if on_season is not None:
            on_season(season)
    return WalkForwardResult(out, fallback, time.perf_counter() - started, notes, model)
