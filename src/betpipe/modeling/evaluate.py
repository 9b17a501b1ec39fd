"""The evaluation of ../shared/EVALUATION.md: every model and every market anchor walked forward by season and scored
on exactly the same rows, with paired bootstrap intervals for each difference to the closing and pre-match market.

Rows come from ``betpipe.features.training_matrix`` (whatever is ingested). This module never tunes anything on the
seasons it reports, never drops a row a model cannot price (that row gets the model's fallback and is counted), and
never uses a closing price as an input to a model; closing prices only appear as the benchmark anchor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
from numpy.typing import NDArray
from sqlalchemy import Engine

from betpipe.config import Settings
from betpipe.modeling._base import FloatArray, IntArray, labels_from_outcome
from betpipe.modeling.blend import MarketBlendModel
from betpipe.modeling.calibration import CalibratedModel
from betpipe.modeling.dixon_coles import DixonColesModel
from betpipe.modeling.elo_logit import EloLogitModel
from betpipe.modeling.evalrun import Inputs, run_in_process, run_in_workers
from betpipe.modeling.gbm import GradientBoostingModel
from betpipe.modeling.market import BaseRateModel, FeatureProbabilityModel, MarketModel, price_matrix
from betpipe.modeling.metrics import (
    accuracy,
    bootstrap_mean_ci,
    brier_rows,
    ece,
    log_loss_rows,
    reliability_table,
    rps_rows,
)
from betpipe.modeling.walkforward import ModelSpec
from betpipe.sports import sport_rules
from betpipe.threads import configured_threads

SOCCER = "soccer"
NFL = "american_football"
FIRST_SEASON = {SOCCER: "2012-2013", NFL: "2006"}
# Seasons whose results chose hyper-parameters; figures from the season after them on are untouched by tuning.
TUNED_SEASONS = {SOCCER: ("2012-2013", "2013-2014"), NFL: ()}
CLOSE_ANCHOR = "market_close_shin"
PRE_ANCHOR = "market_pre_shin"
ELO_REFERENCE = "elo_logit"  # the model every other model must beat (issue goal), shown as a third Δ column
# Relative CPU per scored season (ModelSpec.cost), as measured on soccer with the fit cache (docs/benchmarks.md).
CHEAP, GBM, DIXON_COLES = 1.0, 90.0, 200.0
# What DixonColesModel reads (fit and predict): its ~40 refits a season slice only these rows' columns.
DIXON_COLES_COLUMNS = ("kickoff_utc", "home_score", "away_score", "home_team_id", "away_team_id", "neutral_site")


@dataclass(frozen=True)
class SportRules:
    """Which rows count (EVALUATION.md) and which prices are the anchors, per sport."""

    n_outcomes: int
    primary: str  # the headline metric: "rps" (1X2) or "brier" (two-way)
    required_prices: tuple[str, ...]  # rows need all these price groups valid (> 1)
    close_source: str
    pre_source: str | None


RULES = {
    SOCCER: SportRules(
        sport_rules(SOCCER).n_outcomes, "rps", ("bench_ps_open", "bench_ps_close"), "bench_ps_close", "bench_ps_open"
    ),
    NFL: SportRules(sport_rules(NFL).n_outcomes, "brier", ("bench_close",), "bench_close", None),
}


def default_specs(sport: str) -> list[ModelSpec]:
    """The frozen model line-up (GBM hyper-parameters tuned on soccer 2012-13 and 2013-14 only; docs/results.md)."""
    rules = RULES[sport]
    k = rules.n_outcomes
    specs = [
        ModelSpec(CLOSE_ANCHOR, lambda: MarketModel(rules.close_source, "shin", k), anchor=True),
        ModelSpec("market_close_mult", lambda: MarketModel(rules.close_source, "multiplicative", k), anchor=True),
    ]
    if rules.pre_source is not None:
        pre = rules.pre_source
        specs += [
            ModelSpec(PRE_ANCHOR, lambda: MarketModel(pre, "shin", k), anchor=True),
            ModelSpec("market_pre_mult", lambda: MarketModel(pre, "multiplicative", k), anchor=True),
        ]
    specs += [
        ModelSpec("base_rates", lambda: BaseRateModel(k)),
        ModelSpec("elo_logit", lambda: EloLogitModel(n_outcomes=k), cost=CHEAP),
        ModelSpec("elo_features", lambda: _elo_feature_model(sport)),
        # gbm and the blends share one LightGBM base: fitted once per training set in their fit group.
        ModelSpec("gbm", lambda: CalibratedModel(GradientBoostingModel(n_outcomes=k)), fit_group="gbm", cost=GBM),
    ]
    if sport == SOCCER:
        specs += [
            ModelSpec("dixon_coles", DixonColesModel, refit_days=7.0, cost=DIXON_COLES, columns=DIXON_COLES_COLUMNS),
            ModelSpec(
                "gbm_market",
                lambda: CalibratedModel(GradientBoostingModel(n_outcomes=k, use_market=True)),
                fit_group="gbm_market",
                cost=GBM,
            ),
            ModelSpec(
                "blend_gbm_avg_market",
                lambda: MarketBlendModel(GradientBoostingModel(n_outcomes=k)),
                fit_group="gbm",
                cost=CHEAP,
            ),
            ModelSpec(
                "blend_gbm_pinnacle_pre",
                lambda: MarketBlendModel(GradientBoostingModel(n_outcomes=k), "bench_ps_open", "shin"),
                fit_group="gbm",
                cost=CHEAP,
            ),
        ]
    return specs


def _elo_feature_model(sport: str) -> FeatureProbabilityModel:
    """The feature store's own Elo probabilities, unrefitted (538-style for the NFL, draw-aware for soccer)."""
    if sport == SOCCER:
        return FeatureProbabilityModel("f_elo_p_win_home", "f_elo_p_draw", "f_elo_p_win_away", n_outcomes=3)
    return FeatureProbabilityModel("f_elo_p_home", n_outcomes=2)


@dataclass
class EvaluationReport:
    sport: str
    primary: str
    rows: int
    seasons: list[str]
    table: pl.DataFrame  # one row per model: metrics and paired differences to the anchors
    by_competition: pl.DataFrame
    labels: IntArray
    predictions: dict[str, FloatArray]
    fallback_rows: dict[str, int]
    frame: pl.DataFrame  # event_id, competition, season, kickoff_utc of the scored rows
    notes: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    untouched: pl.DataFrame = field(default_factory=pl.DataFrame)  # same table, seasons after the tuning seasons
    untouched_from: str | None = None

    def best_model(self) -> str:
        models = self.table.filter(~pl.col("anchor"))
        return str(models.sort(self.primary).get_column("model")[0])

    def ranking(self, candidates: Sequence[str]) -> list[tuple[str, float]]:
        """(model, headline metric) of the ``candidates`` this report scored, best first (lowest loss; ties by name,
        so the order never depends on the line-up's order)."""
        wanted = set(candidates)
        rows = self.table.filter(pl.col("model").is_in(list(wanted)))
        ranked = sorted(
            zip(rows.get_column("model"), rows.get_column(self.primary), strict=True), key=lambda r: (r[1], r[0])
        )
        return [(str(name), float(value)) for name, value in ranked]

    def paired_difference(self, model: str, other: str) -> tuple[float, float, float]:
        """Δ headline metric (model − other) on the same rows with its paired bootstrap 95% CI: (mean, low, high)."""
        (ci,) = bootstrap_mean_ci(
            _loss_rows(self.primary, self.predictions[model], self.labels)
            - _loss_rows(self.primary, self.predictions[other], self.labels)
        )
        return ci.mean, ci.low, ci.high

    def reliability(self, model: str) -> pl.DataFrame:
        return reliability_table(self.predictions[model], self.labels)


def _valid_prices(frame: pl.DataFrame, source: str, k: int) -> NDArray[np.bool_]:
    prices = price_matrix(frame, source, k)
    return np.asarray(np.isfinite(prices).all(axis=1) & (prices > 1.0).all(axis=1))


def evaluation_rows(frame: pl.DataFrame, *, sport: str, first_season: str) -> tuple[NDArray[np.bool_], ...]:
    """(labelled, scored): labelled rows may train models; scored rows are EVALUATION.md's rows."""
    rules = RULES[sport]
    outcome = frame.get_column("outcome").cast(pl.Int64).fill_null(-1).to_numpy()
    labelled = outcome >= 0 if rules.n_outcomes == 3 else (outcome == 0) | (outcome == 2)
    seasons = np.asarray(frame.get_column("season").cast(pl.Utf8).to_list())
    scored = labelled & (seasons >= first_season)
    for source in rules.required_prices:
        scored &= _valid_prices(frame, source, rules.n_outcomes)
    return np.asarray(labelled), np.asarray(scored)


def _loss_rows(metric: str, p: FloatArray, y: IntArray) -> FloatArray:
    return {"rps": rps_rows, "brier": brier_rows, "log_loss": log_loss_rows}[metric](p, y)


def _delta_columns(
    names: Sequence[str], predictions: dict[str, FloatArray], y: IntArray, anchor: str, metrics: Sequence[str], tag: str
) -> dict[str, list[Any]]:
    """Δ metric (model − anchor) with a paired bootstrap 95% CI for every model, all on one set of resamples."""
    diffs = np.column_stack(
        [_loss_rows(m, predictions[n], y) - _loss_rows(m, predictions[anchor], y) for n in names for m in metrics]
    )
    cis = bootstrap_mean_ci(diffs)
    out: dict[str, list[Any]] = {}
    for j, metric in enumerate(metrics):
        chosen = cis[j :: len(metrics)]
        out[f"d_{metric}_{tag}"] = [c.mean for c in chosen]
        out[f"d_{metric}_{tag}_low"] = [c.low for c in chosen]
        out[f"d_{metric}_{tag}_high"] = [c.high for c in chosen]
    return out


def score_table(
    predictions: dict[str, FloatArray], y: IntArray, *, primary: str, anchors: dict[str, str], anchor_names: set[str]
) -> pl.DataFrame:
    """Metrics per model plus Δ(primary, log loss) against each anchor (``{"close": name, "pre": name}``)."""
    names = list(predictions)
    table: dict[str, list[Any]] = {
        "model": names,
        "anchor": [n in anchor_names for n in names],
        "rows": [int(y.shape[0])] * len(names),
        "log_loss": [float(log_loss_rows(predictions[n], y).mean()) for n in names],
        "brier": [float(brier_rows(predictions[n], y).mean()) for n in names],
        "rps": [float(rps_rows(predictions[n], y).mean()) for n in names],
        "ece": [ece(predictions[n], y) for n in names],
        "accuracy": [accuracy(predictions[n], y) for n in names],
    }
    for tag, anchor in anchors.items():
        table.update(_delta_columns(names, predictions, y, anchor, (primary, "log_loss"), tag))
    return pl.DataFrame(table)


def evaluate_frame(
    frame: pl.DataFrame,
    *,
    sport: str,
    specs: Sequence[ModelSpec] | None = None,
    first_season: str | None = None,
    by_competition: bool = True,
    on_progress: Callable[[str, float, float], None] | None = None,
    workers: int = 1,
    threads: int | None = None,
) -> EvaluationReport:
    """Walk every spec forward over the scored seasons of ``frame`` (a training matrix) and score them.

    ``workers > 1`` runs the walk-forwards as tasks on that many spawned processes (specs must be ``default_specs``
    ones, rebuilt there by name). LightGBM there uses ``threads`` each, by default this process's count shared out
    among the workers, so two workers on two cores do not queue four threads (with spinning OpenMP waits that cost
    up to 8x the CPU); a deterministic row-wise LightGBM fit is the same bits on any thread count
    (tests/test_evaluate_speed.py). The report is the same either way.
    """
    if sport not in RULES:
        raise ValueError(f"no evaluation rules for sport {sport!r}; known: {sorted(RULES)}")
    rules = RULES[sport]
    specs = list(specs if specs is not None else default_specs(sport))
    first = first_season or FIRST_SEASON[sport]
    frame = frame.sort("kickoff_utc", "event_id")
    played_seasons = sorted(set(frame.filter(pl.col("outcome").is_not_null()).get_column("season").to_list()))
    if len(played_seasons) > 1 and first <= played_seasons[0]:
        # Walk-forward needs a past: the earliest season can only ever be training data.
        first = played_seasons[1]
    labelled, scored = evaluation_rows(frame, sport=sport, first_season=first)
    if not scored.any():
        raise ValueError(f"no rows to score for {sport} from season {first} (need labels and anchor prices)")
    outcome = frame.get_column("outcome").cast(pl.Int64).fill_null(0).to_numpy()
    y_all = np.where(labelled, labels_from_outcome(np.where(labelled, outcome, 0), rules.n_outcomes), -1)
    y = y_all[scored]
    predictions: dict[str, FloatArray] = {}
    fallback: dict[str, int] = {}
    notes: list[str] = []
    seconds: dict[str, float] = {}
    inputs = Inputs(y_all, labelled, scored, rules.n_outcomes, sport_rules(sport).result_delay_hours)
    n_seasons = len(set(frame.get_column("season").cast(pl.Utf8).to_numpy()[scored].tolist()))
    if workers > 1:
        results = run_in_workers(
            specs,
            frame,
            inputs,
            n_seasons,
            sport=sport,
            workers=workers,
            threads=max(1, configured_threads() // workers) if threads is None else threads,
            on_progress=on_progress,
        )
    else:
        results = run_in_process(specs, frame, inputs, n_seasons, on_progress)
    for spec in specs:  # in line-up order, whatever order the tasks finished in
        result = results[spec.name]
        predictions[spec.name] = result.probabilities
        fallback[spec.name] = int(result.fallback.sum())
        notes += result.notes
        seconds[spec.name] = result.seconds
    anchor_names = {s.name for s in specs if s.anchor}
    anchors = {"close": CLOSE_ANCHOR}
    if rules.pre_source is not None and PRE_ANCHOR in predictions:
        anchors["pre"] = PRE_ANCHOR
    anchors["elo"] = ELO_REFERENCE
    anchors = {tag: name for tag, name in anchors.items() if name in predictions}
    table = score_table(predictions, y, primary=rules.primary, anchors=anchors, anchor_names=anchor_names)
    table = table.with_columns(pl.Series("fallback_rows", [fallback[n] for n in table.get_column("model")]))
    scored_frame = frame.filter(pl.Series(scored)).select("event_id", "competition", "season", "kickoff_utc")
    per_comp = pl.DataFrame()
    competitions = scored_frame.get_column("competition").to_numpy()
    if by_competition and len(set(competitions.tolist())) > 1:
        parts = []
        for comp in sorted(set(competitions.tolist())):
            mask = competitions == comp
            sub = {name: p[mask] for name, p in predictions.items()}
            part = score_table(sub, y[mask], primary=rules.primary, anchors=anchors, anchor_names=anchor_names)
            parts.append(part.with_columns(pl.lit(comp).alias("competition")))
        per_comp = pl.concat(parts)
    untouched = pl.DataFrame()
    tuned = TUNED_SEASONS.get(sport, ())
    untouched_from = None
    if tuned:
        later = [s for s in sorted(set(scored_frame.get_column("season").to_list())) if s > max(tuned)]
        if later and len(later) < len(set(scored_frame.get_column("season").to_list())):
            untouched_from = later[0]
            mask = scored_frame.get_column("season").to_numpy() >= untouched_from
            sub = {name: p[mask] for name, p in predictions.items()}
            untouched = score_table(sub, y[mask], primary=rules.primary, anchors=anchors, anchor_names=anchor_names)
    return EvaluationReport(
        untouched=untouched,
        untouched_from=untouched_from,
        sport=sport,
        primary=rules.primary,
        rows=int(scored.sum()),
        seasons=sorted(set(scored_frame.get_column("season").to_list())),
        table=table,
        by_competition=per_comp,
        labels=y,
        predictions=predictions,
        fallback_rows=fallback,
        frame=scored_frame,
        notes=notes,
        seconds=seconds,
    )


def evaluate(
    engine: Engine,
    *,
    sport: str,
    competitions: Sequence[str] | None = None,
    models: Sequence[str] | None = None,
    first_season: str | None = None,
    settings: Settings,
    on_progress: Callable[[str, float, float], None] | None = None,
    workers: int | None = None,
) -> EvaluationReport:
    """Evaluate on what is ingested in ``engine``; ``models`` picks spec names (anchors are always kept).

    ``workers`` processes (default: the configured thread count, ``Settings.compute.threads``) run the walk-forwards.
    """
    from betpipe.features import training_matrix
    from betpipe.threads import configure_threads

    threads = configure_threads(settings.compute)  # a library entry point: pools sized before any fit
    frame = training_matrix(engine, sport=sport, competitions=competitions, settings=settings)
    if frame.is_empty():
        raise ValueError(f"no {sport} events to evaluate: ingest results and odds first (e.g. `betpipe ingest sample`)")
    specs = default_specs(sport)
    if models is not None:
        unknown = set(models) - {s.name for s in specs}
        if unknown:
            raise ValueError(f"unknown models {sorted(unknown)}; known: {[s.name for s in specs]}")
        specs = [s for s in specs if s.anchor or s.name in models]
    workers = threads if workers is None else workers
    return evaluate_frame(
        frame,
        sport=sport,
        specs=specs,
        first_season=first_season,
        on_progress=on_progress,
        workers=workers,
        threads=max(1, threads // workers),  # the cores shared out: one LightGBM thread per worker on two cores
    )
