"""The rows the model of the close trains and predicts on, shared by the backtest's walk-forward and the live run's
training and pricing, so both see the same inputs for the same event at the same decision instant.

``history_frame``: every event with its close labels and its inputs at its own first sharp pre-match quote (training
rows). ``target_frame``: events to price, with inputs as known at a decision instant the caller gives (each book's
pre-match quotes captured at or before it; Elo as of it, from the caller) and no label. Never reads a closing price
into an input; a target's label columns are NaN, so a target never trains.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
from sqlalchemy import Engine

from betpipe.config import Settings
from betpipe.features.close_inputs import ELO_COLUMNS, TARGET_SOURCE, close_inputs, input_columns, with_close_inputs
from betpipe.ingest.records import UTC_DATETIME

__all__ = ["LABELS", "has_sharp_price", "history_frame", "labelled_rows", "target_frame"]

LABELS = tuple(f"{TARGET_SOURCE}_{s}" for s in ("home", "draw", "away"))
_KEYS = ("event_id", "kickoff_utc", "decided_at", "competition")


def _columns() -> list[str]:
    return [*_KEYS, "hours_to_kickoff", *input_columns(), *ELO_COLUMNS, *LABELS]


def _typed(frame: pl.DataFrame) -> pl.DataFrame:
    floats = [c for c in _columns() if c not in _KEYS]
    return frame.select(
        pl.col("event_id").cast(pl.Int64),
        pl.col("kickoff_utc").cast(UTC_DATETIME),
        pl.col("decided_at").cast(UTC_DATETIME),
        pl.col("competition").cast(pl.Utf8),
        *[pl.col(c).cast(pl.Float64) for c in floats],
    )


def history_frame(
    engine: Engine, settings: Settings, competitions: Sequence[str] | None, quotes: pl.DataFrame
) -> pl.DataFrame:
    """Every soccer event (of ``competitions``) with its decision-time inputs and close labels; ValueError (one
    line) when the store has none or the feature build lacks the labels."""
    from betpipe.features import training_matrix

    frame = training_matrix(engine, sport="soccer", competitions=competitions, settings=settings)
    where = f" in {', '.join(competitions)}" if competitions else ""
    if frame.is_empty():
        raise ValueError(f"close_model: no soccer events{where}: ingest football-data first")
    missing = [c for c in (*LABELS, *ELO_COLUMNS) if c not in frame.columns]
    if missing:
        raise ValueError(f"close_model: the feature build lacks {', '.join(missing)}: run `betpipe features build`")
    return _typed(with_close_inputs(frame, quotes))


def labelled_rows(frame: pl.DataFrame) -> pl.Series:
    """Rows with a complete close label (a training label once the match has kicked off)."""
    finite = (pl.col(c).is_not_null() & pl.col(c).is_not_nan() for c in LABELS)
    return frame.select(pl.all_horizontal(finite).fill_null(False)).to_series()


def target_frame(keys: pl.DataFrame, elo: pl.DataFrame, quotes: pl.DataFrame) -> pl.DataFrame:
    """``keys`` (event_id, competition, kickoff_utc, decided_at) with every input as known at ``decided_at`` and Elo
    from ``elo`` (event_id + ``ELO_COLUMNS``, as of the decision), labels NaN; row for row with ``keys``."""
    base = keys.select(
        pl.col("event_id").cast(pl.Int64),
        pl.col("kickoff_utc").cast(UTC_DATETIME),
        pl.col("decided_at").cast(UTC_DATETIME),
        pl.col("competition").cast(pl.Utf8),
    )
    inputs = close_inputs(quotes, base.select("event_id", "kickoff_utc", "decided_at"), at="decided_at")
    ratings = elo.select(pl.col("event_id").cast(pl.Int64), *[pl.col(c).cast(pl.Float64) for c in ELO_COLUMNS])
    frame = (
        base.join(
            inputs.drop("decided_at").unique("event_id", keep="first"), on="event_id", how="left", maintain_order="left"
        )
        .join(ratings.unique("event_id", keep="first"), on="event_id", how="left", maintain_order="left")
        .with_columns([pl.lit(float("nan")).alias(c) for c in LABELS])
    )
    return _typed(frame)


def has_sharp_price(frame: pl.DataFrame) -> pl.Series:
    """Rows whose sharp pre-match 1X2 was known at the decision (the model's prior; without it, no forecast)."""
    finite = (pl.col(f"c_ps_{s}").is_not_null() & pl.col(f"c_ps_{s}").is_not_nan() for s in ("home", "draw", "away"))
    return frame.select(pl.all_horizontal(finite).fill_null(False)).to_series()
