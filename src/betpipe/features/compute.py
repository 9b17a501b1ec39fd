"""Pure computation of every feature table of one sport from source frames; no I/O, no clock.

Output is a ``FeatureTables``: the event table (ids, labels, schedule values, bench prices, dense team indexes) and
the state timelines (Elo, form by team and by venue, market snapshots), each row stamped with when it became known.
The as-of readers in ``betpipe.features.asof`` turn those into feature vectors. Nothing here may let a result or a
price reach a row stamped earlier than the instant it became known.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
from numpy.typing import NDArray

from betpipe.features.definitions import (
    Elo,
    FeatureDefinition,
    Form,
    Market,
    Schedule,
    feature_set_version,
    has_draws,
    result_timing,
)
from betpipe.features.elo import elo_states
from betpipe.features.form import form_states, team_games
from betpipe.features.market import MarketResult, bench_columns, market_snapshots
from betpipe.features.schedule import NOT_HELD, fixture_timeline, schedule_values
from betpipe.features.timeline import left_join_on_event, rows_increasing, to_ms

BASE_COLUMNS = (
    "event_id",
    "sport",
    "competition",
    "season",
    "kickoff_utc",
    "home_team_id",
    "away_team_id",
    "kickoff_time_known",
    "neutral_site",
    "status",
    "home_score",
    "away_score",
    "outcome",
    "result_known_at",
)
"""Every training row carries ``result_known_at`` (``betpipe.sports.ResultTiming``): refits and settlement in a
backtest read it instead of recomputing kickoff + duration, so one rule decides when a result is known."""


@dataclass
class FeatureTables:
    sport: str
    definitions: tuple[FeatureDefinition, ...]
    teams: NDArray[np.int64]  # team ids; a team's dense index is its position
    events: pl.DataFrame
    elo: pl.DataFrame
    form_team: pl.DataFrame
    form_venue: pl.DataFrame
    market: pl.DataFrame
    notes: list[str] = field(default_factory=list)

    @property
    def version(self) -> str:
        return feature_set_version(self.definitions)

    def definition(self, kind: type[FeatureDefinition]) -> FeatureDefinition:
        return next(d for d in self.definitions if isinstance(d, kind))


def season_year(season: pl.Expr, kickoff: pl.Expr) -> pl.Expr:
    """The season's first calendar year ("2019-2020" -> 2019); the kickoff year where a season is missing."""
    return pl.coalesce(season.str.extract(r"^(\d{4})").cast(pl.Int64), kickoff.dt.year().cast(pl.Int64))


def prepare_events(events: pl.DataFrame, sport: str) -> tuple[pl.DataFrame, NDArray[np.int64]]:
    """Sorted events with dense team indexes, season year, outcome, kickoff in ms and when a result is known.

    ``known_at`` follows ``betpipe.sports.ResultTiming``: kickoff + duration for a timed kickoff, the end of the local
    day + duration for a placeholder one (``kickoff_time_known`` false or missing), so a Friday-evening game dated
    without a time cannot reach features read on that Friday."""
    teams = np.unique(np.concatenate([events["home_team_id"].to_numpy(), events["away_team_id"].to_numpy()]))
    teams = teams.astype(np.int64)
    timing = result_timing(sport)
    if "kickoff_time_known" not in events.columns:  # frames built by hand: an unvouched kickoff time is unknown
        events = events.with_columns(pl.lit(None, dtype=pl.Boolean).alias("kickoff_time_known"))
    # Events loaded in id order need only a stable sort by kickoff: ties then keep ascending ids, as sorting by
    # (kickoff_utc, event_id) leaves them, for the cost of a one-key sort.
    if rows_increasing(events, ("event_id",)):
        ordered = events.sort("kickoff_utc", maintain_order=True)
    else:
        ordered = events.sort("kickoff_utc", "event_id")
    frame = ordered.with_columns(
        season_year(pl.col("season"), pl.col("kickoff_utc")).alias("season_year"),
        pl.when(pl.col("home_score") > pl.col("away_score"))
        .then(0)
        .when(pl.col("home_score") == pl.col("away_score"))
        .then(1)
        .when(pl.col("home_score") < pl.col("away_score"))
        .then(2)
        .cast(pl.Int8)
        .alias("outcome"),
        pl.col("kickoff_time_known").fill_null(False),  # the rule reads a missing flag as false too
    )
    # The rule's time-zone arithmetic once per distinct (kickoff, flag) -- a season has a few hundred kickoff
    # instants, not one per game -- then joined back; a null kickoff matches nothing and stays null, as before.
    instants = (
        frame.select("kickoff_utc", "kickoff_time_known")
        .unique()
        .with_columns(timing.known_at_expr(pl.col("kickoff_utc"), pl.col("kickoff_time_known")).alias("known_at"))
    )
    frame = frame.join(instants, on=["kickoff_utc", "kickoff_time_known"], how="left", maintain_order="left")
    return frame.with_columns(
        pl.Series("home_idx", _dense_index(teams, frame["home_team_id"].to_numpy())),
        pl.Series("away_idx", _dense_index(teams, frame["away_team_id"].to_numpy())),
        pl.Series("kickoff_ms", to_ms(frame["kickoff_utc"])),
    ), teams


def _dense_index(teams: NDArray[np.int64], ids: NDArray[Any]) -> NDArray[np.int64]:
    """``np.searchsorted(teams, ids)`` as int64; for integer ids spanning a range not much wider than their count, a
    lookup table indexed by id (every id is one of ``teams``, the sorted unique ids), which is one read per game."""
    if ids.size and teams.size and np.issubdtype(ids.dtype, np.integer):
        low, high = int(teams[0]), int(teams[-1])
        if high - low <= 4 * ids.size:
            table = np.zeros(high - low + 1, dtype=np.int64)
            table[teams - low] = np.arange(teams.size, dtype=np.int64)
            dense: NDArray[np.int64] = table[ids - low]
            return dense
    return np.searchsorted(teams, ids).astype(np.int64)


def _market_table(quotes: pl.DataFrame, kickoffs: pl.DataFrame, definition: Market) -> MarketResult:
    """Market snapshots (``kickoffs``: event_id, kickoff_utc)."""
    # Only the rows market_snapshots can use (it applies the same filter again): its join to kickoffs then skips
    # the closing and aggregate quotes that are there for the bench columns.
    usable = quotes.filter(
        pl.col("market") == definition.market, pl.col("kind").is_in(list(definition.kinds)), ~pl.col("is_aggregate")
    )
    return market_snapshots(usable, kickoffs, definition)


def compute_tables(
    events: pl.DataFrame, quotes: pl.DataFrame, sport: str, definitions: tuple[FeatureDefinition, ...]
) -> FeatureTables:
    """Every table of the store for ``sport`` (events and quotes as loaded by ``betpipe.features.source``)."""
    draws = has_draws(sport)
    frame, teams = prepare_events(events, sport)
    played = frame.filter(
        pl.col("home_score").is_not_null() & pl.col("away_score").is_not_null() & ~pl.col("status").is_in(NOT_HELD)
    )
    elo_def = next(d for d in definitions if isinstance(d, Elo))
    form_def = next(d for d in definitions if isinstance(d, Form))
    schedule_def = next(d for d in definitions if isinstance(d, Schedule))
    market_def = next(d for d in definitions if isinstance(d, Market))

    kickoffs = frame.select("event_id", "kickoff_utc")
    # Market snapshots, bench prices and the result side (Elo, form, schedule) share nothing but the events: the
    # first two run on threads of their own while this one does the rest. All are polars, numpy and numba kernels
    # that release the GIL, so on two cores the build takes about half the sum rather than the sum; each table is
    # the same pure function of its inputs whichever thread computes it.
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="features-quotes") as pool:
        market_side = pool.submit(_market_table, quotes, kickoffs, market_def)
        bench_side = pool.submit(bench_columns, quotes, draws, kickoffs)
        elo = elo_states(played, len(teams), elo_def)
        form_team, form_venue = form_states(team_games(played, form_def.stats, draws), form_def)
        timeline, entry_ms = fixture_timeline(frame.filter(~pl.col("status").is_in(NOT_HELD)))
        values, known_ms = schedule_values(
            timeline,
            entry_ms,
            frame["home_idx"].to_numpy(),
            frame["away_idx"].to_numpy(),
            frame["kickoff_ms"].to_numpy(),
            schedule_def,
        )
        frame = frame.with_columns(
            *[pl.Series(name, column, nan_to_null=True) for name, column in values.items()],
            pl.Series("schedule_known_ms", known_ms),
        )
        market, bench = market_side.result(), bench_side.result()
    notes = []
    if market.incomplete:
        notes.append(f"{market.incomplete} bookmaker markets skipped: not every selection priced")
    if market.invalid:
        notes.append(f"{market.invalid} bookmaker markets skipped: a price is not a decimal > 1")
    frame = left_join_on_event(frame, bench)
    return FeatureTables(
        sport=sport,
        definitions=definitions,
        teams=teams,
        events=frame,
        elo=elo,
        form_team=form_team,
        form_venue=form_venue,
        market=market.snapshots,
        notes=notes,
    )
