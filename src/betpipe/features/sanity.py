"""Sanity check that the features carry signal: Elo's home-win probability against a base rate, in log loss.

For each season after a competition's first, the base rate is the home-win share of that competition's earlier
seasons (known before the season starts) and Elo's probability is the pre-game ``f_elo_p_win_home`` (draw-aware,
soccer) or ``f_elo_p_home``. Reads the training matrix only; never fits anything to the seasons it scores.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import Engine

from betpipe.config import Settings
from betpipe.features.retrieval import training_matrix
from betpipe.features.source import sports


def elo_sanity_check(engine: Engine, competition: str, *, settings: Settings) -> dict[str, Any]:
    """Log loss of Elo's home-win probability vs the earlier seasons' base rate, over seasons 2..n."""
    found = sports(engine, competition)
    if not found:
        raise LookupError(f"no events for competition {competition!r}")
    sport = found[0]
    matrix = training_matrix(engine, sport=sport, competitions=[competition], settings=settings)
    played = matrix.filter(pl.col("outcome").is_not_null())
    column = "f_elo_p_win_home" if "f_elo_p_win_home" in played.columns else "f_elo_p_home"
    seasons = (
        played.group_by("season")
        .agg(
            pl.col("kickoff_utc").min().alias("first"),
            (pl.col("outcome") == 0).sum().alias("wins"),
            pl.len().alias("n"),
        )
        .sort("first")
    )
    prior_wins = seasons["wins"].cum_sum() - seasons["wins"]
    prior_n = seasons["n"].cum_sum() - seasons["n"]
    rates = seasons.with_columns((prior_wins / prior_n).alias("base_rate")).filter(prior_n > 0)
    scored = played.join(rates.select("season", "base_rate"), on="season", how="inner")
    if scored.is_empty():
        raise ValueError(f"{competition}: needs at least two seasons of results to compare with a base rate")
    y = (scored["outcome"] == 0).to_numpy().astype(np.float64)
    elo = np.clip(scored[column].to_numpy(), 1e-12, 1 - 1e-12)
    base = np.clip(scored["base_rate"].to_numpy(), 1e-12, 1 - 1e-12)

    def log_loss(p: np.ndarray[Any, np.dtype[np.float64]]) -> float:
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))

    elo_loss, base_loss = log_loss(elo), log_loss(base)
    return {
        "competition": competition,
        "sport": sport,
        "probability": column,
        "events": int(scored.height),
        "seasons": int(rates.height),
        "first_scored_season": str(rates["season"][0]),
        "log_loss_elo": elo_loss,
        "log_loss_base_rate": base_loss,
        "improvement": base_loss - elo_loss,
        "elo_beats_base_rate": elo_loss < base_loss,
    }
