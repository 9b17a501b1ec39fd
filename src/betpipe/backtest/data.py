"""What a walk-forward backtest reads from the store: events with their outcome, the executable pre-match price of
ONE named book with the instant it became known, the sharp book's pre-match and closing prices, and model features
as known at each decision instant.

Read-only. Never returns an aggregate book's price as a price to bet at (``bookmakers.is_aggregate`` is refused),
never a pre-match price captured at or after kickoff, and never a feature that uses a result known at or after the
decision instant (features are read through the feature store's as-of index at that instant, not at kickoff).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import Engine

from betpipe.config import Settings
from betpipe.features import training_matrix
from betpipe.features.asof import schedule_columns
from betpipe.features.source import QUOTE_GROUP, QUOTE_SELECT
from betpipe.features.store import current_index
from betpipe.features.timeline import query_order, to_ms
from betpipe.ingest.records import UTC_DATETIME
from betpipe.sports import sport_rules

__all__ = ["AggregateBookError", "decision_features", "load_events", "load_prices", "selections_of"]

PRE_MATCH_KIND = "opening"
CLOSING_KIND = "closing"


class AggregateBookError(ValueError):
    """A backtest was asked to bet at an aggregate (max/average/consensus) price, which nobody can take."""


def selections_of(sport: str) -> tuple[str, ...]:
    return sport_rules(sport).outcomes


def _placeholders(engine: Engine, prefix: str, values: Sequence[object]) -> tuple[str, dict[str, object]]:
    names = [f"{prefix}{i}" for i in range(len(values))]
    marks = ", ".join("?" if engine.dialect.name == "sqlite" else f"%({n})s" for n in names)
    return marks, dict(zip(names, values, strict=True))


def _utc(frame: pl.DataFrame, name: str) -> pl.Expr:
    dtype = frame.schema[name]
    if dtype == pl.Utf8:
        return pl.col(name).str.to_datetime(time_unit="us").dt.replace_time_zone("UTC")
    if dtype == pl.Null:
        return pl.col(name).cast(UTC_DATETIME)
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is None:
        return pl.col(name).dt.cast_time_unit("us").dt.replace_time_zone("UTC")
    return pl.col(name).dt.convert_time_zone("UTC").dt.cast_time_unit("us")


def _book_flags(engine: Engine, keys: Sequence[str]) -> dict[str, bool]:
    marks, params = _placeholders(engine, "k", keys)
    sql = f"SELECT key, is_aggregate FROM bookmakers WHERE key IN ({marks})"
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            sql, tuple(params.values()) if engine.dialect.name == "sqlite" else params
        ).fetchall()
    return {str(r[0]): bool(r[1]) for r in rows}


def _quotes(engine: Engine, market: str, competitions: Sequence[str], books: Sequence[str]) -> pl.DataFrame:
    """Pre-match and closing quotes of ``books`` in ``market``, one row per (event, book, kind, capture instant)."""
    comp_marks, comp_params = _placeholders(engine, "c", competitions)
    book_marks, book_params = _placeholders(engine, "b", books)
    market_mark = "?" if engine.dialect.name == "sqlite" else "%(m)s"
    sql = (
        QUOTE_SELECT + "JOIN events e ON e.id = o.event_id JOIN competitions c ON c.id = e.competition_id "
        f"WHERE o.market = {market_mark} AND NOT b.is_aggregate AND o.kind IN ('{PRE_MATCH_KIND}', '{CLOSING_KIND}') "
        f"AND b.key IN ({book_marks}) AND c.code IN ({comp_marks})" + QUOTE_GROUP
    )
    params: dict[str, object] = {"m": market, **book_params, **comp_params}
    with engine.connect() as conn:
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            ordered = (market, *book_params.values(), *comp_params.values())
            cursor.execute(sql, ordered if engine.dialect.name == "sqlite" else params)
            rows = cursor.fetchall()
        finally:
            cursor.close()
    names = ["event_id", "bookmaker", "is_aggregate", "market", "kind", "captured_at", "home", "draw", "away", "line"]
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    frame = pl.DataFrame([pl.Series(n, list(v), strict=False) for n, v in zip(names, columns, strict=True)])
    return frame.select(
        pl.col("event_id").cast(pl.Int64),
        pl.col("bookmaker").cast(pl.Utf8),
        pl.col("kind").cast(pl.Utf8),
        _utc(frame, "captured_at").alias("captured_at"),
        *[pl.col(s).cast(pl.Float64) for s in ("home", "draw", "away")],
    )


def load_events(
    engine: Engine,
    *,
    sport: str,
    competitions: Sequence[str],
    end: datetime | None,
    settings: Settings,
) -> pl.DataFrame:
    """Every event of the competitions before ``end`` with as-of-kickoff features and outcome: the training rows."""
    return training_matrix(engine, sport=sport, competitions=competitions, end=end, settings=settings)


def load_prices(
    engine: Engine,
    events: pl.DataFrame,
    *,
    sport: str,
    book: str,
    sharp_book: str,
    max_price_age_hours: float,
) -> pl.DataFrame:
    """Per event of ``events``: the decision instant and the prices a bettor could know then.

    ``decided_at`` is the first instant ``book``'s complete pre-match market was captured strictly before kickoff (null:
    never priced in time, so no bet). ``book_*`` are those prices; ``sharp_pre_*`` the sharp book's latest pre-match
    market captured at or before ``decided_at`` and at most ``max_price_age_hours`` older (null when missing or stale);
    ``close_*`` the sharp book's closing market (for CLV only, never an input to a decision).
    """
    flags = _book_flags(engine, [book, sharp_book])
    for key in (book, sharp_book):
        if flags.get(key, False):
            raise AggregateBookError(f"{key!r} is an aggregate (max/average/consensus), not a price anyone can take")
    names = selections_of(sport)
    market = sport_rules(sport).prediction_market
    competitions = sorted(set(events.get_column("competition").to_list()))
    quotes = _quotes(engine, market, competitions, sorted({book, sharp_book}))
    kick = events.select("event_id", "kickoff_utc")
    quotes = quotes.join(kick, on="event_id", how="inner")
    complete = pl.all_horizontal(pl.col(n).is_not_null() for n in names)
    pre = quotes.filter(pl.col("kind") == PRE_MATCH_KIND, complete, pl.col("captured_at") < pl.col("kickoff_utc"))
    first = (
        pre.filter(pl.col("bookmaker") == book)
        .sort("event_id", "captured_at")
        .group_by("event_id", maintain_order=True)
        .first()
        .select(
            "event_id",
            pl.col("captured_at").alias("decided_at"),
            *[pl.col(n).alias(f"book_{n}") for n in names],
        )
    )
    sharp_pre = (
        pre.filter(pl.col("bookmaker") == sharp_book)
        .sort("captured_at")
        .select(
            "event_id", pl.col("captured_at").alias("sharp_pre_at"), *[pl.col(n).alias(f"sharp_pre_{n}") for n in names]
        )
    )
    decided = first.filter(pl.col("decided_at").is_not_null()).sort("decided_at")
    with_sharp = decided.join_asof(
        sharp_pre,
        left_on="decided_at",
        right_on="sharp_pre_at",
        by="event_id",
        strategy="backward",
        check_sortedness=False,  # both sides are sorted by their instant as a whole, hence within each event
    )
    stale = (pl.col("decided_at") - pl.col("sharp_pre_at")).dt.total_seconds() > max_price_age_hours * 3600.0
    with_sharp = with_sharp.with_columns(
        [pl.when(stale).then(None).otherwise(pl.col(f"sharp_pre_{n}")).alias(f"sharp_pre_{n}") for n in names]
    )
    close = (
        quotes.filter(pl.col("kind") == CLOSING_KIND, pl.col("bookmaker") == sharp_book, complete)
        .sort("event_id", "captured_at")
        .group_by("event_id", maintain_order=True)
        .last()
        .select("event_id", *[pl.col(n).alias(f"close_{n}") for n in names])
    )
    out = (
        events.select("event_id", "competition", "season", "kickoff_utc", "status", "home_score", "away_score")
        .join(with_sharp.drop("sharp_pre_at"), on="event_id", how="left")
        .join(close, on="event_id", how="left")
    )
    return out.sort("kickoff_utc", "event_id")


def valid_prices(frame: pl.DataFrame, prefix: str, names: Sequence[str]) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Rows whose ``prefix_*`` prices are all finite decimals > 1 (a price <= 1 or missing never prices a bet)."""
    prices = frame.select([pl.col(f"{prefix}_{n}") for n in names]).to_numpy().astype(np.float64)
    return np.asarray(np.isfinite(prices).all(axis=1) & (prices > 1.0).all(axis=1))


def decision_features(
    engine: Engine, *, sport: str, event_ids: Sequence[int], decided_at: Sequence[datetime], settings: Settings
) -> pl.DataFrame:
    """Model features of ``event_ids`` as known strictly before each one's decision instant (not its kickoff).

    Elo and form come from the feature store's as-of index at that instant, so a result that became known between
    the decision and the kickoff (a Friday game before a Saturday one) cannot leak in; schedule values are nulled
    where their known-from instant is not before the decision. Market features are left out: the backtest's market
    leg is the named sharp book's price read by ``load_prices``, with its own time rule.
    """
    index, _ = current_index(engine, sport, settings, check_source=False)
    events = index.tables.events
    wanted = pl.DataFrame(
        {"event_id": pl.Series(list(event_ids), dtype=pl.Int64), "decided_at": pl.Series(list(decided_at))}
    ).with_columns(pl.col("decided_at").cast(UTC_DATETIME))
    rows = wanted.join(events, on="event_id", how="inner", maintain_order="left")
    as_of = to_ms(rows.get_column("decided_at"))
    as_of = np.minimum(as_of, rows.get_column("kickoff_ms").to_numpy())
    home, away = rows.get_column("home_idx").to_numpy(), rows.get_column("away_idx").to_numpy()
    orders = {side: query_order(np.maximum(team, 0), as_of) for side, team in (("home", home), ("away", away))}
    season, neutral = rows.get_column("season_year").to_numpy(), rows.get_column("neutral_site").to_numpy()
    elo, _ = index.elo_columns(home, away, as_of, season, neutral, orders)
    columns = [pl.Series(name, values) for name, values in elo.items()]
    columns += index.form_columns(index.form_rows(home, away, as_of, orders))
    visible = rows.get_column("schedule_known_ms").to_numpy() < as_of
    schedule = [
        pl.Series(name, np.where(visible, rows.get_column(name).cast(pl.Float64).to_numpy(), np.nan)).fill_nan(None)
        for name in schedule_columns(rows)
    ]
    base = rows.select("event_id", "competition", "season", "kickoff_utc", "decided_at")
    frame = pl.concat([base, pl.DataFrame(columns), pl.DataFrame(schedule)], how="horizontal")
    return frame
