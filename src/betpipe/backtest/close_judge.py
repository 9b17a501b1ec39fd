"""The model of the close judged three ways on the same rows (issue 16), with paired bootstrap 95% intervals:

(a) as a forecast of the close, against the naive "close = pre-match" (soft log loss and Brier against the
    margin-free Pinnacle close distribution);
(b) as a forecast of results (RPS, log loss), against Pinnacle pre-match;
(c) as a strategy: one selection per match at the best pre-match price of the five soft books (never Pinnacle,
    never Max/Avg), ranked by predicted CLV = best price × predicted closing probability − 1, against the market-only
    line-shopping strategy (best price × margin-free Pinnacle pre-match − 1) at equal bet counts (each takes its own
    n top-ranked bets), CLV against the multiplicative Pinnacle close, events resampled over the union.

Rows are EVALUATION.md's (labelled, Pinnacle pre-match and close) from ``first_season`` on. Nothing here is tuned on
the judged seasons: the prior's strength was chosen on 2013-14 .. 2015-16 (``tune``) and frozen in ``DEFAULT_L2``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import Engine

from betpipe.backtest.report import paired_clv_difference
from betpipe.config import Settings
from betpipe.features.close_inputs import TARGET_SOURCE, load_prematch_quotes, with_close_inputs
from betpipe.modeling._base import FloatArray, IntArray, labels_from_outcome
from betpipe.modeling.close_model import CloseModel
from betpipe.modeling.close_walkforward import CloseWalkForward, walk_forward_close
from betpipe.modeling.evaluate import evaluation_rows
from betpipe.modeling.market import market_probabilities, price_matrix
from betpipe.modeling.metrics import bootstrap_mean_ci, log_loss_rows, rps_rows

UNTOUCHED_FROM = "2016-2017"
TUNING_SEASONS = ("2013-2014", "2014-2015", "2015-2016")
DEFAULT_L2 = 0.1  # chosen on TUNING_SEASONS by `betpipe close-model judge --tune` (docs/modeling.md)
DEFAULT_REFIT_DAYS = 7.0
SOFT_BOOKS = ("b365", "bw", "iw", "wh", "vc")  # bet365, betandwin, interwetten, williamhill, vcbet
EDGE_LEVELS = (0.0, 0.02)


@dataclass(frozen=True)
class Row:
    """One judged comparison: the model's mean minus the baseline's, with its paired 95% CI."""

    judgement: str
    measure: str
    rows: int
    model: float
    baseline: float
    diff: float
    low: float
    high: float
    goal: str

    @property
    def met(self) -> bool:
        return self.high < 0.0 if self.goal == "lower" else self.low > 0.0


@dataclass
class CloseJudgement:
    rows: int
    seasons: list[str]
    table: list[Row]
    refit_days: float
    l2: float
    walk: dict[str, CloseWalkForward] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        lines = [
            f"Rows: {self.rows:,} matches, seasons {self.seasons[0]} .. {self.seasons[-1]}; l2 = {self.l2:g}, "
            f"refit every {self.refit_days:g} days. Differences are model − baseline, paired bootstrap 95% CI "
            "(2,000 resamples, seed 0).",
            "",
            "| judgement | measure | rows/bets | model | baseline | difference [95% CI] | goal |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in self.table:
            verdict = "**met**" if r.met else "missed"
            lines.append(
                f"| {r.judgement} | {r.measure} | {r.rows:,} | {r.model:.5f} | {r.baseline:.5f} | "
                f"{r.diff:+.5f} [{r.low:+.5f}, {r.high:+.5f}] | {verdict} ({r.goal} is better) |"
            )
        return "\n".join([*lines, "", *[f"- {n}" for n in self.notes]]) + "\n"

    def as_json(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "seasons": self.seasons,
            "l2": self.l2,
            "refit_days": self.refit_days,
            "table": [{**r.__dict__, "met": r.met} for r in self.table],
            "fit_seconds": {k: w.fit_seconds for k, w in self.walk.items()},
            "fit_cpu_seconds": {k: w.cpu_seconds for k, w in self.walk.items()},
            "fits": {k: len(w.fits) for k, w in self.walk.items()},
            "notes": self.notes,
        }


def close_frame(engine: Engine, settings: Settings, competitions: Sequence[str] | None = None) -> pl.DataFrame:
    """The soccer training matrix with the decision-time inputs of the model of the close joined on."""
    from betpipe.features import training_matrix

    frame = training_matrix(engine, sport="soccer", competitions=competitions, settings=settings)
    if frame.is_empty():
        raise ValueError("no soccer events: ingest football-data first (betpipe ingest football-data DIR)")
    return with_close_inputs(frame, load_prematch_quotes(engine, "soccer"))


def _soft_loss(p: FloatArray, q: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Per-row cross-entropy and Brier of forecast p against the close distribution q."""
    return -(q * np.log(np.clip(p, 1e-15, 1.0))).sum(axis=1), ((p - q) ** 2).sum(axis=1)


def _paired(judgement: str, measure: str, a: FloatArray, b: FloatArray, goal: str = "lower") -> Row:
    (ci,) = bootstrap_mean_ci(a - b)
    return Row(judgement, measure, int(a.size), float(a.mean()), float(b.mean()), ci.mean, ci.low, ci.high, goal)


def shopped_bets(best: FloatArray, fair: FloatArray, close: FloatArray, events: IntArray, n: int) -> pl.DataFrame:
    """The ``n`` matches with the largest edge (best price × fair − 1) on their largest-edge selection, with CLV."""
    edge = np.where(np.isfinite(best) & np.isfinite(fair), best * fair - 1.0, -np.inf)
    pick = edge.argmax(axis=1)
    rows = np.arange(edge.shape[0])
    top = edge[rows, pick]
    order = np.lexsort((events, -top))[:n]
    order = order[np.isfinite(top[order])]
    price = best[order, pick[order]]
    clv = price * close[order, pick[order]] - 1.0
    return pl.DataFrame(
        {"event_id": events[order], "edge": top[order], "clv": clv, "selection": pick[order], "price": price}
    )


def _season_notes(frame: pl.DataFrame, model: pl.DataFrame, market: pl.DataFrame, close_shin: FloatArray) -> list[str]:
    """Descriptive checks of one equal-count comparison: the difference per season (no CI), and both sets' CLV
    against the Shin close (which gives the longshots more of the margin than the multiplicative one)."""
    seasons = frame.select("event_id", "season")
    index = {int(e): i for i, e in enumerate(frame.get_column("event_id").to_list())}
    shin = []
    for bets in (model, market):
        rows = np.array([index[int(e)] for e in bets.get_column("event_id").to_list()], dtype=np.int64)
        fair = close_shin[rows, bets.get_column("selection").to_numpy()]
        shin.append(float((bets.get_column("price").to_numpy() * fair - 1.0).mean()))
    by_season = (
        pl.concat(
            [model.with_columns(pl.lit("model").alias("side")), market.with_columns(pl.lit("market").alias("side"))]
        )
        .join(seasons, on="event_id")
        .group_by("season", "side")
        .agg(pl.col("clv").mean())
        .pivot("side", index="season", values="clv")
        .select("season", "model", "market")
        .sort("season")
    )
    per = ", ".join(f"{r[0][:4]} {100 * (r[1] - r[2]):+.2f}" for r in by_season.rows())
    return [
        f"per season (model − market, points; no CI): {per}",
        f"the same bets against the Shin close: model {100 * shin[0]:+.2f} %, market {100 * shin[1]:+.2f} %",
    ]


def strategy_rows(
    frame: pl.DataFrame,
    model_close: FloatArray,
    pre_mult: FloatArray,
    close_mult: FloatArray,
    close_shin: FloatArray | None = None,
) -> tuple[list[Row], list[str]]:
    """Judgement (c) at the market strategy's bet counts for each edge level, plus the counts as notes."""
    best = np.fmax.reduce([price_matrix(frame, f"c_{b}", 3) for b in SOFT_BOOKS])
    best = np.where(best > 1.0, best, np.nan)
    events = frame.get_column("event_id").to_numpy().astype(np.int64)
    out: list[Row] = []
    notes: list[str] = []
    with np.errstate(invalid="ignore"):
        market_edge = np.nanmax(np.where(np.isfinite(best), best * pre_mult - 1.0, -np.inf), axis=1)
        model_edge = np.nanmax(np.where(np.isfinite(best), best * model_close - 1.0, -np.inf), axis=1)
    for level in EDGE_LEVELS:
        n = int((market_edge > level).sum())
        market = shopped_bets(best, pre_mult, close_mult, events, n)
        model = shopped_bets(best, model_close, close_mult, events, n)
        diff = paired_clv_difference(model, market)
        if diff is None:
            continue
        out.append(
            Row(
                "(c) strategy",
                f"mean CLV, top {n:,} bets each (market t = {level:g})",
                n,
                float(model.get_column("clv").mean()),  # type: ignore[arg-type]
                float(market.get_column("clv").mean()),  # type: ignore[arg-type]
                diff.mean,
                diff.low,
                diff.high,
                "higher",
            )
        )
        notes.append(
            f"t = {level:g}: market-only line shopping bets {n:,} matches; the model's own rule (predicted CLV > "
            f"{level:g}) would bet {int((model_edge > level).sum()):,}; the two top-{n:,} sets share "
            f"{len(set(market['event_id'].to_list()) & set(model['event_id'].to_list())):,} matches"
        )
        if close_shin is not None and level == 0.0:
            notes += _season_notes(frame, model, market, close_shin)
    return out, notes


def judge(
    frame: pl.DataFrame,
    *,
    first_season: str = UNTOUCHED_FROM,
    last_season: str | None = None,
    l2: float = DEFAULT_L2,
    refit_days: float = DEFAULT_REFIT_DAYS,
    on_block: Callable[[str, int, int], None] | None = None,
) -> CloseJudgement:
    """All three judgements on ``frame`` (``close_frame``'s), rows of seasons ``first_season`` .. ``last_season``."""
    _, scored = evaluation_rows(frame, sport="soccer", first_season=first_season)
    seasons = np.asarray(frame.get_column("season").cast(pl.Utf8).to_list())
    if last_season is not None:
        scored &= seasons <= last_season
    scored &= frame.get_column("decided_at").is_not_null().to_numpy()
    if not scored.any():
        raise ValueError(f"no rows with Pinnacle pre-match and closing prices from {first_season}")
    rows = frame.filter(pl.Series(scored))
    y = labels_from_outcome(rows.get_column("outcome").cast(pl.Int64).to_numpy(), 3)
    walks: dict[str, CloseWalkForward] = {}
    for method in ("multiplicative", "shin"):
        walks[method] = walk_forward_close(
            frame,
            scored,
            build=lambda m=method: CloseModel(method=m, l2=l2),  # type: ignore[misc]
            refit_days=refit_days,
            on_block=None if on_block is None else (lambda d, t, m=method: on_block(m, d, t)),  # type: ignore[misc]
        )
    table: list[Row] = []
    pre: dict[str, FloatArray] = {}
    close: dict[str, FloatArray] = {}
    for method, short in (("multiplicative", "mult"), ("shin", "Shin")):
        pre[method] = market_probabilities(rows, "bench_ps_open", 3, method)
        close[method] = market_probabilities(rows, TARGET_SOURCE, 3, method)
        model = walks[method].probabilities
        ce_model, brier_model = _soft_loss(model, close[method])
        ce_pre, brier_pre = _soft_loss(pre[method], close[method])
        table.append(_paired("(a) forecast of the close", f"cross-entropy vs {short} close", ce_model, ce_pre))
        table.append(_paired("(a) forecast of the close", f"Brier vs {short} close", brier_model, brier_pre))
    for method, short in (("shin", "Shin"), ("multiplicative", "mult")):
        model = walks[method].probabilities
        table.append(
            _paired("(b) forecast of results", f"RPS ({short}) vs pre-match", *_pair(rps_rows, model, pre[method], y))
        )
        table.append(
            _paired(
                "(b) forecast of results",
                f"log loss ({short}) vs pre-match",
                *_pair(log_loss_rows, model, pre[method], y),
            )
        )
    strategy, notes = strategy_rows(
        rows, walks["multiplicative"].probabilities, pre["multiplicative"], close["multiplicative"], close["shin"]
    )
    table += strategy
    prior = {m: int(w.prior_rows.sum()) for m, w in walks.items()}
    notes.append(f"rows priced by the prior (no fit yet or no sharp price): {prior}")
    return CloseJudgement(
        rows=int(scored.sum()),
        seasons=sorted(set(seasons[scored].tolist())),
        table=table,
        refit_days=refit_days,
        l2=l2,
        walk=walks,
        notes=notes,
    )


def _pair(
    loss: Callable[[FloatArray, IntArray], FloatArray], model: FloatArray, base: FloatArray, y: IntArray
) -> tuple[FloatArray, FloatArray]:
    return loss(model, y), loss(base, y)


def tune(
    frame: pl.DataFrame, grid: Sequence[float] = (1e-3, 1e-2, 1e-1, 1.0, 10.0), refit_days: float = 30.0
) -> dict[float, float]:
    """Mean cross-entropy against the multiplicative close on the tuning seasons for each prior strength (``inf``:
    the naive forecast, close = pre-match)."""
    _, scored = evaluation_rows(frame, sport="soccer", first_season=TUNING_SEASONS[0])
    seasons = np.asarray(frame.get_column("season").cast(pl.Utf8).to_list())
    scored &= (seasons <= TUNING_SEASONS[-1]) & frame.get_column("decided_at").is_not_null().to_numpy()
    close = market_probabilities(frame.filter(pl.Series(scored)), TARGET_SOURCE, 3, "multiplicative")
    rows = frame.filter(pl.Series(scored))
    naive = market_probabilities(rows, "c_ps", 3, "multiplicative")
    out = {float("inf"): float(_soft_loss(naive, close)[0].mean())}  # an infinitely strong prior: close = pre-match
    for l2 in grid:
        walk = walk_forward_close(frame, scored, build=lambda v=l2: CloseModel(l2=v), refit_days=refit_days)  # type: ignore[misc]
        out[l2] = float(_soft_loss(walk.probabilities, close)[0].mean())
    return out
