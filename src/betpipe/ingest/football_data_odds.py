"""football-data.co.uk price cells to long odds rows: kind, line and capture time per cell, bad cells set apart.

Pure polars over the reader's table (``_ref``, ``_kickoff``, ``_captured_open`` and the raw text cells). It never
keeps a price outside the plausibility bounds below (docs/faults.md) and never guesses a missing handicap line.
"""

from __future__ import annotations

import polars as pl

from betpipe.ingest.football_data_columns import AH_LINE_COLUMNS, odds_columns
from betpipe.ingest.records import ODDS_SCHEMA

MIN_DECIMAL_ODDS = 1.001  # no book quotes shorter
MAX_DECIMAL_ODDS = 1000.0  # the longest 1X2 price in the shared data is 76
MAX_AH_LINE = 10.0  # handicaps in the shared data stay within +-4
_DECIMAL = r"^\d{0,4}\.?\d+$"  # plain decimal odds; never exponents


def _number(name: str) -> pl.Expr:
    return pl.col(name).cast(pl.Float64, strict=False)


def odds_rows(good: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Every present price as one long row; cells that are not a price > 1 or lack their handicap line are set apart."""
    columns = odds_columns(good.columns)
    if not columns:
        return pl.DataFrame(schema=ODDS_SCHEMA), no_problems()
    meta = pl.DataFrame(
        [(c.column, c.bookmaker, c.market, c.selection, c.kind, c.line) for c in columns],
        schema={
            "column": pl.Utf8,
            "bookmaker": pl.Utf8,
            "market": pl.Utf8,
            "selection": pl.Utf8,
            "kind": pl.Utf8,
            "fixed_line": pl.Float64,
        },
        orient="row",
    )
    lines = {
        kind: pl.coalesce(*[_number(c) for c in names if c in good.columns], pl.lit(None, dtype=pl.Float64))
        for kind, names in AH_LINE_COLUMNS.items()
    }
    base = good.select(
        "_ref",
        "_kickoff",
        "_captured_open",
        *[pl.col(c.column) for c in columns],
        pl.when(lines["opening"].abs() <= MAX_AH_LINE).then(lines["opening"]).alias("_ah_opening"),
        pl.when(lines["closing"].abs() <= MAX_AH_LINE).then(lines["closing"]).alias("_ah_closing"),
    )
    long = (
        base.unpivot(
            on=[c.column for c in columns],
            index=["_ref", "_kickoff", "_captured_open", "_ah_opening", "_ah_closing"],
            variable_name="column",
            value_name="raw",
        )
        .filter(pl.col("raw").is_not_null())
        .join(meta, on="column", how="left")
    )
    price = pl.col("raw").cast(pl.Float64, strict=False)
    is_ah = pl.col("market") == "asian_handicap"
    long = long.with_columns(
        price.alias("price"),
        pl.when(~is_ah)
        .then(pl.col("fixed_line"))
        .when(pl.col("kind") == "closing")
        .then(pl.col("_ah_closing"))
        .otherwise(pl.col("_ah_opening"))
        .alias("line"),
        pl.when(pl.col("kind") == "closing")
        .then(pl.col("_kickoff"))
        .otherwise(pl.col("_captured_open"))
        .alias("captured_at"),
    )
    problem = (
        pl.when(pl.col("price").is_null())
        .then(pl.format("non-numeric price '{}'", pl.col("raw")))
        .when(~pl.col("price").is_finite())
        .then(pl.format("non-finite price '{}'", pl.col("raw")))
        .when(~pl.col("raw").str.contains(_DECIMAL))
        .then(pl.format("price '{}' is not written as plain decimal odds", pl.col("raw")))
        .when(pl.col("price") < MIN_DECIMAL_ODDS)
        .then(pl.format("impossible price '{}' (decimal odds must be > 1)", pl.col("raw")))
        .when(pl.col("price") > MAX_DECIMAL_ODDS)
        .then(pl.format("implausible price '{}' (decimal odds at most {})", pl.col("raw"), MAX_DECIMAL_ODDS))
        .when(pl.col("line").is_null())
        .then(
            pl.format("asian handicap price without a valid handicap line (AHh/BbAHh/AHCh, |line| <= {})", MAX_AH_LINE)
        )
    )
    long = long.with_columns(problem.alias("problem"))
    odds = long.filter(pl.col("problem").is_null()).select(
        pl.col("_ref").alias("row_ref"), "bookmaker", "market", "selection", "line", "price", "kind", "captured_at"
    )
    problems = long.filter(pl.col("problem").is_not_null()).select("_ref", "column", "raw", "problem")
    return odds, problems


def no_problems() -> pl.DataFrame:
    return pl.DataFrame(schema={"_ref": pl.Utf8, "column": pl.Utf8, "raw": pl.Utf8, "problem": pl.Utf8})
