"""The 1M training matrix's paths (issue 17): Arrow builds read back exactly, and the compiled as-of joins equal the
plain ones.

Builds are memory-mapped Arrow files now (Parquet decoding was most of the matrix's time), so a round trip must give
back every table as computed, column types of all-null columns included; a build written as Parquet before must
still read; and a caller writing into a column it got must never change the build's files. The compiled row
searches, gathers and id look-ups replace numpy/polars code on large batches only, so each is checked against that
code on inputs with unknown teams, nulls, NaN, offsets and out-of-order queries.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from betpipe.features.asof import (
    LARGE,
    AsOfIndex,
    _gather_polars,
    _rows,
    _sorted_positions,
    _take_floats,
    training_frame,
)
from betpipe.features.compute import FeatureTables, compute_tables
from betpipe.features.definitions import Elo, Form, Market, default_feature_set
from betpipe.features.store import MissingBuildError, read_tables, write_tables
from betpipe.features.timeline import keys
from betpipe.ingest.sample_league import generate_fixtures_frame
from fakes.feature_source import as_loaded, source_events, source_quotes

DEFINITIONS = default_feature_set("soccer")
FRAMES = ("events", "elo", "form_team", "form_venue", "market")


@pytest.fixture(scope="module")
def tables() -> FeatureTables:
    """A generated league's tables, large enough (6,000 events) for the compiled paths, without shots or corners
    (all-null columns in every table, as in the 1M bench)."""
    frames = generate_fixtures_frame(6_000, seed=5)
    return compute_tables(source_events(frames), as_loaded(source_quotes(frames)), "soccer", DEFINITIONS)


def _assert_same_tables(read: FeatureTables, written: FeatureTables) -> None:
    for name in FRAMES:
        frame, original = getattr(read, name), getattr(written, name)
        assert frame.schema == original.schema, name
        assert frame.equals(original), name
    assert np.array_equal(read.teams, written.teams)


def test_an_arrow_build_reads_back_every_table_exactly(tables: FeatureTables, tmp_path: Path) -> None:
    assert any(tables.form_team[c].null_count() == tables.form_team.height for c in tables.form_team.columns)
    assert any(
        tables.events[c].null_count() == tables.events.height and tables.events[c].dtype == pl.Int64
        for c in tables.events.columns
    )
    write_tables(tables, tmp_path / "build")
    assert sorted(p.name for p in (tmp_path / "build").iterdir()) == sorted(f"{n}.arrow" for n in (*FRAMES, "teams"))
    _assert_same_tables(read_tables(tmp_path / "build", "soccer", DEFINITIONS), tables)


def test_a_parquet_build_of_an_older_betpipe_still_reads(tables: FeatureTables, tmp_path: Path) -> None:
    directory = tmp_path / "build"  # the layout write_tables wrote before the Arrow files
    directory.mkdir()
    kinds = {"elo": Elo, "form_team": Form, "form_venue": Form, "market": Market}
    for name in FRAMES:
        version = tables.definition(kinds[name]).version if name in kinds else tables.version
        frame = getattr(tables, name).with_columns(pl.lit(version, dtype=pl.Categorical).alias("version"))
        frame.write_parquet(directory / f"{name}.parquet", compression="lz4")
    pl.DataFrame({"team_id": tables.teams}).write_parquet(directory / "teams.parquet")
    _assert_same_tables(read_tables(directory, "soccer", DEFINITIONS), tables)
    (directory / "form_venue.parquet").unlink()
    with pytest.raises(MissingBuildError, match=r"form_venue\.parquet not found"):
        read_tables(directory, "soccer", DEFINITIONS)


def test_a_missing_arrow_file_is_the_missing_build_error(tables: FeatureTables, tmp_path: Path) -> None:
    write_tables(tables, tmp_path / "build")
    (tmp_path / "build" / "market.arrow").unlink()
    with pytest.raises(
        MissingBuildError, match=r"^feature build 7 missing .*market\.arrow not found\): run `betpipe features build`$"
    ):
        read_tables(tmp_path / "build", "soccer", DEFINITIONS, build_id=7)


def test_a_loaded_build_stays_readable_after_a_newer_build_prunes_its_files(
    tables: FeatureTables, tmp_path: Path
) -> None:
    """The tables are views of mapped files: pruning (deleting) them must not pull the data from under a reader."""
    write_tables(tables, tmp_path / "build")
    read = read_tables(tmp_path / "build", "soccer", DEFINITIONS)
    shutil.rmtree(tmp_path / "build")
    _assert_same_tables(read, tables)
    assert training_frame(AsOfIndex.build(read)).equals(training_frame(AsOfIndex.build(tables)))


def test_the_compiled_row_search_equals_last_before_in_any_query_order(tables: FeatureTables) -> None:
    index = AsOfIndex.build(tables)
    rng = np.random.default_rng(0)
    n = LARGE * 3
    team = rng.integers(-1, tables.teams.size, size=n)
    ms = keys(np.zeros(1, dtype=np.int64), tables.events["kickoff_ms"].to_numpy())  # group 0: plain ms
    as_of = rng.choice(ms, size=n) + rng.integers(-1, 2, size=n)  # ties with known_at and a millisecond either side
    for order in (np.arange(n), np.argsort(as_of, kind="stable"), rng.permutation(n)):
        team_o, as_of_o = team[order], as_of[order]
        for timeline, group in ((index.elo, team_o), (index.venue, np.maximum(team_o, 0) * 2 + 1)):
            expected = np.where(team_o >= 0, timeline.last_before(np.maximum(group, 0), as_of_o), -1)
            assert np.array_equal(_rows(timeline, team_o, group, as_of_o, None), expected)
            assert (expected >= 0).mean() > 0.5


def test_the_compiled_float_gather_equals_the_polars_gather() -> None:
    rng = np.random.default_rng(1)
    values = rng.normal(size=12_000)
    values[rng.random(12_000) < 0.1] = np.nan  # NaN stays NaN, null stays null
    column = pl.Series("x", values).set(pl.Series(rng.random(12_000) < 0.2), None)
    frame = pl.DataFrame({"x": column, "y": pl.Series("y", values)})
    row = rng.integers(-1, 11_000, size=LARGE * 2)
    for view in (frame, frame.slice(1_000)):  # a sliced column: its Arrow offset is not 0
        expected = _gather_polars(view, row, ["x", "y"])
        taken = _take_floats([view["x"], view["y"]], row)
        for name in ("x", "y"):
            assert taken[name].equals(expected[name]), name
            assert taken[name].null_count() == expected[name].null_count()
            assert taken[name].is_nan().sum() == expected[name].is_nan().sum()


@pytest.mark.parametrize("spacing", [1, 3, 1_000])  # dense ids (a table by id) and sparse ones (binary search)
def test_event_id_positions_equal_a_binary_search(spacing: int) -> None:
    rng = np.random.default_rng(2)
    right = np.unique(rng.integers(0, 20_000, size=9_000)) * spacing
    ids = rng.integers(-5, 20_005, size=LARGE * 2) * spacing
    position = np.searchsorted(right, ids)
    safe = np.minimum(position, right.size - 1)
    expected = np.where(right[safe] == ids, safe, -1)
    assert np.array_equal(_sorted_positions(ids, right), expected)
    assert np.array_equal(_sorted_positions(ids, right[:0]), np.full(ids.size, -1))


def test_a_large_training_matrix_equals_its_rows_computed_in_small_batches(tables: FeatureTables) -> None:
    """The whole build takes the compiled paths; batches of a few thousand events take numpy and polars."""
    index = AsOfIndex.build(tables)
    whole = training_frame(index)
    assert whole.height > LARGE
    parts = [training_frame(index, tables.events.slice(start, 2_000)) for start in range(0, whole.height, 2_000)]
    assert whole.equals(pl.concat(parts))
    assert whole["f_form_gf_r5_home"].null_count() < whole.height
