"""Train one model on everything played so far and register it with its lineage: features -> modeling -> registry.

The validation metrics stored with a version are honest hold-out figures: the model is fitted on all seasons but the
last played one, scored on that season, and only then refitted on everything. Never trains on unplayed events.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import polars as pl
from sqlalchemy import Engine

from betpipe.config import Settings
from betpipe.db.bulk import as_utc
from betpipe.features import default_feature_set, feature_set_version, training_matrix
from betpipe.logs import get_logger
from betpipe.modeling import brier, default_specs, labels_from_outcome, log_loss, rps
from betpipe.modeling.evaluate import RULES, EvaluationReport
from betpipe.registry import ModelVersion, TrainingLineage, register_model
from betpipe.sports import sport_rules
from betpipe.threads import configure_threads

log = get_logger(__name__)

# The name the model was trained as (``train --model gbm``), kept in the version's params: its ``model_type`` is the
# estimator class that loads the artifact (a calibrated GBM is a ``calibrated``), not what the user asked for.
MODEL_NAME_PARAM = "model_name"


@dataclass(frozen=True)
class TrainingResult:
    version: ModelVersion
    holdout_season: str | None
    holdout_rows: int
    metrics: dict[str, float]


def market_for(sport: str) -> str:
    """The market a sport's models predict (``betpipe.sports``); an unknown sport is an ``UnknownSportError``."""
    return sport_rules(sport).prediction_market


def trainable_models(sport: str) -> list[str]:
    return [spec.name for spec in default_specs(sport) if not spec.anchor]


def data_hash(frame: pl.DataFrame) -> str:
    """A content hash of the training rows (ids, kickoffs, labels, every feature), stable across runs."""
    digest = hashlib.sha256()
    for name in sorted(frame.columns):
        column = frame.get_column(name)
        digest.update(name.encode())
        if column.dtype.is_numeric() or column.dtype == pl.Boolean:
            digest.update(column.cast(pl.Float64).fill_null(np.nan).to_numpy().tobytes())
        else:
            digest.update("\x1f".join("" if v is None else str(v) for v in column.to_list()).encode())
    return digest.hexdigest()


def json_params(model: object) -> dict[str, object]:
    """``get_params`` made JSON-safe: nested estimators become {"model": name, "params": ...}."""

    def safe(value: object) -> object:
        if hasattr(value, "get_params"):
            return {"model": getattr(value, "name", type(value).__name__), "params": json_params(value)}
        if isinstance(value, dict):
            return {str(k): safe(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [safe(v) for v in value]
        if value is None or isinstance(value, bool | int | float | str):
            return value
        return repr(value)

    return {str(k): safe(v) for k, v in model.get_params().items()}  # type: ignore[attr-defined]


def _played(frame: pl.DataFrame, n_outcomes: int) -> pl.DataFrame:
    """Rows with a result; in two-way markets a tie is void, not a class."""
    played = frame.filter(pl.col("outcome").is_not_null())
    return played.filter(pl.col("outcome") != 1) if n_outcomes == 2 else played


def _scores(probabilities: np.ndarray, labels: np.ndarray, k: int) -> dict[str, float]:
    scores = {"log_loss": float(log_loss(probabilities, labels)), "brier": float(brier(probabilities, labels))}
    if k == 3:
        scores["rps"] = float(rps(probabilities, labels))
    return scores


def train_model(
    engine: Engine,
    *,
    sport: str,
    model: str,
    settings: Settings,
    competitions: list[str] | None = None,
    end: datetime | None = None,
    known_before: datetime | None = None,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> TrainingResult:
    """Fit ``model`` (a name from ``trainable_models``) on played events before ``end`` and register it.

    ``known_before`` keeps only results known strictly before that instant (``result_known_at``, the one rule of
    ``betpipe.sports.ResultTiming``): a kickoff bound alone lets a date-only game of that day leak its result.

    ``on_progress(step, steps done, steps in all)`` is called before each step, for a progress bar."""
    specs = {spec.name: spec for spec in default_specs(sport) if not spec.anchor}
    if model not in specs:
        raise ValueError(f"unknown model {model!r} for {sport}; trainable: {', '.join(sorted(specs))}")
    k = RULES[sport].n_outcomes

    def step(description: str, done: int) -> None:
        if on_progress is not None:
            on_progress(description, done, 4)

    configure_threads(settings.compute)  # a library entry point: pools sized before any fit
    step("loading features", 0)
    frame = training_matrix(engine, sport=sport, competitions=competitions, end=end, settings=settings)
    played = _played(frame, k)
    if known_before is not None:
        played = played.filter(pl.col("result_known_at") < as_utc(known_before))
    if played.height == 0:
        raise ValueError(f"no played {sport} events to train on: ingest results and build features first")
    labels = labels_from_outcome(played.get_column("outcome").to_numpy(), k)
    seasons = sorted(set(played.get_column("season").to_list()))
    metrics: dict[str, float] = {}
    holdout_season: str | None = None
    holdout_rows = 0
    if len(seasons) >= 2:
        holdout_season = seasons[-1]
        step(f"fitting without {holdout_season}, scoring it", 1)
        in_holdout = (played.get_column("season") == holdout_season).to_numpy()
        candidate = specs[model].build().fit(played.filter(~in_holdout), labels[~in_holdout])
        holdout = played.filter(in_holdout)
        metrics = _scores(candidate.predict_proba(holdout), labels[in_holdout], k)
        holdout_rows = int(in_holdout.sum())
    step(f"fitting on all {played.height} rows", 2)
    fitted = specs[model].build().fit(played, labels)
    kickoffs = played.get_column("kickoff_utc")
    definitions = default_feature_set(sport)
    step("registering", 3)
    lineage = TrainingLineage(
        start=as_utc(kickoffs.min()),  # type: ignore[arg-type]
        end=as_utc(kickoffs.max()),  # type: ignore[arg-type]
        row_count=played.height,
        data_hash=data_hash(played),
        feature_set_versions={
            "feature_set": feature_set_version(definitions),
            **{definition.name: definition.version for definition in definitions},
        },
        seasons=tuple(seasons),
    )
    version = register_model(
        engine,
        fitted,
        model_type=type(fitted).name,  # type: ignore[attr-defined]
        sport=sport,
        market=market_for(sport),
        training=lineage,
        metrics={**metrics, "holdout_rows": holdout_rows},
        settings=settings,
        params={MODEL_NAME_PARAM: model, **json_params(fitted)},
    )
    log.info("model registered", sport=sport, model=model, version_id=version.id, rows=played.height, **metrics)
    step("registered", 4)
    return TrainingResult(version, holdout_season, holdout_rows, metrics)


@dataclass(frozen=True)
class BestChoice:
    """The trainable model an evaluation ranks best, with the figures that say why."""

    model: str
    metric: str
    rows: int
    ranking: list[tuple[str, float]]
    runner_up: tuple[float, float, float] | None  # Δ metric (best − runner-up), 95% CI low, high

    def reason(self) -> str:
        head = f"best {self.metric.upper()} {self.ranking[0][1]:.4f} on {self.rows} walk-forward rows"
        others = [f"{name} {value:.4f}" for name, value in self.ranking[1:]]
        if not others:
            return f"{head} (the only trainable model evaluated)"
        text = f"{head} vs {', '.join(others)}"
        if self.runner_up is not None:
            mean, low, high = self.runner_up
            text += f"; Δ to {self.ranking[1][0]} {mean:+.4f} (95% CI {low:+.4f} .. {high:+.4f}"
            text += ", CI includes 0: a near tie)" if low <= 0 <= high else ")"
        return text


def best_trainable(report: EvaluationReport) -> BestChoice:
    """The trainable model the report ranks best on its headline metric (RPS for 1X2, Brier for two-way); market
    anchors are yardsticks, not candidates. Promoting anything else would crown a model the evaluation says loses."""
    ranking = report.ranking(trainable_models(report.sport))
    if not ranking:
        raise ValueError("the evaluation scored no trainable model: drop --model filters that leave only anchors")
    runner_up = report.paired_difference(ranking[0][0], ranking[1][0]) if len(ranking) > 1 else None
    return BestChoice(ranking[0][0], report.primary, report.rows, ranking, runner_up)


def comparison_rows(
    engine: Engine, *, sport: str, after: datetime, settings: Settings
) -> tuple[pl.DataFrame, np.ndarray, bool]:
    """Rows to compare two versions on: played events after both were trained (out of sample) when there are any,
    else the last played season (then flagged as possibly in-sample)."""
    k = RULES[sport].n_outcomes
    frame = _played(training_matrix(engine, sport=sport, settings=settings), k)
    later = frame.filter(pl.col("kickoff_utc") > as_utc(after))
    out_of_sample = later.height > 0
    if not out_of_sample:
        last = frame.get_column("season").max()
        later = frame.filter(pl.col("season") == last)
    return later, labels_from_outcome(later.get_column("outcome").to_numpy(), k), out_of_sample
