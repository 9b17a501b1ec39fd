"""Team form as per-team state timelines: rolling and exponentially weighted means after each played game.

Two timelines per team: over all its games (``team``) and over only its home or only its away games (``venue``),
each row known once that game's result and every earlier one of the timeline are (``known_at``, the one rule of
``betpipe.sports.ResultTiming``). One numba pass per timeline over rows sorted by (group, kickoff, event_id);
running sums of whole and half numbers are exact, so results do not depend on the order in which other teams' games
were added. Never reads a result before it is known; never uses unplayed games.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from numba import njit
from numpy.typing import NDArray

from betpipe.features.definitions import Form
from betpipe.features.timeline import counting_sort, sides_order

# per-team stat -> (expression from the home side's view, expression from the away side's view)
_STAT_SOURCES: dict[str, tuple[str, str]] = {
    "gf": ("home_score", "away_score"),
    "ga": ("away_score", "home_score"),
    "sf": ("home_shots", "away_shots"),
    "sa": ("away_shots", "home_shots"),
    "stf": ("home_shots_on_target", "away_shots_on_target"),
    "sta": ("away_shots_on_target", "home_shots_on_target"),
    "cf": ("home_corners", "away_corners"),
    "ca": ("away_corners", "home_corners"),
}
RESULT_STATS = tuple(sorted({c for pair in _STAT_SOURCES.values() for c in pair} - {"home_score", "away_score"}))


@njit(cache=True, nogil=True)
def _form_loop(
    group: NDArray[np.int64], values: NDArray[np.float64], windows: NDArray[np.int64], ewm: bool
) -> NDArray[np.float64]:  # pragma: no cover - compiled
    n, n_stats = values.shape
    n_windows = windows.shape[0]
    per_stat = n_windows * (2 if ewm else 1)
    out = np.empty((n_stats * per_stat, n))  # one contiguous row per output column
    sums = np.zeros((n_stats, n_windows))
    counts = np.zeros((n_stats, n_windows))
    num = np.zeros((n_stats, n_windows))
    den = np.zeros((n_stats, n_windows))
    decays = np.empty(n_windows)
    for j in range(n_windows):
        decays[j] = 1.0 - 2.0 / (windows[j] + 1.0)
    start = 0
    for i in range(n):
        if i == 0 or group[i] != group[i - 1]:
            start = i
            sums[:, :] = 0.0
            counts[:, :] = 0.0
            num[:, :] = 0.0
            den[:, :] = 0.0
        for s in range(n_stats):
            x = values[i, s]
            for j in range(n_windows):
                w = windows[j]
                if not np.isnan(x):
                    sums[s, j] += x
                    counts[s, j] += 1.0
                    if ewm:
                        decay = decays[j]
                        num[s, j] = x + decay * num[s, j]
                        den[s, j] = 1.0 + decay * den[s, j]
                if i - w >= start:
                    y = values[i - w, s]
                    if not np.isnan(y):
                        sums[s, j] -= y
                        counts[s, j] -= 1.0
                base = s * per_stat
                out[base + j, i] = sums[s, j] / counts[s, j] if counts[s, j] > 0 else np.nan
                if ewm:
                    out[base + n_windows + j, i] = num[s, j] / den[s, j] if den[s, j] > 0 else np.nan
    return out


def team_games(played: pl.DataFrame, stats: tuple[str, ...], draws: bool) -> pl.DataFrame:
    """Two rows per played game, one per side, with that side's per-game stats (null where the source lacks one)."""
    win, draw = (3.0, 1.0) if draws else (1.0, 0.5)
    sides = []
    for side, other, is_home, pick in (("home", "away", True, 0), ("away", "home", False, 1)):
        margin = pl.col(f"{side}_score") - pl.col(f"{other}_score")
        columns: list[pl.Expr] = []
        for stat in stats:
            if stat == "pts":
                expr = pl.when(margin > 0).then(win).when(margin == 0).then(draw).otherwise(0.0)
            else:
                source = _STAT_SOURCES[stat][pick]
                expr = pl.col(source) if source in played.columns else pl.lit(None)
            columns.append(expr.cast(pl.Float64).alias(stat))
        sides.append(
            played.select(
                pl.col(f"{side}_idx").alias("team_idx"),
                pl.lit(is_home).alias("is_home"),
                "event_id",
                "kickoff_utc",
                "known_at",
                *columns,
            )
        )
    return pl.concat(sides)


def form_states(games: pl.DataFrame, definition: Form) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(team timeline, venue timeline); columns ``<stat>_r<w>`` / ``<stat>_e<w>`` and ``<stat>_v<w>``.

    Rows are put in (team, kickoff, event_id) and (team, venue, kickoff, event_id) order by a numpy sort of integer
    keys and one gather per column, not by sorting the whole frame twice; a stat the source never has (no value in
    any game) skips the loop and comes back null, which is what the loop gives it."""
    windows = np.asarray(definition.windows, dtype=np.int64)
    stats = definition.stats
    team_idx = games["team_idx"].to_numpy().astype(np.int64)
    is_home = games["is_home"].to_numpy().astype(np.int64)
    kickoff = games["kickoff_utc"].dt.epoch("us").fill_null(np.iinfo(np.int64).min).to_numpy()  # nulls first
    team_order = sides_order(team_idx, kickoff, games["event_id"].to_numpy())
    venue_group = team_idx * 2 + is_home
    # A stable sort by venue of rows already in (team, kickoff, event_id) order is the (team, venue, ...) order.
    venue_order = counting_sort(team_order, venue_group)
    if venue_order is None:
        venue_order = team_order[np.argsort(venue_group[team_order], kind="stable")]
    present = [s for s in stats if games[s].null_count() < games.height]
    columns = np.empty((games.height, len(present)))
    for j, name in enumerate(present):
        columns[:, j] = games[name].cast(pl.Float64).to_numpy()
    out = _form_loop(np.take(team_idx, team_order), _rows(columns, team_order), windows, True)
    names = [f"{s}_{kind}{w}" for s in present for kind in ("r", "e") for w in definition.windows]
    team = games.select("team_idx", "event_id", "known_at")[team_order]
    team_state = team.with_columns(_known_after_earlier_fast(team, team_idx[team_order])).hstack(
        _columns(out, names, [f"{s}_{kind}{w}" for s in stats for kind in ("r", "e") for w in definition.windows])
    )
    out = _form_loop(np.take(venue_group, venue_order), _rows(columns, venue_order), windows, False)
    names = [f"{s}_v{w}" for s in present for w in definition.windows]
    venue = games.select("team_idx", "is_home", "event_id", "known_at")[venue_order]
    venue_state = venue.with_columns(_known_after_earlier_fast(venue, venue_group[venue_order])).hstack(
        _columns(out, names, [f"{s}_v{w}" for s in stats for w in definition.windows])
    )
    return team_state, venue_state


def _rows(matrix: NDArray[np.float64], order: NDArray[np.int64]) -> NDArray[np.float64]:
    """The (row, stat) matrix's rows in ``order``: row-major, so each gathered row is one read of adjacent values
    (a column-major frame export would be read column by column, a cache miss per value)."""
    gathered: NDArray[np.float64] = np.take(matrix, order, axis=0)  # a third of fancy indexing's time
    return gathered


def _known_after_earlier(*group: str) -> pl.Expr:
    """A state row (rows sorted by kickoff within ``group``) is known no earlier than any earlier row of its group,
    whose result it contains."""
    return pl.col("known_at").cum_max().over(list(group))


def _known_after_earlier_fast(rows: pl.DataFrame, group: NDArray[np.int64]) -> pl.Expr | pl.Series:
    """``_known_after_earlier`` for rows whose groups are contiguous (``group``: each row's group, in row order) by
    one compiled running maximum of the instants; with a null instant, the polars window itself."""
    known = rows["known_at"]
    if known.null_count() or known.dtype.base_type() is not pl.Datetime:
        return _known_after_earlier("team_idx", *(["is_home"] if "is_home" in rows.columns else []))
    running = _group_cummax(group, known.to_physical().to_numpy())
    return pl.Series("known_at", running).cast(known.dtype)


@njit(cache=True, nogil=True)
def _group_cummax(group: NDArray[np.int64], values: NDArray[np.int64]) -> NDArray[np.int64]:  # pragma: no cover
    out = np.empty_like(values)
    for i in range(values.shape[0]):
        if i > 0 and group[i] == group[i - 1] and out[i - 1] > values[i]:
            out[i] = out[i - 1]
        else:
            out[i] = values[i]
    return out


def _columns(matrix: NDArray[np.float64], names: list[str], every: list[str]) -> list[pl.Series]:
    """The loop's rows as columns, in the order ``every`` names them; a name the loop did not compute is null."""
    computed = {name: i for i, name in enumerate(names)}
    n = matrix.shape[1]
    return [
        pl.Series(name, matrix[computed[name]], nan_to_null=True)
        if name in computed
        else pl.repeat(None, n, dtype=pl.Float64, eager=True).alias(name)
        for name in every
    ]


def warm_up() -> None:
    _form_loop(np.zeros(2, dtype=np.int64), np.ones((2, 1)), np.ones(1, dtype=np.int64), True)
    instants = np.zeros(2, dtype=np.int64)
    instants.flags.writeable = False  # as polars hands a column over without a copy
    _group_cummax(np.zeros(2, dtype=np.int64), instants)
