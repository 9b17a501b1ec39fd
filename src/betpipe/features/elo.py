"""Elo ratings as per-team state timelines: the rating after each game, known when its result is (``known_at``, the
one rule of ``betpipe.sports.ResultTiming``) and never before any result that fed into it.

The update runs as one numba loop over arrays sorted by (kickoff, event_id); the pre-game features of an event are
never taken from the loop but from the as-of join of these timelines (``pre_game``), so a training row and a live
lookup apply the same rule. Never reads a result before it is known; never updates on unplayed games.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from numba import njit
from numpy.typing import NDArray

from betpipe.features.definitions import Elo
from betpipe.features.timeline import group_order, interleave

_MOV_CODES = {"none": 0, "goals": 1, "log": 2}


@njit(cache=True, nogil=True)
def _elo_loop(
    home: NDArray[np.int64],
    away: NDArray[np.int64],
    home_score: NDArray[np.float64],
    away_score: NDArray[np.float64],
    season: NDArray[np.int64],
    neutral: NDArray[np.bool_],
    n_teams: int,
    k: float,
    home_advantage: float,
    mov: int,
    regress: float,
    mean: float,
    initial: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:  # pragma: no cover - compiled
    rating = np.full(n_teams, initial)
    last_season = np.full(n_teams, -1, dtype=np.int64)
    post_home = np.empty(home.shape[0])
    post_away = np.empty(home.shape[0])
    for i in range(home.shape[0]):
        h = home[i]
        a = away[i]
        for t in (h, a):
            if last_season[t] >= 0 and season[i] > last_season[t]:
                rating[t] = mean + (1.0 - regress) * (rating[t] - mean)
            last_season[t] = season[i]
        diff = rating[h] - rating[a] + (0.0 if neutral[i] else home_advantage)
        expected = 1.0 / (1.0 + 10.0 ** (-diff / 400.0))
        margin = abs(home_score[i] - away_score[i])
        if home_score[i] > away_score[i]:
            score = 1.0
            winner_edge = diff
        elif home_score[i] < away_score[i]:
            score = 0.0
            winner_edge = -diff
        else:
            score = 0.5
            winner_edge = 0.0
        multiplier = 1.0
        if mov == 1:
            if margin == 2.0:
                multiplier = 1.5
            elif margin >= 3.0:
                multiplier = (11.0 + margin) / 8.0
        elif mov == 2:
            multiplier = np.log(max(margin, 1.0) + 1.0) * 2.2 / (winner_edge * 0.001 + 2.2)
        delta = k * multiplier * (score - expected)
        rating[h] += delta
        rating[a] -= delta
        post_home[i] = rating[h]
        post_away[i] = rating[a]
    return post_home, post_away


@njit(cache=True, nogil=True)
def _stamp_loop(
    home: NDArray[np.int64], away: NDArray[np.int64], known: NDArray[np.int64], n_teams: int
) -> NDArray[np.int64]:  # pragma: no cover - compiled
    """Per game, the latest instant any result behind either post-game rating became known: the game's own and,
    through both sides, every earlier game. Ratings mix both sides' histories, so a rating after a timed game must
    wait for a date-only result that entered it and becomes known later."""
    latest = np.full(n_teams, np.iinfo(np.int64).min)
    out = np.empty(home.shape[0], dtype=np.int64)
    for i in range(home.shape[0]):
        stamp = max(known[i], latest[home[i]], latest[away[i]])
        latest[home[i]] = stamp
        latest[away[i]] = stamp
        out[i] = stamp
    return out


def warm_up() -> None:
    """Compile (or load from the on-disk cache) the loop, so timings can separate JIT cost from the run."""
    one = np.zeros(1, dtype=np.int64)
    _elo_loop(
        one, one + 1, np.ones(1), np.zeros(1), one, np.zeros(1, dtype=np.bool_), 2, 20.0, 0.0, 1, 0.0, 1.5e3, 1.5e3
    )
    _stamp_loop(one, one + 1, one, 2)


def elo_states(played: pl.DataFrame, n_teams: int, definition: Elo) -> pl.DataFrame:
    """One row per (team, played game): rating after the game, that game's season year and when it was known.

    ``played`` holds games with both scores, sorted by (kickoff_utc, event_id), with dense ``home_idx``/``away_idx``
    and ``known_at`` (when the result is known). A state is stamped with the latest ``known_at`` of the results in it.
    """
    post_home, post_away = _elo_loop(
        played["home_idx"].to_numpy().astype(np.int64),
        played["away_idx"].to_numpy().astype(np.int64),
        played["home_score"].to_numpy().astype(np.float64),
        played["away_score"].to_numpy().astype(np.float64),
        played["season_year"].to_numpy().astype(np.int64),
        played["neutral_site"].to_numpy().astype(np.bool_),
        n_teams,
        definition.k,
        definition.home_advantage,
        _MOV_CODES[definition.mov],
        definition.regress,
        definition.mean,
        definition.initial,
    )
    stamps = _stamp_loop(
        played["home_idx"].to_numpy().astype(np.int64),
        played["away_idx"].to_numpy().astype(np.int64),
        played["known_at"].dt.epoch("us").to_numpy().astype(np.int64),
        n_teams,
    )
    known = pl.from_epoch(pl.Series("known_at", stamps), "us").dt.replace_time_zone("UTC")
    base = played.select("event_id", "season_year").with_columns(known.cast(played.schema["known_at"]))
    states = pl.concat(
        [
            base.with_columns(played["home_idx"].alias("team_idx"), pl.Series("rating", post_home)),
            base.with_columns(played["away_idx"].alias("team_idx"), pl.Series("rating", post_away)),
        ]
    ).select("team_idx", "event_id", "known_at", "season_year", "rating")
    # Each team's stamps rise game by game, so the rows taken game by game and counted by team are usually the
    # sorted order already; taken only when strictly increasing in (team, known_at, event_id), where the sort has
    # one answer, else the sort itself runs.
    stacked = states.select("team_idx", "known_at", "event_id")
    order = None
    if not any(stacked[c].null_count() for c in stacked.columns) and stacked["known_at"].dtype == known.dtype:
        order = group_order(
            stacked["team_idx"].to_numpy(),
            np.concatenate([stamps, stamps]),
            stacked["event_id"].to_numpy(),
            interleave(states.height),
        )
    return states[order] if order is not None else states.sort("team_idx", "known_at", "event_id")


def pre_game(
    state_rating: NDArray[np.float64],
    state_season: NDArray[np.int64],
    has_state: NDArray[np.bool_],
    event_season: NDArray[np.int64],
    definition: Elo,
) -> NDArray[np.float64]:
    """The rating a side carries into an event: its last known rating, regressed if the event opens a new season."""
    regressed = definition.mean + (1.0 - definition.regress) * (state_rating - definition.mean)
    rating = np.where(event_season > state_season, regressed, state_rating)
    return np.where(has_state, rating, definition.initial)


def elo_features(
    home: NDArray[np.float64], away: NDArray[np.float64], neutral: NDArray[np.bool_], definition: Elo, draws: bool
) -> dict[str, NDArray[np.float64]]:
    """Rating columns and expected results; the draw-aware probabilities only for sports with draws."""
    diff = home - away + np.where(neutral, 0.0, definition.home_advantage)
    out = {
        "f_elo_home": home,
        "f_elo_away": away,
        "f_elo_diff": diff,
        "f_elo_p_home": 1.0 / (1.0 + 10.0 ** (-diff / 400.0)),
    }
    if draws:
        width = definition.draw_width
        p_win = 1.0 / (1.0 + 10.0 ** ((width - diff) / 400.0))
        p_loss = 1.0 / (1.0 + 10.0 ** ((width + diff) / 400.0))
        out["f_elo_p_win_home"] = p_win
        out["f_elo_p_draw"] = 1.0 - p_win - p_loss
        out["f_elo_p_win_away"] = p_loss
    return out
