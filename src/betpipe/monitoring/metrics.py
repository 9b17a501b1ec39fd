"""Daily model metrics per model version and competition: scores of served predictions and money of the ledger.

Predictions (``shadow_predictions``) count on the UTC day of their event's kickoff and are scored once the event has
a result, with ``betpipe.modeling.metrics`` (Brier, log loss, RPS; ECE grouped the same way in one pass). Bets count
on the UTC day they were settled: stakes, P&L (integer cents), ROI and mean CLV. Each cycle recomputes the last
``metrics_lookback_days`` days and upserts on (day, version, competition), so re-running changes nothing and late
results fill in. Must never write NaN: a metric with nothing to score is stored as NULL and reported in words.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import Engine, Text, cast, select

from betpipe.clock import Clock, as_utc_instant
from betpipe.db.bulk import upsert
from betpipe.db.schema import competitions, events, results
from betpipe.db.schema_betting import bets
from betpipe.db.schema_monitoring import model_daily_metrics
from betpipe.db.schema_registry import model_versions, shadow_predictions
from betpipe.modeling.metrics import brier_rows, log_loss_rows, rps_rows
from betpipe.registry.shadow import OUTCOMES

__all__ = ["SETTLED_STATES", "MetricsReport", "daily_metrics", "grouped_ece", "update_daily_metrics"]

SETTLED_STATES = ("won", "lost", "void", "half_won", "half_lost")
GROUP = ("day", "version_id", "competition")
VALUE_COLUMNS = (
    "predictions",
    "settled_events",
    "brier",
    "log_loss",
    "rps",
    "ece",
    "bets",
    "staked_cents",
    "pnl_cents",
    "roi",
    "mean_clv",
)
ECE_BINS = 10


@dataclass(frozen=True)
class MetricsReport:
    start: date
    end: date  # inclusive
    rows: int  # (day, version, competition) rows upserted
    predictions: int
    scored: int
    settled_bets: int
    message: str


def _day_range(clock: Clock, lookback_days: int) -> tuple[datetime, datetime]:
    today = as_utc_instant(clock.now()).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=lookback_days - 1), today + timedelta(days=1)


def load_predictions(engine: Engine, start: datetime, end: datetime) -> pl.DataFrame:
    """Served predictions of events kicking off in [start, end), with their market and result (if any)."""
    query = (
        select(
            shadow_predictions.c.version_id,
            model_versions.c.market,
            competitions.c.code.label("competition"),
            events.c.kickoff_utc,
            events.c.status,
            cast(shadow_predictions.c.probabilities, Text).label("probabilities"),
            results.c.home_score,
            results.c.away_score,
        )
        .join(model_versions, model_versions.c.id == shadow_predictions.c.version_id)
        .join(events, events.c.id == shadow_predictions.c.event_id)
        .join(competitions, competitions.c.id == events.c.competition_id)
        .outerjoin(results, results.c.event_id == shadow_predictions.c.event_id)
        .where(events.c.kickoff_utc >= start, events.c.kickoff_utc < end)
    )
    schema: dict[str, Any] = {
        "version_id": pl.Int64,
        "market": pl.String,
        "competition": pl.String,
        "kickoff_utc": pl.Datetime("us", "UTC"),
        "status": pl.String,
        "probabilities": pl.String,
        "home_score": pl.Int64,
        "away_score": pl.Int64,
    }
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    frame = pl.DataFrame([tuple(r) for r in rows], schema=list(schema), orient="row")
    frame = frame.with_columns(
        pl.col("kickoff_utc").map_batches(_utc_series, return_dtype=schema["kickoff_utc"]),
        *[pl.col(name).cast(dtype) for name, dtype in schema.items() if name != "kickoff_utc"],
    )
    return frame.with_columns(
        pl.col("probabilities").str.json_decode(pl.List(pl.Float64)),
        pl.col("kickoff_utc").dt.date().alias("day"),
    )


def _utc_series(series: pl.Series) -> pl.Series:
    """SQLite hands datetimes back naive (stored as UTC), PostgreSQL aware: one UTC dtype for both."""
    if series.dtype == pl.Null:
        return series.cast(pl.Datetime("us", "UTC"))
    dtype = series.dtype
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
        return series.dt.convert_time_zone("UTC").dt.cast_time_unit("us")
    return series.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")


def load_settled_bets(engine: Engine, accounts: list[str], start: datetime, end: datetime) -> pl.DataFrame:
    query = select(
        bets.c.settled_at,
        bets.c.model_version,
        bets.c.competition,
        bets.c.stake_cents,
        bets.c.pnl_cents,
        bets.c.clv,
    ).where(
        bets.c.account.in_(accounts),
        bets.c.state.in_(SETTLED_STATES),
        bets.c.settled_at >= start,
        bets.c.settled_at < end,
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    names = ["settled_at", "version_id", "competition", "stake_cents", "pnl_cents", "clv"]
    frame = pl.DataFrame([tuple(r) for r in rows], schema=names, orient="row")
    return frame.with_columns(
        pl.col("settled_at").map_batches(_utc_series, return_dtype=pl.Datetime("us", "UTC")),
        pl.col("version_id").cast(pl.Int64).fill_null(0),
        pl.col("competition").cast(pl.String),
        pl.col("stake_cents", "pnl_cents").cast(pl.Int64).fill_null(0),
        pl.col("clv").cast(pl.Float64).fill_nan(None),
    ).with_columns(pl.col("settled_at").dt.date().alias("day"))


def grouped_ece(p: np.ndarray[Any, Any], y: np.ndarray[Any, Any], group: np.ndarray[Any, Any]) -> pl.DataFrame:
    """ECE of each group exactly as ``modeling.metrics.ece`` defines it, in one vectorised pass over all rows.

    Every aggregation keeps a fixed order, so the same rows give bit-identical floats and a re-run upsert is a no-op.
    """
    n, k = p.shape
    observed = np.zeros((n, k))
    observed[np.arange(n), y] = 1.0
    cells = pl.DataFrame(
        {
            "group": np.repeat(group, k),
            "outcome": np.tile(np.arange(k), n),
            "bin": np.clip((p * ECE_BINS).astype(np.int64), 0, ECE_BINS - 1).ravel(),
            "p": p.ravel(),
            "o": observed.ravel(),
        }
    )
    bins = cells.group_by("group", "outcome", "bin", maintain_order=True).agg(
        pl.len().alias("rows"), pl.col("p").sum(), pl.col("o").sum()
    )
    per_outcome = (
        bins.sort("group", "outcome", "bin")
        .group_by("group", "outcome", maintain_order=True)
        .agg(((pl.col("p") - pl.col("o")).abs().sum() / pl.col("rows").sum()).alias("ece"))
    )
    return per_outcome.group_by("group", maintain_order=True).agg(pl.col("ece").mean())


def _score(predictions: pl.DataFrame) -> pl.DataFrame:
    """Per (day, version, competition): predictions, settled (scored) events and the four scores."""
    counts = predictions.group_by(GROUP, maintain_order=True).agg(pl.len().alias("predictions"))
    settled = predictions.filter(
        (pl.col("status") == "finished") & pl.col("home_score").is_not_null() & pl.col("away_score").is_not_null()
    )
    scored_frames = []
    for market, rows in settled.partition_by("market", as_dict=True).items():
        outcome = OUTCOMES.get(str(market[0]))
        if outcome is None or rows.is_empty():
            continue
        labels = outcome(rows)
        width = rows["probabilities"].list.len().max()
        keep = (labels >= 0) & (rows["probabilities"].list.len() == width).to_numpy()
        rows, labels = rows.filter(pl.Series(keep)), labels[keep]
        if rows.is_empty():
            continue
        p = np.asarray(rows["probabilities"].to_list(), dtype=np.float64)
        finite = np.isfinite(p).all(axis=1) & (labels < p.shape[1])
        rows, p, labels = rows.filter(pl.Series(finite)), p[finite], labels[finite]
        if rows.is_empty():
            continue
        losses = rows.select(GROUP).with_columns(
            pl.Series("brier", brier_rows(p, labels)),
            pl.Series("log_loss", log_loss_rows(p, labels)),
            pl.Series("rps", rps_rows(p, labels)),
        )
        ids = losses.select(GROUP).unique().with_row_index("g").with_columns(pl.col("g").cast(pl.Int64))
        losses = losses.join(ids, on=list(GROUP), how="left", maintain_order="left")
        ece = grouped_ece(p, labels, losses["g"].to_numpy())
        summary = (
            losses.group_by("g", maintain_order=True)
            .agg(
                *[pl.col(c).first() for c in GROUP],
                pl.len().alias("settled_events"),
                pl.col("brier").mean(),
                pl.col("log_loss").mean(),
                pl.col("rps").mean(),
            )
            .join(ece.rename({"group": "g"}), on="g", how="left")
            .drop("g")
        )
        scored_frames.append(summary)
    if not scored_frames:
        return counts.with_columns(
            pl.lit(0, pl.Int64).alias("settled_events"),
            *[pl.lit(None, pl.Float64).alias(c) for c in ("brier", "log_loss", "rps", "ece")],
        )
    scored = pl.concat(scored_frames)
    return counts.join(scored, on=list(GROUP), how="left").with_columns(pl.col("settled_events").fill_null(0))


def _money(settled_bets: pl.DataFrame) -> pl.DataFrame:
    return settled_bets.group_by(GROUP, maintain_order=True).agg(
        pl.len().alias("bets"),
        pl.col("stake_cents").sum().alias("staked_cents"),
        pl.col("pnl_cents").sum(),
        pl.col("clv").mean().alias("mean_clv"),
    )


def daily_metrics(predictions: pl.DataFrame, settled_bets: pl.DataFrame) -> pl.DataFrame:
    """The metric rows, one per (day, version, competition) seen on either side; NaN never survives (NULL)."""
    scores = _score(predictions)
    money = _money(settled_bets)
    key_types = {"day": pl.Date, "version_id": pl.Int64, "competition": pl.String}
    scores = scores.with_columns(*[pl.col(c).cast(t) for c, t in key_types.items()])
    money = money.with_columns(*[pl.col(c).cast(t) for c, t in key_types.items()])
    joined = scores.join(money, on=list(GROUP), how="full", coalesce=True)
    out = joined.with_columns(
        pl.col("predictions", "settled_events", "bets", "staked_cents", "pnl_cents").fill_null(0).cast(pl.Int64),
    ).with_columns(
        pl.when(pl.col("staked_cents") > 0)
        .then(pl.col("pnl_cents") / pl.col("staked_cents"))
        .otherwise(None)
        .alias("roi"),
    )
    floats = ("brier", "log_loss", "rps", "ece", "roi", "mean_clv")
    out = out.with_columns(pl.col(c).cast(pl.Float64).fill_nan(None) for c in floats)
    return out.select(*GROUP, *VALUE_COLUMNS).sort(GROUP)


def update_daily_metrics(
    engine: Engine, *, accounts: list[str], lookback_days: int, clock: Clock
) -> tuple[MetricsReport, pl.DataFrame]:
    """Recompute the lookback window and upsert it; the report says in words when there was nothing to measure."""
    start, end = _day_range(clock, lookback_days)
    predictions = load_predictions(engine, start, end)
    settled = load_settled_bets(engine, accounts, start, end)
    frame = daily_metrics(predictions, settled)
    now = as_utc_instant(clock.now())
    rows = [(*row, now) for row in frame.iter_rows()]
    if rows:
        with engine.begin() as conn:
            upsert(
                conn,
                model_daily_metrics,
                rows,
                list(GROUP),
                [*VALUE_COLUMNS, "computed_at"],
                source="monitoring",
                log_changes=False,
                clock=clock,
            )
    scored = int(frame["settled_events"].sum()) if frame.height else 0
    if frame.is_empty():
        message = f"no data: no predictions or settled bets in the last {lookback_days} day(s)"
    elif scored == 0:
        message = f"{predictions.height} prediction(s), none settled yet: no scores to report"
    else:
        message = f"{frame.height} day x model x competition row(s), {scored} settled event(s) scored"
    report = MetricsReport(
        start=start.date(),
        end=(end - timedelta(days=1)).date(),
        rows=frame.height,
        predictions=predictions.height,
        scored=scored,
        settled_bets=settled.height,
        message=message,
    )
    return report, frame
