"""The training matrix's fast paths give exactly what the polars paths they replaced gave (issue 17, item 9).

The matrix gathers the form timelines' columns at the as-of rows of a million events; a numpy gather replaced two
polars gathers per column. A difference (a null turned NaN, a NaN turned null, a row off by one) would silently move
every model trained on the matrix, so the reference path is kept and compared bit for bit on a frame that has what
real stores may have: nulls inside a column, NaN values, a column with no value at all, rows with no state (-1),
a non-float column, and more rows than the single-lookup path handles.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import polars as pl
import pytest

from betpipe.features.asof import AsOfIndex, _gather, _gather_polars, _take_floats, training_frame
from betpipe.features.compute import compute_tables
from betpipe.features.definitions import default_feature_set
from betpipe.features.timeline import Timeline, keys, query_order, to_ms
from test_features_speed import source

__all__ = ["source"]  # the fixture (a generated league with the hard cases), shared with test_features_speed


def _values(rows: int, rng: np.random.Generator) -> pl.DataFrame:
    dense = rng.normal(size=rows)
    holes = rng.normal(size=rows)
    with_nan = rng.normal(size=rows)
    with_nan[rng.random(rows) < 0.05] = np.nan
    return pl.DataFrame(
        {
            "dense": dense,
            "holes": pl.Series(holes).scatter(np.flatnonzero(rng.random(rows) < 0.1), None),
            "with_nan": with_nan,
            "negative_zero": np.where(rng.random(rows) < 0.5, -0.0, 0.0),
            "absent": pl.repeat(None, rows, dtype=pl.Float64, eager=True),
            "counts": pl.Series(rng.integers(0, 9, size=rows), dtype=pl.Int64),
        }
    )


@pytest.mark.parametrize("with_order", [True, False])
def test_compiled_float_gather_equals_polars_gather(with_order: bool) -> None:
    rng = np.random.default_rng(5)
    values = _values(20_000, rng)
    queries = 12_000
    team = rng.integers(0, 50, size=queries)
    ms = rng.integers(0, 10_000_000, size=queries)
    row = rng.integers(-1, values.height, size=queries).astype(np.int64)
    row[rng.random(queries) < 0.2] = -1
    order = query_order(team, ms) if with_order else None
    present = [c for c in values.columns if values[c].null_count() < values.height]
    floats = [c for c in present if values.schema[c] == pl.Float64]
    assert "counts" not in floats
    assert "dense" in floats
    expected = _gather_polars(values, row, floats, order)
    got = _take_floats([values[c] for c in floats], row)
    assert list(got) == list(expected)
    for name in floats:
        assert got[name].dtype == expected[name].dtype
        assert got[name].null_count() == expected[name].null_count()
        assert got[name].is_nan().fill_null(False).sum() == expected[name].is_nan().fill_null(False).sum()
        assert got[name].equals(expected[name]), name
    # signed zeros survive (equals treats -0.0 == 0.0)
    signs = np.signbit(got["negative_zero"].fill_null(1.0).to_numpy())
    assert np.array_equal(signs, np.signbit(expected["negative_zero"].fill_null(1.0).to_numpy()))


def test_gather_columns_and_names_for_both_paths() -> None:
    rng = np.random.default_rng(8)
    values = _values(6_000, rng)
    big = rng.integers(-1, values.height, size=5_000).astype(np.int64)
    small = big[:10]
    for row in (big, small):
        columns = _gather(values, row, "home")
        assert [c.name for c in columns] == [f"f_form_{n}_home" for n in values.columns]
        frame = pl.DataFrame(columns)
        assert frame["f_form_absent_home"].null_count() == row.size
        assert frame["f_form_dense_home"].null_count() == int((row < 0).sum())
        found = row >= 0
        assert np.array_equal(frame["f_form_dense_home"].to_numpy()[found], values["dense"].to_numpy()[row[found]])


def test_empty_timeline_gives_nulls() -> None:
    values = pl.DataFrame({"dense": pl.Series([], dtype=pl.Float64)})
    row = np.full(5_000, -1, dtype=np.int64)
    (column,) = _gather(values, row, "away")
    assert column.null_count() == row.size


def test_query_order_of_time_ordered_queries_is_the_key_sort() -> None:
    rng = np.random.default_rng(3)
    for size in (5_000, 200_000):
        team = rng.integers(0, 9_000, size=size)
        ms = np.sort(rng.integers(0, 10**6, size=size))  # many equal instants: ties must keep their order
        expected = np.argsort(keys(team, ms), kind="stable")
        assert np.array_equal(query_order(team, ms), expected)
        shuffled = rng.permutation(ms)  # not in time order: the key sort itself
        assert np.array_equal(query_order(team, shuffled), np.argsort(keys(team, shuffled), kind="stable"))


def test_training_frame_with_a_shared_search_equals_separate_searches(
    source: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    """The team-form timeline shares the Elo timeline's keys, so the matrix searches once for both; an index
    whose team timeline is built apart (the code before) gives the same matrix, and the market join by merge the
    same as a hash join."""
    events, quotes = source
    tables = compute_tables(events, quotes, "soccer", default_feature_set("soccer"))
    index = AsOfIndex.build(tables)
    assert index.team is index.elo
    team = tables.form_team
    apart = replace(
        index, team=Timeline.build(team["team_idx"].to_numpy(), to_ms(team["known_at"]), team["event_id"].to_numpy())
    )
    assert apart.team is not apart.elo
    frame = training_frame(index)
    assert frame.height > 4096  # the batch paths, not the single-lookup ones
    assert frame.equals(training_frame(apart))
    latest = tables.market.sort("event_id", "known_at").unique("event_id", keep="last")
    joined = frame.select("event_id").join(latest, on="event_id", how="left", maintain_order="left")
    for name in ("f_market_p_home", "f_market_overround", "f_market_n_books"):
        assert frame[name].equals(joined[name])
