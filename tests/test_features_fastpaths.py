"""The faster feature and matrix paths give exactly what the straightforward ones gave (issue 17, item 9).

Each test recomputes a result the plain way (a per-row time-zone rule, a join before the filter, a hash join, a
gather in sorted row order) and asserts the shipped path is bit-identical on a generated league with timed and
date-only kickoffs, closing and aggregate quotes and unknown teams; a difference would silently move stored
features and every model trained on them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from betpipe.features.asof import AsOfIndex, _gather, training_frame
from betpipe.features.compute import compute_tables, prepare_events
from betpipe.features.definitions import Market, default_feature_set, result_timing
from betpipe.features.market import market_snapshots
from betpipe.features.prematch import complete_prices, prematch_known, prematch_prices
from betpipe.features.timeline import left_join_on_event
from betpipe.ingest.sample_league import generate_fixtures_frame
from fakes.feature_source import as_loaded, source_events, source_quotes

DEFINITIONS = default_feature_set("soccer")


@pytest.fixture(scope="module")
def source() -> tuple[pl.DataFrame, pl.DataFrame]:
    """(events, quotes) as ``betpipe.features.source`` loads them: a generated league, every third kickoff timed,
    some flags missing, plus an aggregate book's quotes that market features must never read."""
    frames = generate_fixtures_frame(6_000, seed=3)
    known = pl.when(pl.col("event_id") % 7 == 0).then(None).otherwise(pl.col("event_id") % 3 == 0)
    events = source_events(frames, known.alias("kickoff_time_known"))
    quotes = source_quotes(frames)
    aggregate = quotes.filter(pl.col("bookmaker") == "sample_soft").with_columns(
        pl.lit("max").alias("bookmaker"), pl.lit(True).alias("is_aggregate"), pl.col("home") + 0.5
    )
    quotes = pl.concat([quotes, aggregate.select(quotes.columns)])
    return events, as_loaded(quotes)


def test_known_at_computed_once_per_kickoff_equals_the_rule_applied_to_every_row(
    source: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    events, _ = source
    frame, _ = prepare_events(events, "soccer")
    timing = result_timing("soccer")
    per_row = (
        events.sort("kickoff_utc", "event_id")
        .select(timing.known_at_expr(pl.col("kickoff_utc"), pl.col("kickoff_time_known")).alias("known_at"))
        .to_series()
    )
    assert frame["known_at"].equals(per_row)
    assert frame["kickoff_time_known"].null_count() == 0
    assert frame["kickoff_time_known"].n_unique() == 2  # both branches of the rule ran


def test_market_features_equal_those_from_the_unfiltered_quotes(source: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    events, quotes = source
    tables = compute_tables(events, quotes, "soccer", DEFINITIONS)
    market = next(d for d in DEFINITIONS if isinstance(d, Market))
    direct = market_snapshots(quotes, tables.events.select("event_id", "kickoff_utc"), market)
    assert tables.market.height > 0
    assert tables.market.equals(direct.snapshots)


def _prematch_joined_first(quotes: pl.DataFrame, kickoffs: pl.DataFrame, **kwargs: object) -> pl.DataFrame:
    """The rule as written before the speed-up: join every quote to its kickoff, then filter."""
    books = kwargs.get("books")
    frame = quotes.join(kickoffs, on="event_id", how="inner")
    conditions = [
        pl.col("market") == "1x2",
        pl.col("kind").is_in(["opening", "live"]),
        complete_prices(("home", "draw", "away")),
        ~pl.col("is_aggregate").fill_null(True),
    ]
    if books is not None:
        conditions.append(pl.col("bookmaker").is_in(list(books)))  # type: ignore[call-overload]
    at = kwargs.get("at")
    at_expr = None if at is None else pl.lit(at).cast(frame.schema["captured_at"])
    return (
        frame.filter(*conditions, prematch_known(at_expr))
        .sort("event_id", "bookmaker", "captured_at", "kind")
        .group_by("event_id", "bookmaker", maintain_order=True)
        .last()
        .select("event_id", "bookmaker", pl.col("captured_at").alias("known_at"), "home", "draw", "away")
    )


@pytest.mark.parametrize("books", [None, ("sample_sharp",), ("max", "sample_soft")])
def test_prematch_prices_filtering_before_the_join_keeps_every_row(
    source: tuple[pl.DataFrame, pl.DataFrame], books: tuple[str, ...] | None
) -> None:
    events, quotes = source
    kickoffs = events.select("event_id", "kickoff_utc").head(events.height // 2)  # some quotes lose their event
    at = datetime.combine(events["kickoff_utc"].median().date(), datetime.min.time(), UTC) + timedelta(hours=12)  # type: ignore[union-attr]
    for when in (None, at):
        fast = prematch_prices(quotes, books=books, kickoffs=kickoffs, at=when)
        assert fast.height > 0
        assert fast.equals(_prematch_joined_first(quotes, kickoffs, books=books, at=when))
    with pytest.raises(ValueError, match="needs kickoff_utc"):
        prematch_prices(quotes)


def test_the_binary_search_left_join_equals_the_hash_join() -> None:
    left = pl.DataFrame({"event_id": [5, 1, 9, 3, 3, 12], "kickoff_utc": list(range(6))})
    right = pl.DataFrame({"event_id": [1, 3, 9, 10], "value": [0.1, None, 0.9, 1.0], "n": [1, 2, 3, 4]})
    expected = left.join(right, on="event_id", how="left", maintain_order="left")
    assert left_join_on_event(left, right).equals(expected)
    empty = right.clear()
    expected_empty = left.join(empty, on="event_id", how="left", maintain_order="left")
    assert left_join_on_event(left, empty).equals(expected_empty)


def test_form_gather_in_query_order_equals_the_sorted_gather() -> None:
    rng = np.random.default_rng(0)
    values = pl.DataFrame(
        {
            "a": rng.normal(size=9_000),
            "b": pl.Series(rng.normal(size=9_000)).set(pl.Series(rng.random(9_000) < 0.3), None),
        }
    )
    row = rng.integers(-1, 9_000, size=6_000)
    plain = pl.DataFrame(_gather(values, row, "home"))
    for order in (rng.permutation(row.size), np.argsort(row, kind="stable")):
        assert pl.DataFrame(_gather(values, row, "home", order)).equals(plain)
    assert plain["f_form_a_home"].null_count() == int((row < 0).sum())


def test_training_matrix_is_unchanged_by_the_faster_reads(source: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    events, quotes = source
    tables = compute_tables(events, quotes, "soccer", DEFINITIONS)
    index = AsOfIndex.build(tables)
    matrix = training_frame(index)
    latest = tables.market.group_by("event_id", maintain_order=True).last()
    joined = tables.events.select("event_id").join(latest, on="event_id", how="left", maintain_order="left")
    assert matrix["f_market_p_home"].equals(joined["f_market_p_home"])
    home, away = tables.events["home_idx"].to_numpy(), tables.events["away_idx"].to_numpy()
    kickoff = tables.events["kickoff_ms"].to_numpy()
    rows = index.form_rows(home, away, kickoff)  # no query orders: the per-column sorted gather
    plain = pl.DataFrame(index.form_columns(rows))
    assert matrix.select(plain.columns).equals(plain)
    assert matrix.height == events.height
