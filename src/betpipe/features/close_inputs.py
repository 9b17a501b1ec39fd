"""Decision-time inputs of the model of the close: every book's pre-match 1X2, Asian handicap and over/under 2.5
prices as known at one decision instant per event, in one wide row per event.

The decision instant (``decided_at``) of an event is when its sharp pre-match price was first known (the first
complete Pinnacle 1X2 pre-match quote; an event without one: the first complete pre-match 1X2 quote of any
executable book), or a per-event instant the caller supplies. A quote is an input iff ``prematch_known`` at that
instant (``captured_at <= decided_at < kickoff``, the one pre-match rule of ``betpipe.features.prematch``). This
module never reads a closing or in-play quote (the loader does not even select them) and never a quote captured after
the decision instant. Aggregates (market max/average) are kept only as descriptive inputs, under their own names
(``avg``, ``max``), never as a price anyone could take.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl
from sqlalchemy import Engine

from betpipe.features.prematch import PREMATCH_KINDS, prematch_known
from betpipe.ingest.records import UTC_DATETIME

SHARP_BOOKS = ("pinnacle", "sample_sharp")
# Executable books whose 1X2 prices are inputs, by short name (the shared data's books from 2012-13 on).
BOOK_NAMES: dict[str, str] = {
    "pinnacle": "ps",
    "sample_sharp": "ps",
    "bet365": "b365",
    "sample_soft": "b365",
    "betandwin": "bw",
    "interwetten": "iw",
    "williamhill": "wh",
    "vcbet": "vc",
    "ladbrokes": "lb",
}
AGGREGATE_NAMES: dict[str, str] = {
    "market_avg": "avg",
    "betbrain_avg": "avg",
    "market_max": "max",
    "betbrain_max": "max",
}
SOFT_NAMES = ("b365", "bw", "iw", "wh", "vc", "lb")
ONE_X_TWO_NAMES = ("ps", *SOFT_NAMES, "avg", "max")
LINE_NAMES = ("ps", "b365", "avg")  # books with Asian handicap / over-under 2.5 prices in the shared data
OU_LINE = 2.5
# The close model's label (the bench-format Pinnacle close) and its Elo inputs: defined here, below modeling, because
# the rows the model trains on are built in features/close_rows.py.
TARGET_SOURCE = "bench_ps_close"
ELO_COLUMNS = ("f_elo_p_win_home", "f_elo_p_draw", "f_elo_p_win_away")
MARKETS = {"1x2": ("home", "draw", "away"), "asian_handicap": ("home", "away"), "total": ("over", "under")}
PREFIX = {"1x2": "c", "asian_handicap": "c_ah", "total": "c_ou"}

LONG_SCHEMA: dict[str, Any] = {
    "event_id": pl.Int64,
    "bookmaker": pl.Utf8,
    "is_aggregate": pl.Boolean,
    "market": pl.Utf8,
    "selection": pl.Utf8,
    "line": pl.Float64,
    "price": pl.Float64,
    "kind": pl.Utf8,
    "captured_at": UTC_DATETIME,
}


def input_columns() -> list[str]:
    """Every price column ``close_inputs`` returns (NaN where a book did not quote before the decision)."""
    names = [f"c_{b}_{s}" for b in ONE_X_TWO_NAMES for s in MARKETS["1x2"]]
    names += ["c_ah_line", *[f"c_ah_{b}_{s}" for b in LINE_NAMES for s in MARKETS["asian_handicap"]]]
    names += [f"c_ou_{b}_{s}" for b in LINE_NAMES for s in MARKETS["total"]]
    return names


def load_prematch_quotes(engine: Engine, sport: str = "soccer", event_ids: Sequence[int] | None = None) -> pl.DataFrame:
    """Every pre-match 1X2, Asian handicap and over/under 2.5 quote of ``sport`` (of ``event_ids`` only, when given:
    the live run prices a few upcoming events), one row per selection (closing and in-play quotes are not selected:
    they can never be inputs)."""
    mark = "?" if engine.dialect.name == "sqlite" else "%s"
    kinds = ", ".join(f"'{k}'" for k in PREMATCH_KINDS)
    markets = ", ".join(f"'{m}'" for m in MARKETS)
    books = ", ".join(f"'{b}'" for b in sorted({*BOOK_NAMES, *AGGREGATE_NAMES}))
    sql = (
        "SELECT o.event_id, b.key, b.is_aggregate, o.market, o.selection, o.line, o.price, o.kind, o.captured_at "
        "FROM odds_snapshots o JOIN bookmakers b ON b.id = o.bookmaker_id JOIN events e ON e.id = o.event_id "
        f"WHERE e.sport = {mark} AND o.kind IN ({kinds}) AND o.market IN ({markets}) AND b.key IN ({books})"
    )
    if event_ids is not None:
        sql += f" AND o.event_id IN ({', '.join(str(int(e)) for e in event_ids) or 'NULL'})"
    with engine.connect() as conn:
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(sql, (sport,))
            rows = cursor.fetchall()
        finally:
            cursor.close()
    frame = pl.DataFrame(rows, schema=list(LONG_SCHEMA), orient="row", infer_schema_length=None)
    return frame.select(_cast(frame, name, dtype) for name, dtype in LONG_SCHEMA.items())


def _cast(frame: pl.DataFrame, name: str, dtype: Any) -> pl.Expr:
    if dtype != UTC_DATETIME:
        return pl.col(name).cast(dtype)
    column = frame[name]
    if column.dtype == pl.Utf8:
        return pl.col(name).str.to_datetime("%Y-%m-%d %H:%M:%S%.f", time_unit="us").dt.replace_time_zone("UTC")
    if column.dtype == pl.Null:
        return pl.col(name).cast(dtype)
    if isinstance(column.dtype, pl.Datetime) and column.dtype.time_zone is None:
        return pl.col(name).dt.cast_time_unit("us").dt.replace_time_zone("UTC")
    return pl.col(name).dt.convert_time_zone("UTC").dt.cast_time_unit("us")


def _markets(quotes: pl.DataFrame) -> pl.DataFrame:
    """One row per quoted market (event, book, market, line, instant, kind) with its selections' prices; a market
    with an unpriced selection or a price <= 1 is dropped (nobody could bet into it)."""
    prices = [
        pl.col("price").filter(pl.col("selection") == s).max().alias(s) for s in sorted({*sum(MARKETS.values(), ())})
    ]
    keys = ["event_id", "kickoff_utc", "bookmaker", "is_aggregate", "market", "line", "captured_at", "kind"]
    wide = quotes.group_by(keys).agg(prices)
    complete = pl.lit(False)
    for market, names in MARKETS.items():
        ok = pl.all_horizontal([pl.col(n).is_not_null() & pl.col(n).is_finite() & (pl.col(n) > 1.0) for n in names])
        complete = complete | ((pl.col("market") == market) & ok)
    return wide.filter(complete & ((pl.col("market") != "total") | (pl.col("line") == OU_LINE)))


def decision_instants(markets: pl.DataFrame) -> pl.DataFrame:
    """event_id, decided_at: the first complete sharp 1X2 pre-match quote; else the first of any executable book."""
    one = markets.filter((pl.col("market") == "1x2") & ~pl.col("is_aggregate").fill_null(True))
    sharp = (
        one.filter(pl.col("bookmaker").is_in(list(SHARP_BOOKS)))
        .group_by("event_id")
        .agg(pl.col("captured_at").min().alias("sharp_at"))
    )
    anyone = one.group_by("event_id").agg(pl.col("captured_at").min().alias("any_at"))
    return anyone.join(sharp, on="event_id", how="left").select(
        "event_id", pl.coalesce("sharp_at", "any_at").alias("decided_at")
    )


def close_inputs(quotes: pl.DataFrame, kickoffs: pl.DataFrame, *, at: str | None = None) -> pl.DataFrame:
    """One row per event of ``kickoffs`` (event_id, kickoff_utc[, ``at``]): ``decided_at``, ``hours_to_kickoff`` and
    every ``input_columns()`` price as known at ``decided_at`` (each book's latest complete market captured at or
    before it, strictly before kickoff). ``at`` names a per-event decision column of ``kickoffs``; without it the
    decision is the sharp book's first pre-match quote (``decision_instants``). Events with no pre-match price get a
    null ``decided_at`` and NaN prices.
    """
    base = kickoffs.select("event_id", "kickoff_utc", *([at] if at else []))
    usable = quotes.join(base.select("event_id", "kickoff_utc"), on="event_id", how="inner").filter(
        pl.col("kind").is_in(list(PREMATCH_KINDS)), prematch_known()
    )
    markets = _markets(usable)
    if at is None:
        decided = base.join(decision_instants(markets), on="event_id", how="left")
    else:
        decided = base.rename({at: "decided_at"})
    decided = decided.with_columns(pl.col("decided_at").cast(UTC_DATETIME))
    known = markets.join(decided.select("event_id", "decided_at"), on="event_id", how="inner").filter(
        prematch_known(pl.col("decided_at"))
    )
    named = known.with_columns(
        pl.col("bookmaker")
        .replace_strict({**BOOK_NAMES, **AGGREGATE_NAMES}, default=None, return_dtype=pl.Utf8)
        .alias("name")
    ).filter(pl.col("name").is_not_null())
    # Each book's latest market at the decision; a real book before an aggregate of the same name never happens,
    # and two aggregates of one name (market_avg / betbrain_avg) are never both quoted for one event.
    latest = named.sort("event_id", "name", "market", "captured_at", "kind", "line").unique(
        subset=["event_id", "name", "market"], keep="last", maintain_order=True
    )
    out = decided.select(
        "event_id",
        "decided_at",
        ((pl.col("kickoff_utc") - pl.col("decided_at")).dt.total_seconds() / 3600.0).alias("hours_to_kickoff"),
    )
    for market, selections in MARKETS.items():
        names = ONE_X_TWO_NAMES if market == "1x2" else LINE_NAMES
        part = latest.filter(pl.col("market") == market)
        for name in names:
            book = part.filter(pl.col("name") == name).select(
                "event_id", *[pl.col(s).alias(f"{PREFIX[market]}_{name}_{s}") for s in selections]
            )
            out = out.join(book, on="event_id", how="left")
    ah_line = (
        latest.filter(pl.col("market") == "asian_handicap")
        .with_columns(
            pl.col("name")
            .replace_strict({n: i for i, n in enumerate(LINE_NAMES)}, default=len(LINE_NAMES))
            .alias("rank")
        )
        .sort("event_id", "rank")
        .group_by("event_id", maintain_order=True)
        .first()
        .select("event_id", pl.col("line").alias("c_ah_line"))
    )
    out = out.join(ah_line, on="event_id", how="left")
    return out.select(
        "event_id", "decided_at", "hours_to_kickoff", *[pl.col(c).cast(pl.Float64) for c in input_columns()]
    ).with_columns(pl.col(input_columns()).fill_null(float("nan")))


def with_close_inputs(
    frame: pl.DataFrame, quotes: pl.DataFrame, *, at: str | None = None, drop: Sequence[str] = ()
) -> pl.DataFrame:
    """``frame`` (a training matrix: event_id, kickoff_utc, ...) with the decision-time inputs joined on, in order."""
    keys = [c for c in ("event_id", "kickoff_utc", at) if c]
    inputs = close_inputs(quotes, frame.select(keys), at=at)
    return frame.drop([c for c in (*drop, *inputs.columns) if c in frame.columns and c != "event_id"]).join(
        inputs, on="event_id", how="left", maintain_order="left"
    )
