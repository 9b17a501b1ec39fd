"""One row per football-data match with everything the per-market evaluation needs: scores, team ids and Pinnacle's
pre-match and closing 1X2, over/under 2.5 and Asian handicap prices (with their lines).

Parsed by the ingest's own reader (``read_football_data``: the same header normalisation, quarantine and price
bounds as ``betpipe ingest football-data``), straight from the files, so the evaluation needs no store. It reads the
files where they are (never copies them) and never uses a price as anything but a price: scores are the labels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from betpipe.ingest.football_data import read_football_data
from betpipe.sports import outcome_codes

__all__ = ["PRICE_COLUMNS", "load_market_frame"]

BOOK = "pinnacle"
_SELECTIONS = {
    "1x2": ("home", "draw", "away"),
    "total": ("over", "under"),
    "asian_handicap": ("home", "away"),
}
_SHORT = {"1x2": "x", "total": "ou", "asian_handicap": "ah"}
_KIND = {"opening": "pre", "closing": "close"}
PRICE_COLUMNS = tuple(
    f"{_SHORT[m]}_{kind}_{s}" for m, sels in _SELECTIONS.items() for kind in ("pre", "close") for s in sels
)


def _season_of(path: Path) -> str:
    return path.stem


def load_market_frame(root: Path, *, first_season: str = "2015-2016", last_season: str = "9999") -> pl.DataFrame:
    """Matches of ``root/<LEAGUE>/<SEASON>.csv`` with a final score, sorted by kickoff.

    Columns: event_id, competition, season, kickoff_utc, home/away_team_id (one id per competition and name),
    home/away_score, outcome, neutral_site, ``x_pre_home`` … (1X2), ``ou_pre_over`` … (O/U 2.5), ``ah_pre_home`` …
    with ``ah_pre_line``/``ah_close_line`` (the home side's handicap). A missing price is null.
    """
    files = sorted(p for p in root.glob("*/*.csv") if first_season <= _season_of(p) <= last_season)
    if not files:
        raise ValueError(f"no football-data files for seasons {first_season}..{last_season} under {root}")
    parts = []
    for path in files:
        batch = read_football_data(path.read_bytes(), f"{path.parent.name}/{path.name}")
        if batch.events.is_empty():
            continue
        odds = batch.odds.filter(pl.col("bookmaker") == BOOK).with_columns(
            pl.format(
                "{}_{}_{}",
                pl.col("market").replace_strict(_SHORT, default="?"),
                pl.col("kind").replace_strict(_KIND, default="?"),
                pl.col("selection"),
            ).alias("key")
        )
        prices = odds.filter(pl.col("key").is_in(PRICE_COLUMNS)).pivot(
            on="key", index="row_ref", values="price", aggregate_function="last"
        )
        lines = (
            odds.filter(pl.col("market") == "asian_handicap")
            .with_columns(pl.format("ah_{}_line", pl.col("kind").replace_strict(_KIND, default="?")).alias("key"))
            .pivot(on="key", index="row_ref", values="line", aggregate_function="first")
        )
        part = (
            batch.events.select(
                "row_ref",
                pl.col("competition_code").alias("competition"),
                "season",
                "kickoff_utc",
                "home_team",
                "away_team",
                pl.col("neutral_site").fill_null(False),
            )
            .join(batch.results.select("row_ref", "home_score", "away_score"), on="row_ref", how="inner")
            .join(prices, on="row_ref", how="left")
            .join(lines, on="row_ref", how="left")
        )
        parts.append(part)
    frame = pl.concat(parts, how="diagonal_relaxed").drop_nulls(["home_score", "away_score"])
    for name in (*PRICE_COLUMNS, "ah_pre_line", "ah_close_line"):
        if name not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.Float64).alias(name))
    names = pl.concat([frame.select("competition", t=pl.col(c)) for c in ("home_team", "away_team")]).unique()
    ids = names.sort("competition", "t").with_row_index("team_id").with_columns(pl.col("team_id").cast(pl.Int64))
    frame = (
        frame.join(ids.rename({"t": "home_team", "team_id": "home_team_id"}), on=["competition", "home_team"])
        .join(ids.rename({"t": "away_team", "team_id": "away_team_id"}), on=["competition", "away_team"])
        .sort("kickoff_utc", "competition", "home_team")
    )
    outcome = outcome_codes(frame["home_score"].to_numpy(), frame["away_score"].to_numpy())
    return frame.with_columns(
        pl.Series("event_id", np.arange(frame.height, dtype=np.int64)),
        pl.Series("outcome", outcome).cast(pl.Int8),
    ).drop("row_ref")
