"""Synthetic training matrices in the feature-store contract's shape, for tests and benchmarks only.

Team strengths drift through seasons; goals are Poisson; the ``f_*`` features carry noisy views of the truth and the
``bench_*`` prices are the truth plus a bookmaker margin. Never used on a real evaluation path.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from betpipe.modeling._base import FloatArray


def _outcome(home: FloatArray, away: FloatArray) -> FloatArray:
    return np.where(home > away, 0, np.where(home == away, 1, 2)).astype(np.float64)


def _probabilities(lam: FloatArray, mu: FloatArray, max_goals: int = 10) -> FloatArray:
    from scipy.stats import poisson

    g = np.arange(max_goals + 1)
    grid = poisson.pmf(g[None, :], lam[:, None])[:, :, None] * poisson.pmf(g[None, :], mu[:, None])[:, None, :]
    lower = np.tril(np.ones((max_goals + 1,) * 2), -1)
    p = np.column_stack(
        [(grid * lower).sum(axis=(1, 2)), np.trace(grid, axis1=1, axis2=2), (grid * lower.T).sum(axis=(1, 2))]
    )
    return np.asarray(p / p.sum(axis=1, keepdims=True), dtype=np.float64)


def synthetic_matrix(
    *,
    seasons: int = 6,
    teams: int = 20,
    matches_per_season: int | None = None,
    two_way: bool = False,
    seed: int = 0,
    first_year: int = 2010,
    competition: str = "SYN",
) -> pl.DataFrame:
    """A frame with the contract's columns: ids, season, kickoff, scores, outcome, ``f_*`` and ``bench_*``."""
    rng = np.random.default_rng(seed)
    per_season = matches_per_season or teams * (teams - 1)
    strength = rng.normal(0.0, 0.35, teams)
    parts = []
    event = 0
    for s in range(seasons):
        strength = 0.8 * strength + rng.normal(0.0, 0.15, teams)
        home = rng.integers(0, teams, per_season)
        away = (home + rng.integers(1, teams, per_season)) % teams
        start = datetime(first_year + s, 8, 1, 15, tzinfo=UTC)
        kickoff = [start + timedelta(hours=int(h)) for h in np.sort(rng.integers(0, 24 * 280, per_season))]
        lam = np.exp(0.25 + 0.2 + strength[home] - strength[away] * 0.9)
        mu = np.exp(0.25 - 0.1 + strength[away] - strength[home] * 0.9)
        hs = rng.poisson(lam).astype(np.float64)
        as_ = rng.poisson(mu).astype(np.float64)
        if two_way:  # no draws in two-way sports: break ties with a coin weighted by strength
            tie = hs == as_
            hs = hs + (tie & (rng.random(per_season) < 1 / (1 + np.exp(-(lam - mu))))).astype(np.float64)
            as_ = as_ + (tie & (hs == as_)).astype(np.float64)
        true = _probabilities(lam, mu)
        if two_way:
            true = np.column_stack([true[:, 0] + true[:, 1] * 0.5, true[:, 2] + true[:, 1] * 0.5])
        noisy = true * np.exp(rng.normal(0.0, 0.08, true.shape))
        noisy /= noisy.sum(axis=1, keepdims=True)
        prices = np.maximum(1.0 / (true * np.exp(rng.normal(0.0, 0.03, true.shape)) * 1.05), 1.01)
        opening = np.maximum(1.0 / (noisy * 1.06), 1.01)
        elo_diff = 400.0 * (strength[home] - strength[away]) + 60.0 + rng.normal(0.0, 40.0, per_season)
        season = str(first_year + s) if two_way else f"{first_year + s}-{first_year + s + 1}"
        frame: dict[str, object] = {
            "event_id": np.arange(event, event + per_season, dtype=np.int64),
            "sport": "american_football" if two_way else "soccer",
            "competition": competition,
            "season": season,
            "kickoff_utc": kickoff,
            "home_team_id": home.astype(np.int64),
            "away_team_id": away.astype(np.int64),
            "neutral_site": np.zeros(per_season, dtype=bool),
            "status": "finished",
            "home_score": hs.astype(np.int64),
            "away_score": as_.astype(np.int64),
            "outcome": _outcome(hs, as_).astype(np.int8),
            "f_elo_diff": elo_diff,
            "f_elo_p_home": 1.0 / (1.0 + 10 ** (-elo_diff / 400.0)),
            "f_form_goals_5_home": lam + rng.normal(0.0, 0.4, per_season),
            "f_form_goals_5_away": mu + rng.normal(0.0, 0.4, per_season),
            "f_rest_days_home": rng.integers(3, 10, per_season).astype(np.float64),
            "f_market_p_home": noisy[:, 0],
            "f_market_p_away": noisy[:, -1],
        }
        labels = ("home", "away") if two_way else ("home", "draw", "away")
        if not two_way:
            frame["f_market_p_draw"] = noisy[:, 1]
        prefix_close, prefix_open = ("bench_close", None) if two_way else ("bench_ps_close", "bench_ps_open")
        for j, label in enumerate(labels):
            frame[f"{prefix_close}_{label}"] = prices[:, j]
            if prefix_open:
                frame[f"{prefix_open}_{label}"] = opening[:, j]
        parts.append(pl.DataFrame(frame))
        event += per_season
    out = pl.concat(parts, how="diagonal").with_columns(
        pl.col("kickoff_utc").cast(pl.Datetime("us", "UTC")), pl.col("outcome").cast(pl.Int8)
    )
    return out.sort("kickoff_utc", "event_id")
