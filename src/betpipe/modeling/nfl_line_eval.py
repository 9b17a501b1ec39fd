"""NFL spread and total judged against nflverse's consensus close (issue 18; ../shared/EVALUATION.md per market).

Rows: games from ``first_season`` (2006: the first with closing spread and total prices) with both two-way prices
at the closing line, regular and post season; a push at a whole line returns the stake, so it has no outcome to score
and is dropped (counted in the notes). Every predictor is scored on exactly the same rows: the margin-free close
(multiplicative, the anchor; Shin too), a naive 0.5, the walk-forward points ratings with and without the key-number
shape, and the close-centred key-number distribution, with and without the shape (mean = the closing line: the
market-implied margin/total distribution whose use is pricing lines other than the close). The moneyline (margin at
line 0, ties dropped; ../shared/EVALUATION.md's NFL rows) is such a line with a price: the spread close's distribution
is judged there against the moneyline close. Rating hyper-parameters were chosen on 1999-2005, which
no scored row belongs to. Closing prices are only ever the benchmark, never a model input; a closing *line* is an
input of the close-centred predictor only, which is a re-pricing of the close, not a forecast made before it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from betpipe.ingest.nflverse import read_nflverse
from betpipe.modeling._base import FloatArray
from betpipe.modeling.metrics import binary_score_table, bootstrap_mean_ci, format_ci
from betpipe.modeling.nfl_lines import (
    MARGIN_FIRST,
    MARGIN_SIZE,
    TOTAL_FIRST,
    TOTAL_SIZE,
    LineDistribution,
    RatingParams,
    key_number_distribution,
    walk_forward_means,
)
from betpipe.odds import remove_margin_or_nan
from betpipe.sports import sport_rules

__all__ = ["NflLineEvaluation", "evaluate_nfl_lines", "format_nfl_markdown", "load_nfl_games", "nfl_distributions"]

FIRST_SEASON = 2006  # closing spread and total prices exist from 2006 on
CLOSE, CLOSE_SHIN = "close_multiplicative", "close_shin"
SIGMA_PRIOR = {"margin": 13.5, "total": 13.5}
_PRICES = {
    ("spread", "home"): "spread_home",
    ("spread", "away"): "spread_away",
    ("total", "over"): "over",
    ("total", "under"): "under",
    ("moneyline", "home"): "moneyline_home",
    ("moneyline", "away"): "moneyline_away",
}


def load_nfl_games(path: Path) -> pl.DataFrame:
    """Every game of an nflverse games file, parsed by the ingest's own reader (same quarantine and price bounds as
    ``betpipe ingest nflverse``), sorted by kickoff.

    Columns: season, game_type, kickoff_utc, known_at (when the result is known, the sport's ``ResultTiming``),
    home/away_team (+ ``_id``), neutral, home/away_score (null if unplayed), spread_line (home favoured by, nflverse's
    sign), total_line and decimal closing prices spread_home/away, over/under, moneyline_home/away (null if absent).
    """
    batch = read_nflverse(path.read_bytes(), path.name)
    attributes = pl.Struct({"game_type": pl.Utf8, "spread_line": pl.Float64, "total_line": pl.Float64})
    prices = (
        batch.odds.with_columns(pl.concat_str("market", "selection", separator="|").alias("key"))
        .with_columns(pl.col("key").replace_strict({f"{m}|{s}": c for (m, s), c in _PRICES.items()}, default=None))
        .drop_nulls("key")
        .pivot(on="key", index="row_ref", values="price", aggregate_function="first")
    )
    timing = sport_rules("american_football").timing
    frame = (
        batch.events.with_columns(pl.col("attributes").str.json_decode(attributes).alias("_a"))
        .select(
            "row_ref",
            pl.col("season").cast(pl.Int64),
            pl.col("_a").struct.field("game_type"),
            "kickoff_utc",
            timing.known_at_expr(pl.col("kickoff_utc"), pl.col("kickoff_time_known")).alias("known_at"),
            "home_team",
            "away_team",
            pl.col("neutral_site").alias("neutral"),
            pl.col("_a").struct.field("spread_line"),
            pl.col("_a").struct.field("total_line"),
        )
        .join(batch.results.select("row_ref", "home_score", "away_score"), on="row_ref", how="left")
        .join(prices, on="row_ref", how="left")
    )
    for name in _PRICES.values():
        if name not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.Float64).alias(name))
    teams = sorted(set(frame["home_team"]) | set(frame["away_team"]))
    ids = {t: i for i, t in enumerate(teams)}
    return (
        frame.with_columns(
            pl.col("home_team").replace_strict(ids, return_dtype=pl.Int64).alias("home_team_id"),
            pl.col("away_team").replace_strict(ids, return_dtype=pl.Int64).alias("away_team_id"),
        )
        .sort("kickoff_utc", "home_team")
        .drop("row_ref")
    )


def _seconds(frame: pl.DataFrame, column: str) -> FloatArray:
    return np.asarray(frame.get_column(column).dt.epoch("s").cast(pl.Float64).to_numpy(), dtype=np.float64)


def _float(frame: pl.DataFrame, column: str) -> FloatArray:
    return np.asarray(frame.get_column(column).cast(pl.Float64).fill_null(np.nan).to_numpy(), dtype=np.float64)


def nfl_distributions(
    frame: pl.DataFrame, params: RatingParams | None = None, *, shape_prior: float = 5.0
) -> dict[str, LineDistribution]:
    """Walk-forward distributions of every game of ``frame`` (``load_nfl_games``): ``ratings_margin``/``_total``
    (points ratings + key-number shape), ``ratings_*_normal`` (the same means and sigmas, no shape),
    ``close_margin``/``_total`` (mean = the closing spread/total line, key-number shape of earlier games around
    earlier closing lines) and ``close_*_normal``."""
    kick, known = _seconds(frame, "kickoff_utc"), _seconds(frame, "known_at")
    hs, as_ = _float(frame, "home_score"), _float(frame, "away_score")
    margin_mean, total_mean = walk_forward_means(
        frame["home_team_id"].to_numpy(),
        frame["away_team_id"].to_numpy(),
        frame["season"].to_numpy(),
        hs,
        as_,
        kick,
        known,
        neutral=frame["neutral"].fill_null(False).to_numpy(),
        params=params,
    )
    means = {
        "ratings": (margin_mean, total_mean),
        "close": (_float(frame, "spread_line"), _float(frame, "total_line")),
    }
    out: dict[str, LineDistribution] = {}
    for name, (m, t) in means.items():
        for quantity, mean, outcome, first, size in (
            ("margin", m, hs - as_, MARGIN_FIRST, MARGIN_SIZE),
            ("total", t, hs + as_, TOTAL_FIRST, TOTAL_SIZE),
        ):
            # the ablation: shape_prior -> infinity is w = 1, the plain discretised normal (same mean and sigma)
            for suffix, prior in (("", shape_prior), ("_normal", 1e12)):
                out[f"{name}_{quantity}{suffix}"] = key_number_distribution(
                    mean,
                    outcome,
                    kick,
                    known,
                    first=first,
                    size=size,
                    sigma_prior=SIGMA_PRIOR[quantity],
                    shape_prior=prior,
                    symmetric=quantity == "margin",
                )
    return out


@dataclass
class NflLineEvaluation:
    """Per market the scored rows' table (Brier, log loss, paired Δ to the close with CIs), the push check at whole
    lines, and notes (rows, pushes dropped)."""

    tables: dict[str, pl.DataFrame]
    pushes: pl.DataFrame
    alternative_lines: pl.DataFrame
    notes: list[str] = field(default_factory=list)


def _two_way(frame: pl.DataFrame, a: str, b: str, method: str) -> FloatArray:
    prices = np.column_stack([_float(frame, a), _float(frame, b)])
    return np.asarray(remove_margin_or_nan(np.nan_to_num(prices, nan=0.0), method)[:, 0], dtype=np.float64)


def score_table(predictions: dict[str, FloatArray], y: FloatArray, anchor: str = CLOSE) -> pl.DataFrame:
    """Brier and log loss per predictor on the same rows, and paired bootstrap 95% CIs of the differences to
    ``anchor`` (2,000 resamples, seed 0)."""
    return binary_score_table(predictions, y, {"": anchor})


def _push_rows(
    name: str, line: FloatArray, outcome: FloatArray, rows: np.ndarray, dists: dict[str, LineDistribution]
) -> dict[str, Any]:
    """Observed push share at these whole lines (with a Wilson 95% interval) and each distribution's mean P(push)."""
    n = int(rows.sum())
    hits = int((outcome[rows] == line[rows]).sum())
    rate = hits / n if n else float("nan")
    z = 1.96
    centre = (rate + z * z / (2 * n)) / (1 + z * z / n) if n else float("nan")
    half = z * np.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n)) / (1 + z * z / n) if n else float("nan")
    row: dict[str, Any] = {"lines": name, "games": n, "pushes": hits, "observed": rate}
    row |= {"observed_low": centre - half, "observed_high": centre + half}
    for label, dist in dists.items():
        row[label] = float(dist[rows].mass_at(line[rows]).mean()) if n else float("nan")
    return row


def evaluate_nfl_lines(
    frame: pl.DataFrame, *, first_season: int = FIRST_SEASON, params: RatingParams | None = None
) -> NflLineEvaluation:
    """Score every predictor on the spread and total rows of ``frame`` (``load_nfl_games``) from ``first_season``;
    the walk-forward distributions are built on every game of ``frame`` (earlier seasons are their history)."""
    dists = nfl_distributions(frame, params)
    season = frame["season"].to_numpy()
    hs, as_ = _float(frame, "home_score"), _float(frame, "away_score")
    played = (season >= first_season) & np.isfinite(hs) & np.isfinite(as_)
    spread_line, total_line = _float(frame, "spread_line"), _float(frame, "total_line")
    # market: (prices, quantity, its closing line, the outcome relative to that line: > 0 home covers / over)
    markets = {
        "nfl_spread": (("spread_home", "spread_away"), "margin", spread_line, hs - as_ - spread_line),
        "nfl_total": (("over", "under"), "total", total_line, hs + as_ - total_line),
        # the moneyline is the margin at line 0 (a tie voids it): a line the spread close did not quote, but priced
        "nfl_moneyline": (("moneyline_home", "moneyline_away"), "margin", np.zeros_like(hs), hs - as_),
    }
    tables, notes, alternatives = {}, [], []
    for market, ((a, b), quantity, line, edge) in markets.items():
        priced = played & np.isfinite(_two_way(frame, a, b, "multiplicative")) & np.isfinite(line)
        push = priced & (edge == 0)
        rows = priced & ~push
        if not rows.any():
            raise ValueError(f"no {market} games with both closing prices from season {first_season}")
        sub = frame.filter(pl.Series(rows))
        preds = {CLOSE: _two_way(sub, a, b, "multiplicative"), CLOSE_SHIN: _two_way(sub, a, b, "shin")}
        preds["even_0.5"] = np.full(int(rows.sum()), 0.5)
        for name in ("ratings", "ratings_normal", "close_centred", "close_centred_normal"):
            key = "ratings" if name.startswith("ratings") else "close"
            dist = dists[f"{key}_{quantity}" + ("_normal" if name.endswith("normal") else "")][rows]
            grades = dist.spread(-line[rows]) if quantity == "margin" else dist.total(line[rows])
            preds[name] = grades.no_push_probability
        tables[market] = score_table(preds, (edge[rows] > 0).astype(np.float64))
        if market != "nfl_moneyline":
            alternatives += _alternative_lines(market, quantity, line[priced], edge[priced], dists, priced)
        notes.append(
            f"{market}: {int(rows.sum()):,} games scored ({int(season[rows].min())}-{int(season[rows].max())}), "
            f"{int(push.sum())} {'ties' if market == 'nfl_moneyline' else 'pushes at whole closing lines'} dropped, "
            f"{int((played & ~priced).sum())} played games without both closing prices left out"
        )
    return NflLineEvaluation(tables, push_table(frame, dists, first_season), pl.DataFrame(alternatives), notes)


ALTERNATIVE_OFFSETS = (-7.0, -3.5, -3.0, 3.0, 3.5, 7.0)


def _alternative_lines(
    market: str,
    quantity: str,
    line: FloatArray,
    edge: FloatArray,
    dists: dict[str, LineDistribution],
    rows: np.ndarray,
) -> list[dict[str, Any]]:
    """Lines the close did not quote (closing line + offset, in points of home margin / total), scored on the same
    games: the use of a market-implied distribution. No prices exist there, so the question is only whether the
    key-number shape prices them better than a plain normal with the same mean and sigma (paired Δ Brier, CI)."""
    out = []
    for offset in ALTERNATIVE_OFFSETS:
        shifted = edge - offset  # > 0: home covers spread_line + offset / over total_line + offset
        keep = shifted != 0
        y = (shifted[keep] > 0).astype(np.float64)
        preds = {}
        for name in ("close_centred", "close_centred_normal", "ratings"):
            key = name.replace("close_centred", "close") + "_" + quantity
            key = key.replace("_normal_" + quantity, "_" + quantity + "_normal")
            dist = dists[key][rows][keep]
            at = line[keep] + offset
            grades = dist.spread(-at) if quantity == "margin" else dist.total(at)
            preds[name] = grades.no_push_probability
        brier = {n: (p - y) ** 2 for n, p in preds.items()}
        ci = bootstrap_mean_ci(brier["close_centred"] - brier["close_centred_normal"])[0]
        row: dict[str, Any] = {"market": market, "offset": offset, "games": int(y.size), "share_yes": y.mean()}
        row |= {f"brier_{n}": float(b.mean()) for n, b in brier.items()}
        row |= {"d_shape": ci.mean, "d_shape_low": ci.low, "d_shape_high": ci.high}
        out.append(row)
    return out


def push_table(frame: pl.DataFrame, dists: dict[str, LineDistribution], first_season: int) -> pl.DataFrame:
    """How each distribution prices the push at whole closing lines (every played game from ``first_season``, priced
    or not): spread ±3, ±7, ±10, other whole spreads; totals 41, 44, 47, other whole totals."""
    season = frame["season"].to_numpy()
    hs, as_ = _float(frame, "home_score"), _float(frame, "away_score")
    played = (season >= first_season) & np.isfinite(hs) & np.isfinite(as_)
    out = []
    for quantity, line, outcome, keys in (
        ("spread", _float(frame, "spread_line"), hs - as_, (3.0, 7.0, 10.0)),
        ("total", _float(frame, "total_line"), hs + as_, (41.0, 44.0, 47.0)),
    ):
        q = "margin" if quantity == "spread" else "total"
        chosen = {
            "close_centred": dists[f"close_{q}"],
            "close_centred_normal": dists[f"close_{q}_normal"],
            "ratings": dists[f"ratings_{q}"],
            "ratings_normal": dists[f"ratings_{q}_normal"],
        }
        whole = played & np.isfinite(line) & (np.abs(line - np.round(line)) < 1e-9)
        size = np.abs(line) if quantity == "spread" else line
        for v in keys:
            label = f"{quantity} {'±' if quantity == 'spread' else ''}{v:g}"
            out.append(_push_rows(label, line, outcome, whole & (size == v), chosen))
        out.append(_push_rows(f"{quantity}, other whole lines", line, outcome, whole & ~np.isin(size, keys), chosen))
    return pl.DataFrame(out)


def format_nfl_markdown(result: NflLineEvaluation) -> str:
    """One Markdown table per market (Brier, log loss, paired Δ to the multiplicative close) and the push check."""
    lines: list[str] = []
    for market, table in result.tables.items():
        lines += [
            f"**{market}** ({int(table['rows'][0]):,} games)",
            "",
            "| model | Brier | log loss | Δ Brier vs close [95% CI] | Δ log loss vs close [95% CI] |",
            "|---|---|---|---|---|",
        ]
        for row in table.iter_rows(named=True):
            lines.append(
                f"| {row['model']} | {row['brier']:.4f} | {row['log_loss']:.4f} | {format_ci(row, 'd_brier')} "
                f"| {format_ci(row, 'd_log_loss')} |"
            )
        lines.append("")
    predicted = [c for c in result.pushes.columns if c.startswith(("close_", "ratings"))]
    lines += [
        "**pushes at whole closing lines** (observed share [Wilson 95% CI] vs each distribution's mean P(push))",
        "",
        "| lines | games | pushes | observed [95% CI] | " + " | ".join(predicted) + " |",
        "|---|---|---|---|" + "---|" * len(predicted),
    ]
    for row in result.pushes.iter_rows(named=True):
        observed = f"{row['observed']:.3f} [{row['observed_low']:.3f}, {row['observed_high']:.3f}]"
        cells = " | ".join(f"{row[c]:.3f}" for c in predicted)
        lines.append(f"| {row['lines']} | {row['games']:,} | {row['pushes']} | {observed} | {cells} |")
    lines += [
        "",
        "**alternative lines** (closing line + offset; no prices there: Brier of P(home covers / over), pushes dropped;"
        " Δ = key-number shape − plain normal, both centred on the close)",
        "",
        "| market | offset | games | share yes | close_centred | close_centred_normal | ratings | Δ shape [95% CI] |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in result.alternative_lines.iter_rows(named=True):
        lines.append(
            f"| {row['market']} | {row['offset']:+g} | {row['games']:,} | {row['share_yes']:.3f} "
            f"| {row['brier_close_centred']:.4f} | {row['brier_close_centred_normal']:.4f} "
            f"| {row['brier_ratings']:.4f} "
            f"| {format_ci(row, 'd_shape')} |"
        )
    return "\n".join([*lines, "", *(f"- {note}" for note in result.notes), ""])
