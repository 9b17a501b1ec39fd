"""Every market judged against its own close (../shared/EVALUATION.md's protocol, per market): over/under 2.5 and the
Asian handicap, scored on the same rows for the Pinnacle close, the Pinnacle pre-match price, base rates, walk-forward
goal models (Dixon–Coles, bivariate Poisson) and the grid implied by the pre-match 1X2 price alone.

Goal models are refitted every ``refit_days`` on results known (kickoff + the sport's result delay) before each block;
the market-implied grid uses only pre-match prices and the walk-forward Dixon–Coles rho. Closing prices are only ever
the benchmark, never an input. Differences to the close and to pre-match are paired, with bootstrap 95% intervals.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from numpy.typing import NDArray

from betpipe.modeling._base import FloatArray
from betpipe.modeling.bivariate_poisson import BivariatePoissonModel
from betpipe.modeling.dixon_coles import DixonColesModel
from betpipe.modeling.market_implied import fit_goal_expectations
from betpipe.modeling.metrics import binary_score_table, format_ci
from betpipe.modeling.score_grid import ScoreGrid
from betpipe.sports import sport_rules

__all__ = ["MarketEvaluation", "evaluate_markets", "format_markdown", "goal_model_grids", "market_rows", "subset"]

SECONDS_PER_DAY = 86_400.0
FIRST_SEASON = "2019-2020"  # Pinnacle O/U and AH prices exist from 2019-20 on
CLOSE, PRE = "pinnacle_close", "pinnacle_pre"
Bool = NDArray[np.bool_]


def _two_way(a: pl.Series, b: pl.Series) -> FloatArray:
    """Multiplicative margin-free probability of the first side (NaN without two prices > 1)."""
    x, y = a.cast(pl.Float64).to_numpy(), b.cast(pl.Float64).to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        p = (1.0 / x) / (1.0 / x + 1.0 / y)
    return np.asarray(np.where((x > 1.0) & (y > 1.0), p, np.nan), dtype=np.float64)


def goal_model_grids(
    frame: pl.DataFrame,
    build: Callable[[], DixonColesModel],
    predict: Bool,
    *,
    refit_days: float = 7.0,
    on_block: Callable[[str], None] | None = None,
) -> tuple[ScoreGrid, FloatArray]:
    """(grids of the ``predict`` rows in frame order, the rho each was priced with), walked forward: each block of
    ``refit_days`` is priced by a model fitted on results known before the block starts (warm-started)."""
    delay = sport_rules("soccer").result_delay_hours * 3600.0
    kick = frame.get_column("kickoff_utc").dt.epoch("s").cast(pl.Float64).to_numpy()
    target = np.flatnonzero(predict)
    first = np.floor(kick[target].min() / SECONDS_PER_DAY) * SECONDS_PER_DAY
    block = ((kick[target] - first) // (refit_days * SECONDS_PER_DAY)).astype(np.int64)
    outcome = frame.get_column("outcome").to_numpy().astype(np.int64)
    grids: list[FloatArray] = []
    rhos: list[FloatArray] = []
    model: DixonColesModel | None = None
    for b in np.unique(block):
        start = first + b * refit_days * SECONDS_PER_DAY
        train = np.flatnonzero(kick + delay <= start)
        fresh = build()
        if model is not None:
            fresh.warm_start_from(model)
        model = fresh.fit(frame[train], outcome[train])
        rows = frame[target[block == b]]
        grids.append(model.score_grid(rows).probabilities)
        rhos.append(np.full(rows.height, model.rho_))
        if on_block is not None:
            on_block(str(rows.get_column("season")[0]))
    return ScoreGrid(np.concatenate(grids)), np.concatenate(rhos)


def market_rows(frame: pl.DataFrame, first_season: str = FIRST_SEASON) -> dict[str, Bool]:
    """Scored rows per market: O/U 2.5 with all four Pinnacle prices; AH with both prices at the same pre-match and
    closing line, a whole or half line (a quarter line's two-way price has no proper binary outcome to score)."""
    season = frame.get_column("season").to_numpy() >= first_season
    ou = season & np.isfinite(_two_way(frame["ou_pre_over"], frame["ou_pre_under"]))
    ou &= np.isfinite(_two_way(frame["ou_close_over"], frame["ou_close_under"]))
    pre_line = frame.get_column("ah_pre_line").cast(pl.Float64).to_numpy()
    close_line = frame.get_column("ah_close_line").cast(pl.Float64).to_numpy()
    ah = season & np.isfinite(_two_way(frame["ah_pre_home"], frame["ah_pre_away"]))
    ah &= np.isfinite(_two_way(frame["ah_close_home"], frame["ah_close_away"]))
    with np.errstate(invalid="ignore"):
        ah &= (pre_line == close_line) & (np.abs(close_line * 2.0 - np.round(close_line * 2.0)) < 1e-9)
    x_pre = np.column_stack([frame[f"x_pre_{s}"].cast(pl.Float64).to_numpy() for s in ("home", "draw", "away")])
    has_x = np.nan_to_num(x_pre, nan=0.0).min(axis=1) > 1.0  # the market-implied grid needs the pre-match 1X2
    return {"over_under_2.5": ou & has_x, "asian_handicap": ah & has_x}


@dataclass
class MarketEvaluation:
    """Per market: the scored rows' table (Brier, log loss, Δ to close and pre with CIs) and the raw predictions."""

    tables: dict[str, pl.DataFrame]
    predictions: dict[str, dict[str, FloatArray]]
    outcomes: dict[str, FloatArray]
    frames: dict[str, pl.DataFrame]
    notes: list[str] = field(default_factory=list)


def _table(predictions: dict[str, FloatArray], y: FloatArray) -> pl.DataFrame:
    return binary_score_table(predictions, y, {"close": CLOSE, "pre": PRE})


def evaluate_markets(
    frame: pl.DataFrame,
    *,
    first_season: str = FIRST_SEASON,
    refit_days: float = 7.0,
    competitions: Sequence[str] | None = None,
    goal_models: Sequence[str] = ("dixon_coles", "bivariate_poisson"),
    on_progress: Callable[[str], None] | None = None,
) -> MarketEvaluation:
    """Score every predictor on every market's rows of ``frame`` (``load_market_frame``); ``competitions`` restricts
    the scored rows (models still train on every competition's results)."""
    rows = market_rows(frame, first_season)
    if competitions is not None:
        keep = frame.get_column("competition").is_in(list(competitions)).to_numpy()
        rows = {m: r & keep for m, r in rows.items()}
    wanted = np.logical_or.reduce(list(rows.values()))
    if not wanted.any():
        raise ValueError(f"no rows with Pinnacle over/under or Asian handicap prices from season {first_season}")
    index = np.flatnonzero(wanted)
    builders: dict[str, Callable[[], DixonColesModel]] = {
        "dixon_coles": DixonColesModel,
        "bivariate_poisson": BivariatePoissonModel,
    }
    unknown = set(goal_models) - set(builders)
    if unknown:
        raise ValueError(f"unknown goal models {sorted(unknown)}; known: {sorted(builders)}")
    grids: dict[str, ScoreGrid] = {}
    rho = np.zeros(index.size)
    for name in goal_models:
        grids[name], fitted_rho = goal_model_grids(
            frame, builders[name], wanted, refit_days=refit_days, on_block=on_progress
        )
        if name == "dixon_coles":
            rho = fitted_rho
    scored = frame[index]
    x_pre = np.column_stack([scored[f"x_pre_{s}"].cast(pl.Float64).to_numpy() for s in ("home", "draw", "away")])
    p1x2 = (1.0 / x_pre) / (1.0 / x_pre).sum(axis=1, keepdims=True)
    implied = fit_goal_expectations(p1x2=p1x2, rho=rho)
    grids["implied_1x2_pre"] = implied.grid(max_goals=15)
    notes = [f"market-implied fit: {int((~implied.converged).sum())} of {index.size} rows did not converge"]
    hs, as_ = scored["home_score"].to_numpy(), scored["away_score"].to_numpy()
    earlier = frame.filter(pl.col("season") < first_season)
    earlier_totals = (earlier["home_score"] + earlier["away_score"]).to_numpy()
    base_over = float((earlier_totals > 2.5).mean()) if earlier_totals.size else 0.5
    tables, predictions, outcomes, frames = {}, {}, {}, {}
    for market, mask in rows.items():
        sel = mask[index]
        sub = scored.filter(pl.Series(sel))
        if market == "over_under_2.5":
            y = ((hs + as_) > 2.5).astype(np.float64)[sel]
            preds = {
                CLOSE: _two_way(sub["ou_close_over"], sub["ou_close_under"]),
                PRE: _two_way(sub["ou_pre_over"], sub["ou_pre_under"]),
                "base_rate_in_sample": np.full(int(sel.sum()), y.mean()),
                "base_rate_earlier_seasons": np.full(int(sel.sum()), base_over),
            }
            preds |= {n: g[np.flatnonzero(sel)].totals(2.5).no_push_probability for n, g in grids.items()}
        else:
            line = sub.get_column("ah_close_line").cast(pl.Float64).to_numpy()
            margin = (hs - as_)[sel] + line
            push = margin == 0
            y = (margin > 0).astype(np.float64)
            preds = {
                CLOSE: _two_way(sub["ah_close_home"], sub["ah_close_away"]),
                PRE: _two_way(sub["ah_pre_home"], sub["ah_pre_away"]),
                "even_0.5": np.full(int(sel.sum()), 0.5),
            }
            preds |= {n: g[np.flatnonzero(sel)].asian_handicap(line).no_push_probability for n, g in grids.items()}
            # a push returns the stake: no outcome to score (the no-push probability is conditional on no push)
            preds = {n: p[~push] for n, p in preds.items()}
            y, sub = y[~push], sub.filter(pl.Series(~push))
            notes.append(f"asian handicap: {int(push.sum())} pushes on whole lines left out of the scored rows")
        tables[market] = _table(preds, y)
        predictions[market], outcomes[market], frames[market] = preds, y, sub
    return MarketEvaluation(tables, predictions, outcomes, frames, notes)


def subset(result: MarketEvaluation, competitions: Sequence[str]) -> dict[str, pl.DataFrame]:
    """The same predictions re-scored on the rows of ``competitions`` only (e.g. the reference figures' leagues)."""
    out = {}
    for market, preds in result.predictions.items():
        keep = result.frames[market].get_column("competition").is_in(list(competitions)).to_numpy()
        if keep.any():
            out[market] = _table({n: p[keep] for n, p in preds.items()}, result.outcomes[market][keep])
    return out


def format_markdown(tables: dict[str, pl.DataFrame], *, title: str) -> str:
    """One Markdown table per market: Brier, log loss and the paired Δ Brier / Δ log loss to close and pre-match."""
    lines = [f"#### {title}", ""]
    for market, table in tables.items():
        rows = int(table["rows"][0])
        lines += [
            f"**{market}** ({rows:,} matches)",
            "",
            "| model | Brier | log loss | Δ Brier vs close [95% CI] | Δ Brier vs pre-match | Δ log loss vs close |",
            "|---|---|---|---|---|---|",
        ]
        for row in table.iter_rows(named=True):
            lines.append(
                f"| {row['model']} | {row['brier']:.4f} | {row['log_loss']:.4f} | {format_ci(row, 'd_brier_close')} "
                f"| {format_ci(row, 'd_brier_pre')} | {format_ci(row, 'd_log_loss_close')} |"
            )
        lines.append("")
    return "\n".join(lines)
