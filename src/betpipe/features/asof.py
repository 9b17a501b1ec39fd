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
import pyarrow as pa
from numba import njit
from numpy.typing import NDArray

from betpipe.features.compute import BASE_COLUMNS, FeatureTables
from betpipe.features.definitions import Elo, has_draws
from betpipe.features.elo import elo_features, pre_game
from betpipe.features.market import SNAPSHOT_COLUMNS, bench_column_names
from betpipe.features.schedule import NOT_HELD, fixture_timeline
from betpipe.features.timeline import MAX_GROUPS, Timeline, keys, to_ms
from betpipe.threads import configured_threads

IntArray = NDArray[np.int64]
SCHEDULE_PREFIXES = ("f_rest_", "f_back_to_back_", "f_short_rest_", "f_games_")
LARGE = 4096
"""Batches above this many queries take the compiled paths; single lookups and small batches stay in numpy/polars."""
_TIME_BITS = 64 - MAX_GROUPS.bit_length()  # a timeline key is (group << _TIME_BITS) | ms


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
        return {
            side: _rows(self.elo, team, team, as_of_ms, None if orders is None else orders[side])
            for side, team in (("home", home), ("away", away))
        }

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
            order = None if orders is None else orders[side]
            if elo_rows is not None and self.team is self.elo:
                rows["team", side] = elo_rows[side]
            else:
                rows["team", side] = _rows(self.team, team, team, as_of_ms, order)
            rows["venue", side] = _rows(self.venue, team, np.maximum(team, 0) * 2 + is_home, as_of_ms, order)
        return rows

    def form_columns(self, rows: dict[tuple[str, str], IntArray]) -> list[pl.Series]:
        """Form columns at ``rows``, in ``form_names``' order."""
        columns: list[pl.Series] = []
        for side in ("home", "away"):
            columns.extend(_gather(self.team_values, rows["team", side], side))
            columns.extend(_gather(self.venue_values, rows["venue", side], side))
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


def _rows(timeline: Timeline, team: IntArray, group: IntArray, as_of_ms: IntArray, order: IntArray | None) -> IntArray:
    """``timeline.last_before(group, as_of_ms, order)`` where ``team`` >= 0, else -1; a large batch in one compiled
    pass (``_last_rows``), which needs no query order."""
    safe = np.maximum(group, 0)
    if as_of_ms.size <= LARGE:
        return np.where(team >= 0, timeline.last_before(safe, as_of_ms, order), -1)
    query = keys(safe, as_of_ms)  # validates the ranges, as last_before does
    return _last_rows(timeline.sorted_keys, timeline.order, query, team, int(safe.max()) + 1)


@njit(cache=True, nogil=True)
def _last_rows(
    sorted_keys: IntArray, order: IntArray, query: IntArray, team: IntArray, groups: int
) -> IntArray:  # pragma: no cover - compiled
    """For each query the timeline row of the last key strictly below it in the same group, -1 if none or ``team``
    < 0: ``np.searchsorted(sorted_keys, query, "left") - 1``, found from where the group's previous query was
    (``_advance``). Queries in time order (a training matrix) move each group's cursor forward a row or two, so the
    pass reads the queries and writes the rows in order, with no sort of the queries."""
    out = np.empty(query.shape[0], dtype=np.int64)
    cursor = np.full(groups, -1, dtype=np.int64)
    for i in range(query.shape[0]):
        q = query[i]
        group = q >> _TIME_BITS
        j = cursor[group]
        j = np.searchsorted(sorted_keys, q) if j < 0 else _advance(sorted_keys, j, q)
        cursor[group] = j
        at = j - 1
        hit = team[i] >= 0 and at >= 0 and (sorted_keys[at] >> _TIME_BITS) == group
        out[i] = order[at] if hit else -1
    return out


@njit(inline="always")
def _advance(sorted_keys: IntArray, j: int, q: int) -> int:  # pragma: no cover - compiled
    """``np.searchsorted(sorted_keys, q, "left")`` given the answer ``j`` for an earlier query: a few steps forward
    when the queries ascend (a merge of both sorted lists), a binary search where they step back or jump ahead."""
    n = sorted_keys.shape[0]
    if j > 0 and sorted_keys[j - 1] >= q:
        return int(np.searchsorted(sorted_keys[:j], q))
    stop = min(j + 8, n)
    while j < stop and sorted_keys[j] < q:
        j += 1
    if j == stop and j < n and sorted_keys[j] < q:
        return j + int(np.searchsorted(sorted_keys[j:], q))
    return j


@njit(cache=True, nogil=True)
def _lookup(table: IntArray, low: int, ids: IntArray) -> IntArray:  # pragma: no cover - compiled
    """``table[id - low]`` for each of ``ids``, -1 outside the table."""
    out = np.empty(ids.shape[0], dtype=np.int64)
    for i in range(ids.shape[0]):
        at = ids[i] - low
        out[i] = table[at] if 0 <= at < table.shape[0] else -1
    return out


def _gather(values: pl.DataFrame, row: IntArray, side: str, order: IntArray | None = None) -> list[pl.Series]:
    """Columns of ``values`` at ``row`` (-1 = null), renamed ``f_form_<column>_<side>``. Columns with no value at all
    (a stat the source never has) share one null column, which is most of the matrix when a source lacks shots and
    corners. ``order`` (a permutation reading the rows in nearly ascending order) only serves the polars gathers."""
    present = [name for name in values.columns if values[name].null_count() < values.height]
    large = row.size > LARGE and values.height > 0
    floats = [name for name in present if large and values.schema[name] == pl.Float64]
    taken = _gather_polars(values, row, [name for name in present if name not in floats], order)
    taken.update(_take_floats([values[name] for name in floats], row))
    if len(taken) < values.width:
        nulls = pl.repeat(None, row.size, dtype=pl.Float64, eager=True)
        taken.update((name, nulls) for name in values.columns if name not in taken)
    return [taken[name].alias(f"f_form_{name}_{side}") for name in values.columns]


def _gather_polars(
    values: pl.DataFrame, row: IntArray, names: list[str], order: IntArray | None = None
) -> dict[str, pl.Series]:
    """``names`` of ``values`` at ``row`` by polars gathers (-1 = null): small batches, non-float columns, and the
    reference the compiled ``_take_floats`` is tested against."""
    if not names:
        return {}
    if row.size > LARGE:  # read in ascending row order (sequential memory), then put rows back in event order
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


def _take_floats(columns: list[pl.Series], row: IntArray) -> dict[str, pl.Series]:
    """Float64 ``columns`` at ``row`` (-1 = null), each in one compiled pass in event order that writes the value
    and its validity, straight into the buffers of the new column (Arrow, no copy): a polars gather with a
    null-aware index, then a mask, wrote every column three times. NaN stays NaN and null stays null (the validity,
    not the float, carries nulls). The passes release the GIL and run on the configured threads."""
    if not columns:
        return {}
    row = row.astype(np.int64, copy=False)

    def take(column: pl.Series) -> tuple[pa.Buffer, NDArray[np.uint8], int]:
        arrow = column.to_arrow()  # the column's own buffers: no copy for one chunk
        validity, data = arrow.buffers()[:2]
        values = np.frombuffer(data, dtype=np.float64, count=arrow.offset + len(arrow))
        bits = np.empty(0, dtype=np.uint8) if validity is None else np.frombuffer(validity, dtype=np.uint8)
        out, valid = pa.allocate_buffer(row.size * 8), np.zeros((row.size + 7) // 8, dtype=np.uint8)
        return out, valid, _take_valid(values, bits, arrow.offset, row, np.frombuffer(out, np.float64), valid)

    workers = max(min(configured_threads(), len(columns), 4), 1)
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(take, columns))
    taken = {}
    for column, (out, valid, nulls) in zip(columns, results, strict=True):
        buffers = [pa.py_buffer(valid) if nulls else None, out]
        series = pl.from_arrow(pa.Array.from_buffers(pa.float64(), row.size, buffers, null_count=nulls))
        assert isinstance(series, pl.Series)
        taken[column.name] = series.alias(column.name)
    return taken


@njit(cache=True, nogil=True)
def _take_valid(
    values: NDArray[np.float64],
    bits: NDArray[np.uint8],
    offset: int,
    row: IntArray,
    out: NDArray[np.float64],
    valid: NDArray[np.uint8],
) -> int:  # pragma: no cover - compiled
    """``out[i] = values[offset + row[i]]``, and bit i of ``valid`` (zeros, Arrow's bit order) set where that is a
    value: row found, and valid per the input's Arrow validity ``bits`` (empty when it has no nulls). Returns the
    number of nulls written."""
    nulls = 0
    for i in range(row.shape[0]):
        r = row[i]
        if r < 0:
            out[i] = np.nan
            nulls += 1
            continue
        at = offset + r
        out[i] = values[at]
        if bits.shape[0] == 0 or (bits[at >> 3] >> (at & 7)) & 1 == 1:
            valid[i >> 3] |= np.uint8(1 << (i & 7))
        else:
            nulls += 1
    return nulls


def _event_ids(frame: pl.DataFrame) -> IntArray:
    """The frame's event ids as int64, -1 for a fixture not in the store (a null id; database ids start at 1): a
    null read through ``to_numpy`` became NaN, and NaN cast to int64 warned on every served fixture batch."""
    return np.asarray(frame["event_id"].fill_null(-1).cast(pl.Int64).to_numpy(), dtype=np.int64)


def _sorted_positions(ids: IntArray, right_ids: IntArray) -> IntArray:
    """The position of each of ``ids`` in the unique ascending ``right_ids``, -1 where absent. Database ids are
    dense, so a large batch looks them up in a table indexed by id (one read each, in any order: kickoff order is
    not id order); a binary search where the ids are sparse."""
    ids = ids.astype(np.int64, copy=False)
    if right_ids.size == 0:
        return np.full(ids.size, -1, dtype=np.int64)
    low, high = int(right_ids[0]), int(right_ids[-1])
    if ids.size > LARGE and high - low < 4 * (ids.size + right_ids.size):
        table = np.full(high - low + 1, -1, dtype=np.int64)
        table[right_ids - low] = np.arange(right_ids.size)
        return _lookup(table, low, ids)
    position = np.searchsorted(right_ids, ids)
    safe = np.minimum(position, right_ids.size - 1)
    return np.where(right_ids[safe] == ids, safe, -1)


def schedule_columns(events: pl.DataFrame) -> list[str]:
    return [c for c in events.columns if c.startswith(SCHEDULE_PREFIXES) or c == "f_rest_diff"]


def _market_columns(tables: FeatureTables, events: pl.DataFrame) -> list[pl.Series]:
    """Each event's newest market snapshot (the market table is stored sorted by (event_id, known_at), so an
    event's newest snapshot is its last row) and its age at kickoff in hours."""
    market = tables.market
    ids = market["event_id"].to_numpy()
    if ids.size and not bool(np.all(ids[1:] >= ids[:-1])):
        market = market.sort("event_id", "known_at")
        ids = market["event_id"].to_numpy()
    last = np.flatnonzero(np.append(ids[1:] != ids[:-1], True)) if ids.size else np.empty(0, dtype=np.int64)
    found = _sorted_positions(_event_ids(events), ids[last])
    row = found if last.size == ids.size else np.where(found >= 0, last[np.maximum(found, 0)], -1)
    names = [c for c in SNAPSHOT_COLUMNS if has_draws(tables.sport) or c != "f_market_p_draw"]
    floats = [n for n in names if events.height > LARGE and market.height and market.schema[n] == pl.Float64]
    taken = _take_floats([market[n] for n in floats], row)
    index = pl.Series("row", row, dtype=pl.Int64)
    index = pl.select(pl.when(index >= 0).then(index)).to_series()
    rest = [n for n in (*names, "known_at") if n not in taken]
    taken.update(market.select(pl.col(rest).gather(index)).to_dict())
    age = (events["kickoff_utc"] - taken["known_at"]).dt.total_seconds() / 3600.0
    return [*(taken[n] for n in names), age.alias("f_market_age_hours")]


def training_frame(index: AsOfIndex, events: pl.DataFrame | None = None) -> pl.DataFrame:
    """Feature rows of ``events`` (default: all of the build) as known at each one's kickoff.

    Built from whole columns without copies where possible: the event table's columns as they are, and every
    computed column straight from the buffer it was written to."""
    tables = index.tables
    events = tables.events if events is None else events
    kickoff_ms = events["kickoff_ms"].to_numpy()
    home, away = events["home_idx"].to_numpy(), events["away_idx"].to_numpy()
    season, neutral = events["season_year"].to_numpy(), events["neutral_site"].to_numpy()
    elo_rows = index.elo_rows(home, away, kickoff_ms)
    elo, _ = index.elo_columns(home, away, kickoff_ms, season, neutral, found=elo_rows)
    columns = [pl.Series(name, values) for name, values in elo.items()]
    columns += index.form_columns(index.form_rows(home, away, kickoff_ms, elo_rows=elo_rows))
    base = [events["known_at"].alias(c) if c == "result_known_at" else events[c] for c in BASE_COLUMNS]
    return pl.DataFrame(
        [
            *base,
            *columns,
            *(events[c] for c in schedule_columns(events)),
            *_market_columns(tables, events),
            *(events[c] for c in bench_column_names(has_draws(tables.sport))),
        ]
    )
