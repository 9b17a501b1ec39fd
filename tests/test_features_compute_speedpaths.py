"""The 1M-build speed paths give exactly what the sorts and joins they skip gave (issue 17: features under 5 s).

Every shortcut here is taken only after a check that the plain operation has one answer (rows strictly in order),
so each test builds inputs where the shortcut applies and inputs where it must not (shuffled rows, equal keys, null
ids), and compares with the plain polars/numpy operation bit for bit: a difference would silently move stored
features and every model trained on them.
"""

from __future__ import annotations

import re
from datetime import timedelta

import numpy as np
import polars as pl
import pytest

from betpipe.features.compute import _dense_index, compute_tables, prepare_events
from betpipe.features.definitions import Elo, Form, Market, Schedule, default_feature_set, has_draws
from betpipe.features.demargin import fair_probabilities
from betpipe.features.elo import _elo_loop, _stamp_loop, elo_states
from betpipe.features.form import _known_after_earlier, _known_after_earlier_fast, team_games
from betpipe.features.market import (
    _capture_order,
    _event_ids,
    _last_per_event,
    _quoted_once,
    bench_columns,
    market_snapshots,
)
from betpipe.features.schedule import NOT_HELD, fixture_timeline, schedule_values
from betpipe.features.timeline import (
    Timeline,
    counting_sort,
    group_order,
    interleave,
    left_join_on_event,
    query_order,
    rows_increasing,
    sides_order,
)
from betpipe.ingest.sample_league import generate_fixtures_frame
from betpipe.odds import remove_margin
from fakes.feature_source import as_loaded, source_events, source_quotes

DEFINITIONS = default_feature_set("soccer")
ELO = next(d for d in DEFINITIONS if isinstance(d, Elo))
FORM = next(d for d in DEFINITIONS if isinstance(d, Form))
MARKET = next(d for d in DEFINITIONS if isinstance(d, Market))
SCHEDULE = next(d for d in DEFINITIONS if isinstance(d, Schedule))


@pytest.fixture(scope="module")
def source() -> tuple[pl.DataFrame, pl.DataFrame]:
    """(events, quotes) as loaded, in id order: a generated league with date-only kickoffs (results known at the end
    of the day, so a team's rating stamps tie across games), a re-quoting book and an opening and a live quote at
    one instant."""
    frames = generate_fixtures_frame(4_000, seed=5)
    events = source_events(frames, (pl.col("event_id") % 4 != 0).alias("kickoff_time_known"))
    quotes = source_quotes(frames)
    opening = quotes.filter(pl.col("kind") == "opening")
    requoted = opening.filter(pl.col("event_id") % 5 == 0).with_columns(
        pl.col("captured_at") + timedelta(hours=2), pl.col("home") + 0.05
    )
    live = opening.filter(pl.col("event_id") % 7 == 0).with_columns(pl.lit("live").alias("kind"), pl.col("draw") + 0.1)
    quotes = pl.concat([quotes, requoted, live]).sort("event_id", "bookmaker", "captured_at", "kind")
    return events.sort("event_id"), as_loaded(quotes)


def _played(events: pl.DataFrame) -> pl.DataFrame:
    frame, _ = prepare_events(events, "soccer")
    played: pl.DataFrame = frame.filter(
        pl.col("home_score").is_not_null() & pl.col("away_score").is_not_null() & ~pl.col("status").is_in(NOT_HELD)
    )
    return played


def test_sides_order_is_the_lexsort_in_game_order_shuffled_and_with_equal_keys() -> None:
    rng = np.random.default_rng(0)
    n = 5_000
    time = np.sort(rng.integers(0, 400, n))  # many games share an instant
    tie = np.arange(n)
    home, away = rng.integers(0, 60, n), rng.integers(0, 60, n)
    group, times, ties = np.concatenate([home, away]), np.concatenate([time, time]), np.concatenate([tie, tie])
    assert group_order(group, times, ties, interleave(2 * n)) is None  # a team on both sides of one game: equal keys
    expected = np.lexsort((ties, times, group))
    assert np.array_equal(sides_order(group, times, ties), expected)
    away = np.where(away == home, (home + 1) % 60, away)
    group = np.concatenate([home, away])
    fast = group_order(group, times, ties, interleave(2 * n))
    assert fast is not None  # the counting path is taken for games in order ...
    assert np.array_equal(fast, np.lexsort((ties, times, group)))
    shuffled = rng.permutation(n)
    group = np.concatenate([home[shuffled], away[shuffled]])
    times, ties = np.concatenate([time[shuffled]] * 2), np.concatenate([tie[shuffled]] * 2)
    assert group_order(group, times, ties, interleave(2 * n)) is None  # ... and refused out of order
    assert np.array_equal(sides_order(group, times, ties), np.lexsort((ties, times, group)))


def test_counting_sort_is_the_stable_argsort() -> None:
    rng = np.random.default_rng(1)
    group = rng.integers(0, 300, 10_000)
    sequence = rng.permutation(10_000)
    counted = counting_sort(sequence, group)
    assert counted is not None
    assert np.array_equal(counted, sequence[np.argsort(group[sequence], kind="stable")])
    assert counting_sort(sequence, group - 1) is None  # a negative group is not counted


def test_rows_increasing_only_for_strictly_ordered_rows_without_nulls() -> None:
    frame = pl.DataFrame({"a": [1, 1, 2], "b": [1, 2, 0]})
    assert rows_increasing(frame, ("a", "b"))
    assert not rows_increasing(frame, ("a",))  # equal keys: a sort may order them either way
    assert not rows_increasing(frame, ("b", "a"))
    assert not rows_increasing(frame.with_columns(pl.Series("b", [1, None, 0])), ("a", "b"))
    assert not rows_increasing(frame.with_columns(pl.col("b").cast(pl.Float64)), ("a", "b"))


def _elo_states_sorted(played: pl.DataFrame, n_teams: int) -> pl.DataFrame:
    """``elo_states`` as it was: both sides' rows concatenated and the frame sorted."""
    home, away = (played[c].to_numpy().astype(np.int64) for c in ("home_idx", "away_idx"))
    post_home, post_away = _elo_loop(
        home,
        away,
        played["home_score"].to_numpy().astype(np.float64),
        played["away_score"].to_numpy().astype(np.float64),
        played["season_year"].to_numpy().astype(np.int64),
        played["neutral_site"].to_numpy().astype(np.bool_),
        n_teams,
        ELO.k,
        ELO.home_advantage,
        1,
        ELO.regress,
        ELO.mean,
        ELO.initial,
    )
    stamps = _stamp_loop(home, away, played["known_at"].dt.epoch("us").to_numpy().astype(np.int64), n_teams)
    known = pl.from_epoch(pl.Series("known_at", stamps), "us").dt.replace_time_zone("UTC")
    base = played.select("event_id", "season_year").with_columns(known.cast(played.schema["known_at"]))
    return (
        pl.concat(
            [
                base.with_columns(played["home_idx"].alias("team_idx"), pl.Series("rating", post_home)),
                base.with_columns(played["away_idx"].alias("team_idx"), pl.Series("rating", post_away)),
            ]
        )
        .select("team_idx", "event_id", "known_at", "season_year", "rating")
        .sort("team_idx", "known_at", "event_id")
    )


def test_elo_states_equal_the_frame_sort(source: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    events, _ = source
    played = _played(events)
    n_teams = int(played.select(pl.max_horizontal(pl.col("home_idx").max(), pl.col("away_idx").max())).item()) + 1
    for games in (played, played.filter(pl.col("kickoff_time_known"))):  # date-only results, then none
        assert elo_states(games, n_teams, ELO).equals(_elo_states_sorted(games, n_teams))
    assert elo_states(played.head(0), n_teams, ELO).equals(_elo_states_sorted(played.head(0), n_teams))


def test_form_known_at_running_max_equals_the_window(source: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    events, _ = source
    games = team_games(_played(events), FORM.stats, True).sort("team_idx", "is_home", "kickoff_utc", "event_id")
    late = (
        pl.Series(np.random.default_rng(3).integers(0, 30 * 24, games.height)).cast(pl.Duration("us")) * 3_600_000_000
    )
    games = games.with_columns(pl.col("known_at") + late)  # results known late enough to pass a later game's
    group = games["team_idx"].to_numpy() * 2 + games["is_home"].to_numpy().astype(np.int64)
    fast = games.select(_known_after_earlier_fast(games, group))
    assert fast.equals(games.select(_known_after_earlier("team_idx", "is_home")))
    assert not fast["known_at"].equals(games["known_at"])  # the running max moved some instants


def test_capture_order_and_last_per_event_equal_the_frame_operations(source: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    _, quotes = source
    books = quotes.filter(pl.col("kind") == "opening").select("event_id", "bookmaker", "captured_at")
    order = _capture_order(books)
    assert order is not None
    assert books[order].equals(books.sort("event_id", "captured_at", "bookmaker"))
    assert _capture_order(books.reverse()) is None  # events out of order: the frame sort runs
    assert _capture_order(pl.concat([books, books.head(1)]).sort("event_id")) is None  # a repeated row
    by_capture = books.sort("event_id", "captured_at")
    for frame in (books, books.reverse(), books.head(0)):  # ids ascending, descending, none
        assert _event_ids(frame).equals(frame.select(pl.col("event_id").unique().sort()))
    assert _last_per_event(by_capture).equals(by_capture.group_by("event_id", maintain_order=True).last())


def test_quoted_once_through_the_capture_order_equals_it_after_the_frame_sort(
    source: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    _, quotes = source
    books = quotes.filter(pl.col("kind") == "opening", pl.col("event_id") % 5 != 0).select(
        "event_id", "bookmaker", "captured_at", *[pl.col(n).alias(f"p_{n}") for n in ("home", "draw", "away")]
    )
    books = books.with_columns((1.0 / pl.col("p_home")).alias("overround"))
    fast = _quoted_once(books)
    assert _capture_order(books.reverse()) is None
    assert fast.equals(_quoted_once(books.reverse()))  # the frame sort's path
    assert fast.height == books.select("event_id", "captured_at").unique().height


def test_left_join_on_event_equals_the_hash_join() -> None:
    right = pl.DataFrame({"event_id": [2, 3, 5, 8], "x": [0.5, None, 1.5, 2.5], "y": ["a", "b", "c", "d"]})
    left = pl.DataFrame({"event_id": [5, 1, 8, 5, 9, 2], "z": [1, 2, 3, 4, 5, 6]})
    expected = left.join(right, on="event_id", how="left", maintain_order="left")
    assert left_join_on_event(left, right).equals(expected)
    assert left_join_on_event(left, right.reverse()).equals(expected)  # unordered: the join itself
    with_null = left.with_columns(pl.Series("event_id", [5, None, 8, 5, 9, 2]))
    assert left_join_on_event(with_null, right).equals(
        with_null.join(right, on="event_id", how="left", maintain_order="left")
    )


def test_schedule_shared_search_equals_last_before_and_count_between(
    source: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    events, _ = source
    frame, _ = prepare_events(events, "soccer")
    timeline, entry_ms = fixture_timeline(frame.filter(~pl.col("status").is_in(NOT_HELD)))
    home, kickoff = frame["home_idx"].to_numpy(), frame["kickoff_ms"].to_numpy()
    end = timeline.search(home, kickoff)
    assert np.array_equal(timeline.before(home, end), timeline.last_before(home, kickoff))
    start = timeline.search(home, np.maximum(kickoff - 7 * 86_400_000, 0))
    assert np.array_equal(end - start, timeline.count_between(home, kickoff - 7 * 86_400_000, kickoff))
    team = np.concatenate([frame["home_idx"].to_numpy(), frame["away_idx"].to_numpy()])
    ms, ids = np.concatenate([kickoff] * 2), np.concatenate([frame["event_id"].to_numpy()] * 2)
    built, plain = Timeline.build(team, ms, ids, sides=True), Timeline.build(team, ms, ids)
    assert np.array_equal(built.order, plain.order)
    assert np.array_equal(built.sorted_keys, plain.sorted_keys)
    spans = np.array([7, 14]) * 86_400_000
    merged = timeline.previous_and_counts(home, kickoff, spans, query_order(home, kickoff))
    assert merged is not None
    assert np.array_equal(merged[0], timeline.last_before(home, kickoff))
    assert np.array_equal(merged[1][0], end - start)
    fourteen = timeline.count_between(home, kickoff - spans[1], kickoff)
    assert np.array_equal(merged[1][1], fourteen)
    assert timeline.previous_and_counts(home, kickoff, spans, np.arange(home.size)[::-1]) is None  # not ascending
    values, known = schedule_values(timeline, entry_ms, home, frame["away_idx"].to_numpy(), kickoff, SCHEDULE)
    previous = timeline.last_before(home, kickoff)
    assert np.all(known >= np.where(previous >= 0, entry_ms[np.maximum(previous, 0)], -1))
    assert np.array_equal(values["f_games_7d_home"], (end - start).astype(np.float64))


def test_prepare_events_sorted_by_kickoff_alone_equals_the_two_key_sort(
    source: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    events, _ = source
    in_order, teams = prepare_events(events, "soccer")
    shuffled, _ = prepare_events(events.sample(fraction=1.0, shuffle=True, seed=2), "soccer")
    assert in_order.equals(shuffled)
    assert in_order.select("kickoff_utc", "event_id").equals(
        events.select("kickoff_utc", "event_id").sort("kickoff_utc", "event_id")
    )
    ids = in_order["home_team_id"].to_numpy()
    assert np.array_equal(_dense_index(teams, ids), np.searchsorted(teams, ids))
    assert np.array_equal(_dense_index(teams * 1_000_000, ids * 1_000_000), np.searchsorted(teams, ids))


def _compute_tables_serial(events: pl.DataFrame, quotes: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """The quote-side tables as the build made them before its second thread: the same stages, one after the other,
    joined by hash join."""
    frame, _ = prepare_events(events, "soccer")
    kickoffs = frame.select("event_id", "kickoff_utc")
    usable = quotes.filter(pl.col("market") == "1x2", pl.col("kind").is_in(list(MARKET.kinds)), ~pl.col("is_aggregate"))
    market = market_snapshots(usable, kickoffs, MARKET).snapshots
    bench = bench_columns(quotes, has_draws("soccer"), kickoffs)
    return {"market": market, "bench": bench}


def test_compute_tables_on_two_threads_equal_the_serial_stages(source: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    events, quotes = source
    tables = compute_tables(events, quotes, "soccer", DEFINITIONS)
    serial = _compute_tables_serial(events, quotes)
    assert tables.market.equals(serial["market"])
    bench = tables.events.select(serial["bench"].columns)
    assert bench.equals(
        tables.events.select("event_id").join(serial["bench"], on="event_id", how="left", maintain_order="left")
    )
    assert tables.market.height > 0
    assert bench["bench_ps_open_home"].null_count() < bench.height


def test_shin_checks_in_the_compiled_pass_keep_remove_margins_answers_and_errors() -> None:
    rng = np.random.default_rng(8)
    prices = np.asfortranarray(np.round(1.0 + np.exp(rng.normal(0.2, 1.2, size=(5_000, 3))), 2).clip(1.01))
    assert np.array_equal(fair_probabilities(prices, "shin"), remove_margin(prices, "shin"))  # column-major input
    for bad in (np.nan, np.inf, 1.0):
        broken = prices.copy()
        broken[2_500, 1] = bad
        with pytest.raises(ValueError, match="invalid decimal odds") as plain:
            remove_margin(broken, "shin")
        with pytest.raises(ValueError, match=re.escape(str(plain.value))):
            fair_probabilities(broken, "shin")
