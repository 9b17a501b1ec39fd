"""As-of reads of the state timelines: every event at its kickoff (training matrix) or one event at any instant.

Both paths call ``side_features`` with the same timelines, so a training row and a live lookup of the same event at
its kickoff are the same numbers. A state counts only if it became known strictly before the as-of instant; the
tie-breaker among states known at the same instant is the higher event id (see ``timeline``). Never reads past the
as-of instant, and never past kickoff: these are pre-game features.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import polars as pl
from numpy.typing import NDArray

from betpipe.features.compute import BASE_COLUMNS, FeatureTables
from betpipe.features.definitions import Elo, has_draws
from betpipe.features.elo import elo_features, pre_game
from betpipe.features.market import SNAPSHOT_COLUMNS, bench_column_names
from betpipe.features.schedule import NOT_HELD, fixture_timeline
from betpipe.features.timeline import Timeline, query_order, scatter_take, search_sorted, to_ms
from betpipe.threads import configured_threads

IntArray = NDArray[np.int64]
SCHEDULE_PREFIXES = ("f_rest_", "f_back_to_back_", "f_short_rest_", "f_games_")


def definition_of(feature: str) -> str:
    """Which definition produced a feature column."""
    if feature.startswith("f_elo_"):
        return "elo"
    if feature.startswith("f_form_"):
        return "form"
    if feature.startswith("f_market_"):
        return "market"
    return "schedule"


@dataclass
class AsOfIndex:
    tables: FeatureTables
    elo: Timeline
    team: Timeline
    venue: Timeline
    elo_rating: NDArray[np.float64]
    elo_season: IntArray
    elo_known: IntArray
    team_known: IntArray
    venue_known: IntArray
    team_values: pl.DataFrame
    venue_values: pl.DataFrame

    @classmethod
    def build(cls, tables: FeatureTables) -> AsOfIndex:
        elo, team, venue = tables.elo, tables.form_team, tables.form_venue
        elo_ms, team_ms, venue_ms = to_ms(elo["known_at"]), to_ms(team["known_at"]), to_ms(venue["known_at"])
        venue_group = venue["team_idx"].to_numpy().astype(np.int64) * 2 + venue["is_home"].to_numpy().astype(np.int64)
        elo_line = Timeline.build(elo["team_idx"].to_numpy(), elo_ms, elo["event_id"].to_numpy())
        same_keys = (
            elo.height == team.height
            and np.array_equal(elo_ms, team_ms)
            and elo["team_idx"].equals(team["team_idx"])
            and elo["event_id"].equals(team["event_id"])
        )
        return cls(
            tables=tables,
            elo=elo_line,
            # The builds write both timelines in the same (team, known_at, event) order: one search serves both.
            team=elo_line
            if same_keys
            else Timeline.build(team["team_idx"].to_numpy(), team_ms, team["event_id"].to_numpy()),
            venue=Timeline.build(venue_group, venue_ms, venue["event_id"].to_numpy()),
            elo_rating=elo["rating"].to_numpy(),
            elo_season=elo["season_year"].to_numpy().astype(np.int64),
            elo_known=elo_ms,
            team_known=team_ms,
            venue_known=venue_ms,
            team_values=team.drop("team_idx", "event_id", "known_at"),
            venue_values=venue.drop("team_idx", "is_home", "event_id", "known_at"),
        )

    @cached_property
    def fixtures(self) -> tuple[Timeline, IntArray]:
        """Every held fixture per team, for schedule values of single lookups (training rows store theirs)."""
        return fixture_timeline(self.tables.events.filter(~pl.col("status").is_in(NOT_HELD)))

    def elo_columns(
        self,
        home: IntArray,
        away: IntArray,
        as_of_ms: IntArray,
        season: IntArray,
        neutral: NDArray[np.bool_],
        orders: dict[str, IntArray] | None = None,
        found: dict[str, IntArray] | None = None,
    ) -> tuple[dict[str, NDArray[np.float64]], dict[str, IntArray]]:
        """Elo columns for events whose sides are ``home``/``away`` (dense index, -1 = unknown team), and per side
        the instant (ms, -1 = none) of the newest rating used. ``found`` (per side, the Elo rows ``elo_rows`` gave
        for the same queries) saves the search."""
        definition = self.tables.definition(Elo)
        assert isinstance(definition, Elo)
        ratings = {}
        known: dict[str, IntArray] = {}
        rows = self.elo_rows(home, away, as_of_ms, orders) if found is None else found
        for side in ("home", "away"):
            row = rows[side]
            has = row >= 0
            safe = np.maximum(row, 0)
            ratings[side] = pre_game(self.elo_rating[safe], self.elo_season[safe], has, season, definition)
            known[side] = np.where(has, self.elo_known[safe], -1)
        columns = elo_features(ratings["home"], ratings["away"], neutral, definition, has_draws(self.tables.sport))
        return columns, known

    def elo_rows(
        self, home: IntArray, away: IntArray, as_of_ms: IntArray, orders: dict[str, IntArray] | None = None
    ) -> dict[str, IntArray]:
        """Rows of the Elo timeline to read per side (-1 = none)."""
        rows = {}
        for side, team in (("home", home), ("away", away)):
            order = None if orders is None else orders[side]
            rows[side] = np.where(team >= 0, self.elo.last_before(np.maximum(team, 0), as_of_ms, order), -1)
        return rows

    def form_rows(
        self,
        home: IntArray,
        away: IntArray,
        as_of_ms: IntArray,
        orders: dict[str, IntArray] | None = None,
        elo_rows: dict[str, IntArray] | None = None,
    ) -> dict[tuple[str, str], IntArray]:
        """Rows of the team and venue form timelines to read per side ((kind, side) -> row, -1 = none);
        ``elo_rows`` of the same queries stand for the team rows when both timelines share their keys."""
        rows = {}
        for side, team, is_home in (("home", home, 1), ("away", away, 0)):
            safe_team = np.maximum(team, 0)
            order = None if orders is None else orders[side]
            if elo_rows is not None and self.team is self.elo:
                rows["team", side] = elo_rows[side]
            else:
                rows["team", side] = np.where(team >= 0, self.team.last_before(safe_team, as_of_ms, order), -1)
            venue = self.venue.last_before(safe_team * 2 + is_home, as_of_ms, order)
            rows["venue", side] = np.where(team >= 0, venue, -1)
        return rows

    def form_columns(
        self, rows: dict[tuple[str, str], IntArray], orders: dict[str, IntArray] | None = None
    ) -> list[pl.Series]:
        """Form columns at ``rows``; ``orders`` (per side, the query order that found them) reads the timelines in
        nearly ascending row order without sorting the rows again."""
        columns: list[pl.Series] = []
        large = next(iter(rows.values())).size > 4096
        team = _float_columns(self.team_values) if large else None
        venue = _float_columns(self.venue_values) if large else None
        for side in ("home", "away"):
            order = None if orders is None else orders[side]
            columns.extend(_gather(self.team_values, rows["team", side], side, order, team))
            columns.extend(_gather(self.venue_values, rows["venue", side], side, order, venue))
        return columns

    def form_values(self, rows: dict[tuple[str, str], IntArray]) -> dict[str, float | None]:
        """One event's form values (``rows`` of length 1), read row-wise: the single-lookup fast path."""
        out: dict[str, float | None] = {}
        for side in ("home", "away"):
            for kind in ("team", "venue"):
                names = self.form_names[kind, side]
                row = int(rows[kind, side][0])
                if row < 0:
                    out.update(dict.fromkeys(names))
                    continue
                present, matrix = self._row_reader(kind)
                taken: list[float | None] = [None] * len(names)
                for i, value in zip(present, matrix[row].tolist(), strict=True):
                    taken[i] = None if math.isnan(value) else value
                out.update(zip(names, taken, strict=True))
        return out

    def _row_reader(self, kind: str) -> tuple[list[int], NDArray[np.float64]]:
        """The positions of a timeline's columns that hold any value and those columns as one row-major float
        matrix (NaN for null), built on the first single lookup: a row of it is a microsecond, a polars ``row``
        thirty. The build stores nulls, never NaN (checked), so NaN maps back to exactly the nulls."""
        readers = self.__dict__.setdefault("_row_readers", {})
        if kind not in readers:
            values = self.team_values if kind == "team" else self.venue_values
            present = [i for i, name in enumerate(values.columns) if values[name].null_count() < values.height]
            chosen = values.select(values.columns[i] for i in present)
            if chosen.width and chosen.select(pl.any_horizontal(pl.all().is_nan().any())).item():
                raise ValueError(f"NaN in the stored {kind} form values: the build writes nulls")
            matrix = np.ascontiguousarray(chosen.to_numpy(), dtype=np.float64).reshape(values.height, len(present))
            readers[kind] = (present, matrix)
        reader: tuple[list[int], NDArray[np.float64]] = readers[kind]
        return reader

    @cached_property
    def form_names(self) -> dict[tuple[str, str], list[str]]:
        """The form columns a (timeline kind, side) reads, in ``form_values``' order."""
        return {
            (kind, side): [f"f_form_{n}_{side}" for n in values.columns]
            for kind, values in (("team", self.team_values), ("venue", self.venue_values))
            for side in ("home", "away")
        }

    @cached_property
    def schedule_names(self) -> list[str]:
        """The event table's schedule columns (``schedule_columns``), once per index."""
        return schedule_columns(self.tables.events)


def _gather(
    values: pl.DataFrame,
    row: IntArray,
    side: str,
    order: IntArray | None = None,
    arrays: dict[str, tuple[NDArray[np.float64], NDArray[np.bool_] | None]] | None = None,
) -> list[pl.Series]:
    """Columns of ``values`` at ``row`` (-1 = null). Columns with no value at all (a stat the source never has)
    come back as nulls without a gather, which is most of the work when a source lacks shots and corners.

    ``order`` is any permutation of the rows that reads them (nearly) in ascending order; the values are the same
    whichever permutation is used, only the memory access pattern changes."""
    present = [name for name in values.columns if values[name].null_count() < values.height]
    if row.size > 4096 and values.height:
        taken = _gather_numpy(values, row, present, order, arrays)
    else:
        taken = _gather_polars(values, row, present, order)
    return [
        (taken[name] if name in taken else pl.repeat(None, row.size, dtype=pl.Float64, eager=True)).alias(
            f"f_form_{name}_{side}"
        )
        for name in values.columns
    ]


def _gather_polars(
    values: pl.DataFrame, row: IntArray, names: list[str], order: IntArray | None = None
) -> dict[str, pl.Series]:
    """``names`` of ``values`` at ``row`` by polars gathers (-1 = null): single lookups, non-float columns, and the
    reference ``_gather_numpy`` is tested against."""
    if not names:
        return {}
    if row.size > 4096:  # read in ascending row order (sequential memory), then put rows back in event order
        ascending = np.argsort(row, kind="stable") if order is None else order
        back = np.empty_like(ascending)
        back[ascending] = np.arange(ascending.size)
        sorted_rows = pl.Series("row", row[ascending], dtype=pl.Int64)
        sorted_rows = pl.select(pl.when(sorted_rows >= 0).then(sorted_rows)).to_series()
        taken = values.select(pl.col(names).gather(sorted_rows)).select(pl.all().gather(pl.Series(back)))
    else:
        index = pl.Series("row", row, dtype=pl.Int64)
        index = pl.select(pl.when(index >= 0).then(index)).to_series()
        taken = values.select(pl.col(names).gather(index))
    return {name: taken[name] for name in names}


def _float_columns(values: pl.DataFrame) -> dict[str, tuple[NDArray[np.float64], NDArray[np.bool_] | None]]:
    """Each Float64 column with any value as a contiguous numpy array (nulls as 0.0) and, if it has nulls, its
    validity: built once per timeline and shared by the home and away gathers."""
    arrays: dict[str, tuple[NDArray[np.float64], NDArray[np.bool_] | None]] = {}
    for name in values.columns:
        column = values[name]
        if column.dtype != pl.Float64 or column.null_count() == column.len():
            continue
        if column.null_count():
            arrays[name] = (column.fill_null(0.0).to_numpy(), column.is_not_null().to_numpy())
        else:
            arrays[name] = (column.to_numpy(), None)
    return arrays


def _gather_numpy(
    values: pl.DataFrame,
    row: IntArray,
    names: list[str],
    order: IntArray | None = None,
    arrays: dict[str, tuple[NDArray[np.float64], NDArray[np.bool_] | None]] | None = None,
) -> dict[str, pl.Series]:
    """``_gather_polars`` for large batches (the training matrix), the same values at under half of the CPU: each
    Float64 column (``arrays``, from ``_float_columns``) is read in ascending row order and scattered back to event
    order in one compiled pass, and the nulls (rows -1, null inputs) are put back by masks in one polars select,
    instead of two polars gathers per column with a null-aware index. NaN stays NaN and null stays null (the mask,
    not the float, carries nulls)."""
    arrays = _float_columns(values) if arrays is None else arrays
    floats = [name for name in names if name in arrays]
    taken = _gather_polars(values, row, [name for name in names if name not in arrays], order)
    ascending = np.argsort(row, kind="stable") if order is None else order
    ascending = ascending.astype(np.int64, copy=False)
    sorted_rows = np.maximum(row, 0)[ascending]
    columns: list[pl.Series] = [pl.Series("__row_found", row >= 0)]
    masked: list[pl.Expr] = []
    workers = min(configured_threads(), len(floats), 4)
    with ThreadPoolExecutor(max(workers, 1)) as pool:  # the compiled scatter releases the GIL
        # Each array becomes its Series at once (pl.Series copies it), so no column is held twice.
        scattered = pool.map(
            lambda name: pl.Series(name, scatter_take(arrays[name][0], sorted_rows, ascending)), floats
        )
        series = list(scattered)
    for name, column in zip(floats, series, strict=True):
        valid_input = arrays[name][1]
        columns.append(column)
        valid = pl.col("__row_found")
        if valid_input is not None:
            known = np.empty(row.size, dtype=np.bool_)
            known[ascending] = valid_input[sorted_rows]
            columns.append(pl.Series(f"__known_{name}", known))
            valid = valid & pl.col(f"__known_{name}")
        masked.append(pl.when(valid).then(pl.col(name)).alias(name))
    frame = pl.DataFrame(columns).select(masked)
    taken.update({name: frame[name] for name in floats})
    return {name: taken[name] for name in names}


def _left_join_sorted(left: pl.DataFrame, right: pl.DataFrame, right_ids: IntArray) -> pl.DataFrame:
    """``left.join(right, on="event_id", how="left", maintain_order="left")`` for a ``right`` whose event ids
    (``right_ids``) are unique and ascending: a binary search and one gather instead of a hash join."""
    ids = left["event_id"].to_numpy()
    ids = ids.astype(np.int64, copy=False)
    if ids.size > 4096:  # kickoff order is nearly id order: a stable sort of it and a merge beat a binary search
        ascending = np.argsort(ids, kind="stable")
        position = np.empty_like(ids)
        position[ascending] = search_sorted(right_ids, ids[ascending])
    else:
        position = np.searchsorted(right_ids, ids)
    safe = np.minimum(position, max(right_ids.size - 1, 0))
    found = (position < right_ids.size) & (right_ids[safe] == ids) if right_ids.size else np.zeros(ids.size, bool)
    index = pl.Series("row", np.where(found, safe, -1), dtype=pl.Int64)
    index = pl.select(pl.when(index >= 0).then(index)).to_series()
    taken = right.select(pl.all().exclude("event_id").gather(index))
    return pl.concat([left, taken], how="horizontal")


def schedule_columns(events: pl.DataFrame) -> list[str]:
    return [c for c in events.columns if c.startswith(SCHEDULE_PREFIXES) or c == "f_rest_diff"]


def training_frame(index: AsOfIndex, events: pl.DataFrame | None = None) -> pl.DataFrame:
    """Feature rows of ``events`` (default: all of the build) as known at each one's kickoff."""
    tables = index.tables
    events = tables.events if events is None else events
    kickoff_ms = events["kickoff_ms"].to_numpy()
    home, away = events["home_idx"].to_numpy(), events["away_idx"].to_numpy()
    # One sort order per side serves the Elo, team-form and venue-form timelines alike.
    orders = {side: query_order(np.maximum(team, 0), kickoff_ms) for side, team in (("home", home), ("away", away))}
    season, neutral = events["season_year"].to_numpy(), events["neutral_site"].to_numpy()
    elo_rows = index.elo_rows(home, away, kickoff_ms, orders)
    elo, _ = index.elo_columns(home, away, kickoff_ms, season, neutral, orders, elo_rows)
    columns = [pl.Series(name, values) for name, values in elo.items()]
    columns += index.form_columns(index.form_rows(home, away, kickoff_ms, orders, elo_rows), orders)
    # The market table is stored sorted by (event_id, known_at): an event's newest snapshot is its last row.
    market = tables.market
    ids = market["event_id"].to_numpy()
    if ids.size and not bool(np.all(ids[1:] >= ids[:-1])):
        market = market.sort("event_id", "known_at")
        ids = market["event_id"].to_numpy()
    last = np.flatnonzero(np.append(ids[1:] != ids[:-1], True)) if ids.size else np.empty(0, dtype=np.int64)
    latest = market[last]
    market_columns = [c for c in SNAPSHOT_COLUMNS if has_draws(tables.sport) or c != "f_market_p_draw"]
    with_market = _left_join_sorted(events.select("event_id", "kickoff_utc"), latest, ids[last])
    age = ((pl.col("kickoff_utc") - pl.col("known_at")).dt.total_seconds() / 3600.0).alias("f_market_age_hours")
    market_frame = with_market.select(*market_columns, age)
    base = events.select(*[pl.col("known_at").alias(c) if c == "result_known_at" else pl.col(c) for c in BASE_COLUMNS])
    return pl.concat(
        [
            base,
            pl.DataFrame(columns),
            events.select(schedule_columns(events)),
            market_frame,
            events.select(bench_column_names(has_draws(tables.sport))),
        ],
        how="horizontal",
    )
