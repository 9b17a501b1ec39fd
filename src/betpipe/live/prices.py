"""Prices as the live run sees them at the clock's now: the latest complete pre-match market per (event, book), the
sharp and consensus inputs joined per event, and what is scheduled.

Must never return a price captured after now or at/after kickoff, never quote an aggregate book as a price to bet at
(aggregates come back only as consensus inputs), and never keep an input staler than the strategy's price age.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
import polars as pl
from numpy.typing import NDArray
from sqlalchemy import Engine, select

from betpipe.betting.markets import two_way_fair
from betpipe.betting.strategy import PRICE_TIME_COLUMN
from betpipe.clock import as_utc_instant
from betpipe.db.bulk import as_utc
from betpipe.db.schema import bookmakers, competitions, events, odds_snapshots
from betpipe.modeling.market_implied import main_handicap
from betpipe.sports import market_rules, sport_rules

__all__ = [
    "PRE_MATCH_KINDS",
    "first_per_event",
    "joined_inputs",
    "latest_line_prices",
    "latest_prices",
    "next_matchday_eve",
    "scheduled_events",
    "sharp_grid_inputs",
]

GRID_MARKETS = ("total", "asian_handicap")
"""The sharp book's line markets the market-implied grid is fitted to (O/U 2.5 and the main AH line)."""

PRE_MATCH_KINDS = ("opening", "live")  # football-data / sample pre-match, The Odds API before kickoff


def latest_prices(
    engine: Engine,
    *,
    sport: str,
    books: Sequence[str],
    now: datetime,
    competitions_: Sequence[str] = (),
    aggregates: bool = False,
) -> pl.DataFrame:
    """Per (scheduled event after ``now``, book): the latest complete pre-match market captured at or before ``now``
    and before kickoff. Columns: event_id, competition, kickoff_utc, book, decided_at, one column per outcome.
    Aggregate books only with ``aggregates`` (consensus inputs, never a price to bet at)."""
    rules = sport_rules(sport)
    names = rules.outcomes
    now = as_utc_instant(now)
    query = (
        select(
            events.c.id,
            competitions.c.code,
            events.c.kickoff_utc,
            bookmakers.c.key,
            odds_snapshots.c.captured_at,
            odds_snapshots.c.selection,
            odds_snapshots.c.price,
        )
        .select_from(
            odds_snapshots.join(events, events.c.id == odds_snapshots.c.event_id)
            .join(competitions, competitions.c.id == events.c.competition_id)
            .join(bookmakers, bookmakers.c.id == odds_snapshots.c.bookmaker_id)
        )
        .where(
            events.c.sport == sport,
            events.c.status == "scheduled",
            events.c.kickoff_utc > now,
            odds_snapshots.c.market == rules.prediction_market,
            odds_snapshots.c.kind.in_(PRE_MATCH_KINDS),
            odds_snapshots.c.captured_at <= now,
            odds_snapshots.c.line == 0,
            bookmakers.c.key.in_(list(books)),
            bookmakers.c.is_aggregate.is_(aggregates),
        )
    )
    if competitions_:
        query = query.where(competitions.c.code.in_(list(competitions_)))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    schema = ["event_id", "competition", "kickoff_utc", "book", "decided_at", "selection", "price"]
    if not rows:
        empty: dict[str, pl.DataType] = {"event_id": pl.Int64(), "competition": pl.Utf8(), "book": pl.Utf8()}
        empty |= {"kickoff_utc": pl.Datetime("us", "UTC"), "decided_at": pl.Datetime("us", "UTC")}
        empty |= {n: pl.Float64() for n in names}
        return pl.DataFrame(schema=empty).select("event_id", "competition", "kickoff_utc", "book", "decided_at", *names)
    frame = pl.DataFrame(
        [(int(r[0]), r[1], as_utc(r[2]), r[3], as_utc(r[4]), r[5], float(r[6])) for r in rows],
        schema=schema,
        orient="row",
    ).with_columns(pl.col("kickoff_utc", "decided_at").dt.cast_time_unit("us").dt.convert_time_zone("UTC"))
    frame = frame.filter(pl.col("decided_at") < pl.col("kickoff_utc"), pl.col("selection").is_in(list(names)))
    wide = frame.pivot(
        on="selection", index=["event_id", "competition", "kickoff_utc", "book", "decided_at"], values="price"
    )
    for name in names:
        if name not in wide.columns:
            wide = wide.with_columns(pl.lit(None, dtype=pl.Float64).alias(name))
    complete = wide.filter(pl.all_horizontal(pl.col(n).is_not_null() for n in names))
    return (
        complete.sort("event_id", "book", "decided_at")
        .group_by("event_id", "book", maintain_order=True)
        .last()
        .select("event_id", "competition", "kickoff_utc", "book", "decided_at", *names)
    )


def latest_line_prices(
    engine: Engine,
    *,
    sport: str,
    books: Sequence[str],
    markets: Sequence[str],
    now: datetime,
    competitions_: Sequence[str] = (),
) -> pl.DataFrame:
    """Per (scheduled event after ``now``, book, line market, line): the latest pre-match quote of each side captured
    at or before ``now`` and before kickoff, kept only where both sides are quoted (a one-sided line is no market).
    Long: ``betting.markets.LINE_COLUMNS``. Never an aggregate book."""
    now = as_utc_instant(now)
    columns = ["event_id", "competition", "kickoff_utc", "decided_at", "market", "line", "selection", "price", "book"]
    query = (
        select(
            events.c.id, competitions.c.code, events.c.kickoff_utc, odds_snapshots.c.captured_at,
            odds_snapshots.c.market, odds_snapshots.c.line, odds_snapshots.c.selection, odds_snapshots.c.price,
            bookmakers.c.key,
        )
        .select_from(
            odds_snapshots.join(events, events.c.id == odds_snapshots.c.event_id)
            .join(competitions, competitions.c.id == events.c.competition_id)
            .join(bookmakers, bookmakers.c.id == odds_snapshots.c.bookmaker_id)
        )
        .where(
            events.c.sport == sport, events.c.status == "scheduled", events.c.kickoff_utc > now,
            odds_snapshots.c.market.in_(list(markets)), odds_snapshots.c.kind.in_(PRE_MATCH_KINDS),
            odds_snapshots.c.captured_at <= now, bookmakers.c.key.in_(list(books)),
            bookmakers.c.is_aggregate.is_(False),
        )
    )  # fmt: skip
    if competitions_:
        query = query.where(competitions.c.code.in_(list(competitions_)))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    schema: dict[str, pl.DataType] = {"event_id": pl.Int64(), "competition": pl.Utf8()}
    schema |= {"kickoff_utc": pl.Datetime("us", "UTC"), "decided_at": pl.Datetime("us", "UTC")}
    schema |= {"market": pl.Utf8(), "line": pl.Float64(), "selection": pl.Utf8(), "price": pl.Float64()}
    schema |= {"book": pl.Utf8()}
    if not rows:
        return pl.DataFrame(schema=schema)
    frame = pl.DataFrame(
        [(int(r[0]), r[1], as_utc(r[2]), as_utc(r[3]), r[4], float(r[5]), r[6], float(r[7]), r[8]) for r in rows],
        schema=columns,
        orient="row",
    ).with_columns(pl.col("kickoff_utc", "decided_at").dt.cast_time_unit("us").dt.convert_time_zone("UTC"))
    sides = {m: list(market_rules(m).selections) for m in markets}
    frame = frame.filter(pl.col("decided_at") < pl.col("kickoff_utc"))
    frame = frame.filter(
        pl.any_horizontal(
            [(pl.col("market") == m) & pl.col("selection").is_in(names) for m, names in sides.items()]
            or [pl.lit(False)]
        )
    )
    latest = frame.sort("decided_at").group_by(["event_id", "book", "market", "line", "selection"]).last()
    both = pl.col("selection").n_unique().over(["event_id", "book", "market", "line"]) == 2
    return latest.filter(both).select(columns).sort("event_id", "market", "line", "book", "selection")


def next_matchday_eve(engine: Engine, sport: str, *, lead: timedelta = timedelta(hours=1)) -> datetime | None:
    """``lead`` before the earliest scheduled kickoff in the store: "now" for replaying stored data (the demo)."""
    from sqlalchemy import func

    with engine.connect() as conn:
        first = conn.execute(
            select(func.min(events.c.kickoff_utc)).where(events.c.sport == sport, events.c.status == "scheduled")
        ).scalar()
    return None if first is None else as_utc(first) - lead


def scheduled_events(engine: Engine, sport: str, now: datetime, competitions_: Sequence[str] = ()) -> int:
    """How many events of ``sport`` (of ``competitions_``, when given) are scheduled to kick off after ``now``."""
    from sqlalchemy import func

    query = (
        select(func.count())
        .select_from(events.join(competitions, competitions.c.id == events.c.competition_id))
        .where(events.c.sport == sport, events.c.status == "scheduled", events.c.kickoff_utc > as_utc_instant(now))
    )
    if competitions_:
        query = query.where(competitions.c.code.in_(list(competitions_)))
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def joined_inputs(
    frame: pl.DataFrame, found: pl.DataFrame, prefix: str, names: Sequence[str], max_age: timedelta
) -> pl.DataFrame:
    """Joins ``found`` (one row per event) as ``prefix_*`` inputs, nulled when captured after the decision instant
    or more than ``max_age`` before it (a stale or future price is no market view at all)."""
    at = f"{prefix}_at"
    rows = found.select("event_id", pl.col("decided_at").alias(at), *[pl.col(n).alias(f"{prefix}_{n}") for n in names])
    out = frame.join(rows, on="event_id", how="left")
    if not out.height:
        return out
    stale = (pl.col(PRICE_TIME_COLUMN) - pl.col(at)) > pl.duration(seconds=max_age.total_seconds())
    future = pl.col(at) > pl.col(PRICE_TIME_COLUMN)
    return out.with_columns(
        [pl.when(stale | future).then(None).otherwise(pl.col(f"{prefix}_{n}")).alias(f"{prefix}_{n}") for n in names]
    )


def first_per_event(frame: pl.DataFrame, books: Sequence[str]) -> pl.DataFrame:
    """Per event, the latest consensus market, the earlier of ``books`` on a tie: the backtest's consensus rule."""
    rank = {b: i for i, b in enumerate(books)}
    ranked = frame.with_columns(pl.col("book").replace_strict(rank, return_dtype=pl.Int64).alias("_rank"))
    ordered = ranked.sort("event_id", "decided_at", "_rank", descending=[False, False, True])
    return ordered.group_by("event_id", maintain_order=True).last().drop("_rank")


def sharp_grid_inputs(
    quotes: pl.DataFrame, frame: pl.DataFrame, *, sharp_book: str, method: str, max_age: timedelta
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Per row of ``frame`` (event_id, ``PRICE_TIME_COLUMN``): the sharp book's margin-free O/U 2.5, its main AH
    line (whole, half or quarter: the one whose fair home probability is nearest 1/2) and that line's margin-free home
    probability, from ``quotes`` (``latest_line_prices`` of ``GRID_MARKETS``) captured at or before the row's
    decision instant and no more than ``max_age`` earlier; NaN where none.

    The inputs of ``betting.markets.implied_grid`` as the backtest's ``backtest.lines.load_line_inputs`` gives them
    (the same ``main_handicap`` choice), so the live grid is the backtest's grid."""
    rows = frame.select("event_id", pl.col(PRICE_TIME_COLUMN).alias("_now")).with_row_index("_row")
    n = rows.height
    p_over, ah_line, p_ah = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    if not n or not quotes.height:
        return p_over, ah_line, p_ah
    known = (
        quotes.filter(pl.col("book") == sharp_book)
        .join(rows, on="event_id", how="inner")
        .filter(
            pl.col("decided_at") <= pl.col("_now"),
            pl.col("decided_at") >= pl.col("_now") - pl.duration(seconds=max_age.total_seconds()),
        )
        .sort("decided_at")
        .group_by(["_row", "market", "line", "selection"], maintain_order=True)
        .last()
    )
    ou = known.filter(pl.col("market") == "total", pl.col("line") == 2.5)
    if ou.height:
        wide = ou.pivot(on="selection", index="_row", values="price")
        for side in ("over", "under"):
            if side not in wide.columns:
                wide = wide.with_columns(pl.lit(None, pl.Float64).alias(side))
        fair = two_way_fair(wide.select("over", "under").to_numpy().astype(np.float64), method)[:, 0]
        p_over[wide.get_column("_row").to_numpy()] = fair
    ah = known.filter(pl.col("market") == "asian_handicap").select(
        pl.col("_row").cast(pl.Int64).alias("event_id"), "line", "selection", "price"
    )
    ah_line, p_ah = main_handicap(ah, np.arange(n), method)
    return p_over, ah_line, p_ah
