"""What a walk-forward backtest reads from the store: events with their outcome, the best executable pre-match price
among the strategy's books with the instant it became known, the sharp book's pre-match and closing prices, the
market-average consensus (an input only), and model features as known at each decision instant.

Read-only. Every pre-match price goes through ``features.prematch``'s one time rule (``captured_at <= decision <
kickoff``), the rule market features and bench columns use too. Never returns an aggregate book's price as a price to
bet at (``bookmakers.is_aggregate`` is refused; aggregates come back only as ``cons_*`` inputs), never a pre-match
price captured at or after kickoff, and never a feature that uses a result known at or after the decision instant
(features are read through the feature store's as-of index at that instant, not at kickoff).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import Engine

from betpipe.betting.shopping import best_prices
from betpipe.config import Settings
from betpipe.features import training_matrix
from betpipe.features.decision import decision_features
from betpipe.features.prematch import PREMATCH_KINDS, complete_prices, prematch_known, prematch_prices
from betpipe.features.source import QUOTE_GROUP, QUOTE_SELECT
from betpipe.ingest.records import UTC_DATETIME
from betpipe.sports import sport_rules

__all__ = ["AggregateBookError", "decision_features", "load_events", "load_prices", "selections_of"]

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


def _quotes(
    engine: Engine,
    market: str,
    competitions: Sequence[str],
    books: Sequence[str],
    seasons: Sequence[str] | None = None,
) -> pl.DataFrame:
    """Pre-match and closing quotes of ``books`` in ``market``, one row per (event, book, kind, capture instant), of
    the competitions' events (of ``seasons`` only, when given).

    Aggregate books come back flagged (``is_aggregate``): only ever a consensus input, never a price to bet at. The
    events and books are chosen in sub-queries so that the store seeks its (event, book, market) index for just
    those events and books, instead of scanning every quote of every book (a third of the CPU of a 6 x 10 run).
    """
    comp_marks, comp_params = _placeholders(engine, "c", competitions)
    book_marks, book_params = _placeholders(engine, "b", books)
    season_marks, season_params = _placeholders(engine, "s", seasons or ())
    market_mark = "?" if engine.dialect.name == "sqlite" else "%(m)s"
    kinds = ", ".join(f"'{k}'" for k in (*PREMATCH_KINDS, CLOSING_KIND))
    in_seasons = f" AND e.season_id IN (SELECT id FROM seasons WHERE name IN ({season_marks}))" if seasons else ""
    sql = (
        QUOTE_SELECT + f"WHERE o.market = {market_mark} AND o.kind IN ({kinds}) "
        f"AND o.bookmaker_id IN (SELECT id FROM bookmakers WHERE key IN ({book_marks})) "
        "AND o.event_id IN (SELECT e.id FROM events e JOIN competitions c ON c.id = e.competition_id "
        f"WHERE c.code IN ({comp_marks}){in_seasons})" + QUOTE_GROUP
    )
    params: dict[str, object] = {"m": market, **book_params, **comp_params, **season_params}
    with engine.connect() as conn:
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            ordered = (market, *book_params.values(), *comp_params.values(), *season_params.values())
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
        pl.col("is_aggregate").cast(pl.Boolean),
        pl.col("market").cast(pl.Utf8),
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
    """Every event of the competitions before ``end`` with as-of-kickoff features, outcome and ``result_known_at``
    (``betpipe.sports.ResultTiming``): the training rows."""
    return training_matrix(engine, sport=sport, competitions=competitions, end=end, settings=settings)


def _renamed(frame: pl.DataFrame, prefix: str, names: Sequence[str], at: str) -> pl.DataFrame:
    return frame.select("event_id", pl.col("known_at").alias(at), *[pl.col(n).alias(f"{prefix}_{n}") for n in names])


def _fresh(frame: pl.DataFrame, prefix: str, names: Sequence[str], at: str, max_age_hours: float) -> pl.DataFrame:
    """Nulls ``prefix_*`` prices captured more than ``max_age_hours`` before the decision (stale: no input)."""
    stale = (pl.col("decided_at") - pl.col(at)).dt.total_seconds() > max_age_hours * 3600.0
    return frame.with_columns(
        [pl.when(stale).then(None).otherwise(pl.col(f"{prefix}_{n}")).alias(f"{prefix}_{n}") for n in names]
    ).drop(at)


def _consensus(quotes: pl.DataFrame, decided: pl.DataFrame, books: Sequence[str], names: Sequence[str]) -> pl.DataFrame:
    """The consensus (aggregate) books' latest complete pre-match market known at each decision, by the same rule.

    ``prematch_prices`` refuses aggregates by design (they are never a price), so the rule is applied here with the
    very predicate it uses (``prematch_known``); where several consensus books qualify, the first of ``books`` wins.
    """
    rank = {b: i for i, b in enumerate(books)}
    usable = quotes.join(decided, on="event_id", how="inner").filter(
        pl.col("bookmaker").is_in(list(books)),
        pl.col("kind").is_in(list(PREMATCH_KINDS)),
        complete_prices(names),
        prematch_known(pl.col("decided_at")),
    )
    return (
        usable.with_columns(pl.col("bookmaker").replace_strict(rank, return_dtype=pl.Int64).alias("_rank"))
        .sort("event_id", "captured_at", pl.col("_rank"), descending=[False, False, True])
        .group_by("event_id", maintain_order=True)
        .last()
        .select("event_id", pl.col("captured_at").alias("known_at"), *names)
    )


def load_prices(
    engine: Engine,
    events: pl.DataFrame,
    *,
    sport: str,
    books: Sequence[str],
    sharp_book: str,
    max_price_age_hours: float,
    consensus_books: Sequence[str] = (),
) -> pl.DataFrame:
    """Per event of ``events``: the decision instant and the prices a bettor could know then.

    Every pre-match price obeys ``features.prematch``'s one rule (``captured_at <= decision < kickoff``).
    ``decided_at`` is the first instant a complete pre-match market of one of ``books`` was known before kickoff
    (null: never priced in time, so no bet). ``book_*`` are the best prices among ``books`` known then
    (``prematch_prices`` then ``betting.shopping.best_prices``, the live run's choice; a book's market more than
    ``max_price_age_hours`` old is stale and not shopped), with ``at_*`` naming each one's book; ``sharp_pre_*`` the
    sharp book's latest pre-match market known then and at most ``max_price_age_hours`` older (null when missing or
    stale); ``cons_*`` likewise for the consensus (aggregate) books, an input to the fair probability only;
    ``close_*`` the sharp book's closing market (for CLV only, never an input to a decision).
    """
    flags = _book_flags(engine, [*books, sharp_book])
    for key in (*books, sharp_book):
        if flags.get(key, False):
            raise AggregateBookError(f"{key!r} is an aggregate (max/average/consensus), not a price anyone can take")
    names = selections_of(sport)
    market = sport_rules(sport).prediction_market
    competitions = sorted(set(events.get_column("competition").to_list()))
    season = events.get_column("season")
    seasons = None if season.null_count() else sorted(set(season.to_list()))  # every event has one: read only those
    quotes = _quotes(engine, market, competitions, sorted({*books, sharp_book, *consensus_books}), seasons)
    kickoffs = events.select("event_id", "kickoff_utc")
    executable = quotes.filter(~pl.col("is_aggregate"))
    present = pl.all_horizontal(pl.col(n).is_not_null() for n in names)
    decided = (
        executable.join(kickoffs, on="event_id", how="inner")
        .filter(
            pl.col("bookmaker").is_in(list(books)),
            pl.col("kind").is_in(list(PREMATCH_KINDS)),
            present,
            prematch_known(),
        )
        .group_by("event_id")
        .agg(pl.col("captured_at").min().alias("decided_at"), pl.col("kickoff_utc").first())
    )

    def known(books: Sequence[str], prefix: str) -> pl.DataFrame:
        found = prematch_prices(
            executable, at="decided_at", books=books, market=market, selections=names, kickoffs=decided
        )
        return _renamed(found, prefix, names, f"_{prefix}_at")

    at_books = prematch_prices(
        executable, at="decided_at", books=books, market=market, selections=names, kickoffs=decided
    ).rename({"bookmaker": "book"})
    at_books = at_books.join(decided.select("event_id", pl.col("decided_at").alias("_now")), on="event_id").filter(
        (pl.col("_now") - pl.col("known_at")).dt.total_seconds() <= max_price_age_hours * 3600.0
    )
    shopped = best_prices(at_books.drop("_now").rename({"known_at": "decided_at"}), names, books).drop("decided_at")
    priced = (
        decided.drop("kickoff_utc")
        .join(shopped, on="event_id", how="left")
        .join(known([sharp_book], "sharp_pre"), on="event_id", how="left")
    )
    priced = _fresh(priced, "sharp_pre", names, "_sharp_pre_at", max_price_age_hours)
    if consensus_books:
        consensus = _renamed(_consensus(quotes, decided, consensus_books, names), "cons", names, "_cons_at")
        priced = _fresh(
            priced.join(consensus, on="event_id", how="left"), "cons", names, "_cons_at", max_price_age_hours
        )
    close = (
        quotes.filter(pl.col("kind") == CLOSING_KIND, pl.col("bookmaker") == sharp_book, present)
        .sort("event_id", "captured_at")
        .group_by("event_id", maintain_order=True)
        .last()
        .select("event_id", *[pl.col(n).alias(f"close_{n}") for n in names])
    )
    out = (
        events.select(
            "event_id", "competition", "season", "kickoff_utc", "result_known_at", "status", "home_score", "away_score"
        )
        .join(priced, on="event_id", how="left")
        .join(close, on="event_id", how="left")
    )
    return out.sort("kickoff_utc", "event_id")


def valid_prices(frame: pl.DataFrame, prefix: str, names: Sequence[str]) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Rows whose ``prefix_*`` prices are all finite decimals > 1 (a price <= 1 or missing never prices a bet)."""
    prices = frame.select([pl.col(f"{prefix}_{n}") for n in names]).to_numpy().astype(np.float64)
    return np.asarray(np.isfinite(prices).all(axis=1) & (prices > 1.0).all(axis=1))
