"""The backtest's line markets (O/U, Asian handicap): what a strategy that lists them could bet at each decision,
the score grid it prices them from, and the sharp close each bet's CLV is measured against.

The same rule as the result market: a line quote is usable at an event's decision instant when it was captured at
or before it, before kickoff and no more than the strategy's price age earlier (``features.prematch``); the best
price per line and side among the strategy's books is ``betting.markets.best_line_prices``, the live run's choice;
the grid is ``betting.markets.implied_grid`` of the run's fair 1X2, the sharp book's pre-match O/U 2.5 and its main
Asian handicap known then (``modeling.market_implied.main_handicap``: whole, half or quarter line, the one whose fair
home probability is nearest 1/2). Never an aggregate book, and never a closing price as an input (closes feed CLV
only).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import Engine, select

from betpipe.backtest.data import CLOSING_KIND
from betpipe.betting.markets import best_line_prices, implied_grid, two_way_fair
from betpipe.db.bulk import as_utc
from betpipe.db.schema import bookmakers, events, odds_snapshots
from betpipe.features.prematch import PREMATCH_KINDS
from betpipe.modeling.market_implied import main_handicap
from betpipe.modeling.score_grid import ScoreGrid
from betpipe.sports import market_rules

__all__ = ["LineInputs", "load_line_inputs", "with_markets"]

ClosingKey = tuple[int, str, str, float]
_COLUMNS = ["event_id", "book", "market", "line", "selection", "price", "kind", "captured_at"]


@dataclass(frozen=True)
class LineInputs:
    """Line quotes per target row (``lines``, long, with ``_row``: the row of ``targets`` they belong to), the grid
    per target row, and the margin-free sharp close per (event, market, selection, line)."""

    lines: pl.DataFrame
    grid: ScoreGrid
    closing: dict[int, dict[ClosingKey, float]]

    def ordered(self, order: np.ndarray[Any, Any]) -> _Steps:
        """The inputs re-indexed to the decision steps' row order (``targets[order]``), sliceable per step."""
        position = np.empty(order.size, dtype=np.int64)
        position[order] = np.arange(order.size)
        lines = self.lines.with_columns(pl.Series("_pos", position[self.lines.get_column("_row").to_numpy()]))
        lines = lines.sort("_pos", "market", "line", "selection")
        return _Steps(lines, lines.get_column("_pos").to_numpy(), self.grid[order])


@dataclass(frozen=True)
class _Steps:
    lines: pl.DataFrame
    positions: np.ndarray[Any, Any]
    grid: ScoreGrid

    def at(self, first: int, end: int) -> dict[str, Any]:
        """``decide``'s ``lines`` and ``grid`` for the step of rows [first, end)."""
        a, b = (int(x) for x in np.searchsorted(self.positions, [first, end]))
        return {"lines": self.lines.slice(a, b - a).drop("_row", "_pos"), "grid": self.grid[first:end]}


def _quotes(engine: Engine, event_ids: Sequence[int], books: Sequence[str], markets: Sequence[str]) -> pl.DataFrame:
    query = (
        select(
            odds_snapshots.c.event_id, bookmakers.c.key, odds_snapshots.c.market, odds_snapshots.c.line,
            odds_snapshots.c.selection, odds_snapshots.c.price, odds_snapshots.c.kind, odds_snapshots.c.captured_at,
        )
        .join(bookmakers, bookmakers.c.id == odds_snapshots.c.bookmaker_id)
        .join(events, events.c.id == odds_snapshots.c.event_id)
        .where(
            odds_snapshots.c.market.in_(list(markets)), bookmakers.c.key.in_(list(books)),
            bookmakers.c.is_aggregate.is_(False), odds_snapshots.c.kind.in_([*PREMATCH_KINDS, CLOSING_KIND]),
        )
    )  # fmt: skip
    wanted = set(event_ids)
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(query) if int(r[0]) in wanted]
    frame = pl.DataFrame(
        [(int(r[0]), r[1], r[2], float(r[3]), r[4], float(r[5]), r[6], as_utc(r[7])) for r in rows],
        schema={
            "event_id": pl.Int64, "book": pl.Utf8, "market": pl.Utf8, "line": pl.Float64, "selection": pl.Utf8,
            "price": pl.Float64, "kind": pl.Utf8, "captured_at": pl.Datetime("us", "UTC"),
        },
        orient="row",
    )  # fmt: skip
    sides = [(pl.col("market") == m) & pl.col("selection").is_in(list(market_rules(m).selections)) for m in markets]
    return frame.filter(pl.any_horizontal(sides), pl.col("price") > 1.0)


def _two_sided(frame: pl.DataFrame) -> pl.DataFrame:
    """The latest quote per (event, book, market, line, side), where both sides of the line are quoted."""
    latest = frame.sort("captured_at").group_by(["event_id", "book", "market", "line", "selection"]).last()
    return latest.filter(pl.col("selection").n_unique().over(["event_id", "book", "market", "line"]) == 2)


def load_line_inputs(
    engine: Engine,
    targets: pl.DataFrame,
    market_p: np.ndarray[Any, Any],
    *,
    markets: Sequence[str],
    books: Sequence[str],
    sharp_book: str,
    method: str,
    max_price_age_hours: float,
) -> LineInputs:
    """Line quotes known at each target's ``decided_at``, the grid of its fair 1X2 (``market_p``, row for row), the
    sharp pre-match O/U 2.5 and the sharp pre-match main AH line, and the sharp closing lines."""
    ids = targets.get_column("event_id").to_list()
    quotes = _quotes(engine, ids, [*books, sharp_book], sorted({*markets, "total", "asian_handicap"}))
    rows = targets.select(
        "event_id",
        pl.col("decided_at").alias("_now"),
        "kickoff_utc",
        "competition",
        pl.int_range(pl.len()).alias("_row"),
    ).with_columns(pl.col("_now", "kickoff_utc").dt.convert_time_zone("UTC").dt.cast_time_unit("us"))
    age = pl.duration(microseconds=int(max_price_age_hours * 3600e6))
    known = quotes.join(rows, on="event_id", how="inner").filter(
        pl.col("kind").is_in(list(PREMATCH_KINDS)),
        pl.col("captured_at") <= pl.col("_now"),
        pl.col("captured_at") < pl.col("kickoff_utc"),
        pl.col("captured_at") >= pl.col("_now") - age,
    )
    pre = _two_sided(known.drop("kind")).rename({"captured_at": "decided_at"})
    shopped = best_line_prices(
        pre.filter(pl.col("book") != sharp_book, pl.col("market").is_in(list(markets))).select(
            "event_id", "competition", "kickoff_utc", "decided_at", "market", "line", "selection", "price", "book"
        ),
        books,
    )
    lines = shopped.join(rows.select("event_id", "_row"), on="event_id", how="left")
    sharp = pre.filter(pl.col("book") == sharp_book, pl.col("market") == "total", pl.col("line") == 2.5)
    wide = sharp.pivot(on="selection", index="event_id", values="price")
    for side in ("over", "under"):
        if side not in wide.columns:
            wide = wide.with_columns(pl.lit(None, pl.Float64).alias(side))
    ou = rows.select("event_id").join(wide, on="event_id", how="left", maintain_order="left")
    p_over = two_way_fair(ou.select("over", "under").to_numpy().astype(np.float64), method)[:, 0]
    sharp_ah = pre.filter(pl.col("book") == sharp_book, pl.col("market") == "asian_handicap")
    ah_line, p_ah_home = main_handicap(sharp_ah, rows.get_column("event_id").to_numpy(), method)
    grid = implied_grid(market_p, p_over, ah_line=ah_line, p_ah_home=p_ah_home)
    close = _two_sided(quotes.filter(pl.col("kind") == CLOSING_KIND, pl.col("book") == sharp_book))
    closing: dict[int, dict[ClosingKey, float]] = {}
    if close.height:
        close = close.with_columns((1.0 / pl.col("price")).alias("_q"))
        close = close.with_columns((pl.col("_q") / pl.col("_q").sum().over(["event_id", "market", "line"])).alias("_p"))
        for event_id, market, selection, line, p in close.select(
            "event_id", "market", "selection", "line", "_p"
        ).rows():
            closing.setdefault(int(event_id), {})[(int(event_id), str(market), str(selection), float(line))] = float(p)
    return LineInputs(lines, grid, closing)


def with_markets(frame: pl.DataFrame, ledger: Engine, account: str, result_market: str) -> pl.DataFrame:
    """The report's bet rows with each bet's ``market`` and ``line`` from the ledger (the per-market CLV table reads
    them); the Shin CLV, computed against the result market's close, is kept for result-market bets only."""
    query = "SELECT id, market, line FROM bets WHERE account = ?"
    with ledger.connect() as conn:
        rows = conn.exec_driver_sql(query, (account,)).fetchall()
    found = pl.DataFrame(
        [(int(r[0]), str(r[1]), float(r[2])) for r in rows],
        schema={"bet_id": pl.Int64, "market": pl.Utf8, "line": pl.Float64},
        orient="row",
    )
    out = frame.join(found, on="bet_id", how="left", maintain_order="left")
    shin = pl.when(pl.col("market") == result_market).then(pl.col("clv_shin")).otherwise(None)
    return out.with_columns(shin.alias("clv_shin"))
