"""``betpipe models ab-report``: champion vs challenger on settled events both predicted before kickoff, with paired
bootstrap CIs (EVALUATION.md: 2,000 resamples of rows, seed 0) of the log-loss, Brier and RPS differences, and the
closing-line value of each arm's bets.

Read-only. Rows come from the registry's shadow predictions (``record_shadow_predictions``; the pipeline's
predictions job stores both arms for every upcoming event), so both arms are scored on exactly the same events.
Must never score a prediction made at or after kickoff, an unsettled event or a void outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import Engine, select

from betpipe.db.schema_betting import bets
from betpipe.registry import CHALLENGER, CHAMPION, RegistryError, alias_version
from betpipe.registry.shadow import OUTCOMES, recorded_predictions
from betpipe.registry.versions import ModelVersion, get_version

__all__ = ["ABReport", "Interval", "ab_report", "bootstrap_mean"]

RESAMPLES = 2000
SEED = 0
EPS = 1e-15


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float
    n: int


def bootstrap_mean(values: np.ndarray[Any, Any], *, resamples: int = RESAMPLES, seed: int = SEED) -> Interval:
    """The mean with a percentile bootstrap 95 % interval (resampling rows)."""
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return Interval(float("nan"), float("nan"), float("nan"), 0)
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, (resamples, x.size))].mean(axis=1)
    low, high = np.quantile(means, [0.025, 0.975])
    return Interval(float(x.mean()), float(low), float(high), int(x.size))


def _per_row(proba: np.ndarray[Any, Any], labels: np.ndarray[Any, Any]) -> dict[str, np.ndarray[Any, Any]]:
    """Per-row log loss, Brier (two-way: squared error of p(home)) and, for 3-way markets, RPS."""
    n, k = proba.shape
    onehot = np.zeros_like(proba)
    onehot[np.arange(n), labels] = 1.0
    error = proba - onehot
    out = {
        "log_loss": -np.log(np.clip(proba[np.arange(n), labels], EPS, 1.0)),
        "brier": error[:, 0] ** 2 if k == 2 else np.sum(error**2, axis=1),
    }
    if k == 3:
        out["rps"] = np.sum(np.cumsum(error, axis=1)[:, :-1] ** 2, axis=1) / (k - 1)
    return out


@dataclass(frozen=True)
class ABReport:
    champion: ModelVersion
    challenger: ModelVersion
    scored_events: int
    metrics: dict[str, tuple[float, float, Interval]]  # metric -> (champion, challenger, paired challenger - champion)
    clv: dict[str, Interval]  # "champion" / "challenger": mean CLV of the arm's settled bets


def _version(engine: Engine, sport: str, market: str, given: int | None, alias: str) -> ModelVersion:
    if given is not None:
        with engine.connect() as conn:
            return get_version(conn, given)
    found = alias_version(engine, sport, market, alias)
    if found is None:
        raise RegistryError(f"{sport}/{market} has no {alias}; promote one or pass its id")
    return found


def _clv(engine: Engine, version_id: int) -> Interval:
    with engine.connect() as conn:
        values = conn.execute(
            select(bets.c.clv).where(bets.c.model_version == version_id, bets.c.clv.is_not(None))
        ).scalars()
        return bootstrap_mean(np.fromiter((float(v) for v in values), dtype=np.float64))


def ab_report(
    engine: Engine, sport: str, market: str, *, champion_id: int | None = None, challenger_id: int | None = None
) -> ABReport:
    """Both arms on the same settled, pre-kickoff-predicted events, with paired CIs of every metric difference."""
    champion = _version(engine, sport, market, champion_id, CHAMPION)
    challenger = _version(engine, sport, market, challenger_id, CHALLENGER)
    a, b = recorded_predictions(engine, champion.id), recorded_predictions(engine, challenger.id)
    both = a.join(
        b.select("event_id", pl.col("probabilities").alias("proba_b"), pl.col("late").alias("late_b")),
        on="event_id",
        how="inner",
    ).filter(pl.col("settled") & ~pl.col("late") & ~pl.col("late_b"))
    labels = OUTCOMES[market](both) if both.height else np.empty(0, dtype=np.int64)
    scored = both.filter(pl.Series(labels >= 0)).sort("event_id")
    labels = labels[labels >= 0].astype(np.int64) if labels.size else labels
    metrics: dict[str, tuple[float, float, Interval]] = {}
    if scored.height:
        rows_a = _per_row(np.asarray(scored["probabilities"].to_list(), dtype=np.float64), labels)
        rows_b = _per_row(np.asarray(scored["proba_b"].to_list(), dtype=np.float64), labels)
        for name in rows_a:
            metrics[name] = (
                float(rows_a[name].mean()),
                float(rows_b[name].mean()),
                bootstrap_mean(rows_b[name] - rows_a[name]),
            )
    clv = {"champion": _clv(engine, champion.id), "challenger": _clv(engine, challenger.id)}
    return ABReport(champion, challenger, scored.height, metrics, clv)
