"""A generated league's frames as ``betpipe.features.source`` loads them, for the feature tests that compare a fast
path with the operation it replaced: each test adds its own hard cases (timed kickoffs, shots, re-quotes, aggregate
books) on top of the same conversion."""

from __future__ import annotations

from typing import Any

import polars as pl

from betpipe.features.source import EVENT_COLUMNS, QUOTE_SCHEMA


def source_events(frames: Any, *extra: pl.Expr) -> pl.DataFrame:
    """Events with their scores in ``EVENT_COLUMNS`` (columns neither generated nor in ``extra`` are null)."""
    events: pl.DataFrame = frames.events.join(
        frames.results.select("event_id", "home_score", "away_score"), on="event_id", how="left"
    )
    events = events.with_columns(
        pl.lit("soccer").alias("sport"),
        pl.col("competition_code").alias("competition"),
        pl.col("home_idx").cast(pl.Int64).alias("home_team_id"),
        pl.col("away_idx").cast(pl.Int64).alias("away_team_id"),
        pl.lit(False).alias("neutral_site"),
        *extra,
    )
    missing = [pl.lit(None, dtype=t).alias(c) for c, t in EVENT_COLUMNS.items() if c not in events.columns]
    return events.with_columns(missing).select([pl.col(c).cast(t) for c, t in EVENT_COLUMNS.items()])


def source_quotes(frames: Any) -> pl.DataFrame:
    """The 1X2 odds as one row per (event, book, kind, instant) with home/draw/away prices (not yet cast: tests add
    rows first, then ``as_loaded``)."""
    odds: pl.DataFrame = frames.odds.filter(pl.col("market") == "1x2").with_columns(
        pl.col("bookmaker").cast(pl.Utf8), pl.col("kind").cast(pl.Utf8), pl.col("selection").cast(pl.Utf8)
    )
    quotes = odds.pivot(on="selection", index=["event_id", "bookmaker", "kind", "captured_at"], values="price")
    return quotes.with_columns(
        pl.lit(False).alias("is_aggregate"), pl.lit("1x2").alias("market"), pl.lit(0.0).alias("line")
    )


def as_loaded(quotes: pl.DataFrame) -> pl.DataFrame:
    return quotes.select([pl.col(c).cast(t) for c, t in QUOTE_SCHEMA.items()])
