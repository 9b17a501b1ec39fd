"""Leakage guards: no feature of an event may move when results after its kickoff, or its own result, change.

Each test rebuilds the whole feature store from perturbed source frames and compares training rows bit for bit;
the last test plants a deliberate leak and checks the guard catches it, so the guard itself cannot rot silently.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sqlalchemy import Engine

from betpipe.features.asof import AsOfIndex, training_frame
from betpipe.features.compute import compute_tables
from betpipe.features.definitions import Market, default_feature_set
from betpipe.features.market import BENCH_BOOKS
from betpipe.features.source import EVENT_COLUMNS, QUOTE_SCHEMA, load_events, load_quotes
from betpipe.features.timeline import to_ms
from test_features_data import league_batch, load_league

Builder = Callable[[pl.DataFrame, pl.DataFrame], pl.DataFrame]


def honest_matrix(events: pl.DataFrame, quotes: pl.DataFrame) -> pl.DataFrame:
    tables = compute_tables(events, quotes, "soccer", default_feature_set("soccer"))
    result: pl.DataFrame = training_frame(AsOfIndex.build(tables))
    return result


def feature_columns(matrix: pl.DataFrame) -> list[str]:
    return [c for c in matrix.columns if c.startswith("f_")]


def perturb_results(events: pl.DataFrame, where: pl.Expr, seed: int) -> pl.DataFrame:
    """Change every selected result for sure (home wins by a margin it never had) and randomise shots."""
    rng = np.random.default_rng(seed)
    shots = {c: pl.Series(c, rng.integers(30, 40, events.height)) for c in ("home_shots", "away_shots")}
    return events.with_columns(
        pl.when(where).then(pl.col("away_score") + 3).otherwise(pl.col("home_score")).alias("home_score"),
        pl.when(where).then(pl.col("home_score")).otherwise(pl.col("away_score")).alias("away_score"),
        *[pl.when(where).then(v).otherwise(pl.col(c)).cast(pl.Int64).alias(c) for c, v in shots.items()],
    )


def assert_unchanged_before(builder: Builder, events: pl.DataFrame, quotes: pl.DataFrame, cut: datetime) -> int:
    """Perturb every result of games kicking off at or after ``cut``; every event before it must be identical."""
    before = builder(events, quotes)
    after = builder(perturb_results(events, pl.col("kickoff_utc") >= cut, seed=1), quotes)
    keep = pl.col("kickoff_utc") < cut
    left, right = before.filter(keep), after.filter(keep)
    assert left.height > 0
    columns = feature_columns(left)
    changed = [c for c in columns if not left[c].equals(right[c])]  # bit-identical, nulls in the same places
    assert not changed, f"features of events before {cut} moved when later results changed: {changed[:5]}"
    return left.height


@pytest.fixture
def source(sqlite_engine: Engine) -> tuple[pl.DataFrame, pl.DataFrame]:
    load_league(sqlite_engine, league_batch(rounds=18, upcoming=2))
    market = next(d for d in default_feature_set("soccer") if isinstance(d, Market))
    events = load_events(sqlite_engine, "soccer")
    quotes = load_quotes(sqlite_engine, "soccer", market.market, market.kinds, BENCH_BOOKS)
    return events, quotes


def test_perturbing_results_after_any_instant_leaves_earlier_features_bit_identical(
    source: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    """Catches any feature that reads a result from the future of the row it belongs to."""
    events, quotes = source
    kickoffs = events["kickoff_utc"].sort().unique().to_list()
    for cut in kickoffs[1::5]:
        assert_unchanged_before(honest_matrix, events, quotes, cut)


def test_a_result_is_invisible_until_its_game_is_over(source: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    """Results become known at kickoff + 2 h: a game 1 h after another of the same team must not see it."""
    events, quotes = source
    first = events.sort("kickoff_utc").row(0, named=True)
    soon = events.filter(pl.col("event_id") == first["event_id"]).with_columns(
        (pl.col("event_id") + 10_000).alias("event_id"),
        (pl.col("kickoff_utc") + timedelta(hours=1)).alias("kickoff_utc"),
    )
    both = pl.concat([events, soon])
    rows = honest_matrix(both, quotes).filter(pl.col("event_id") == first["event_id"] + 10_000)
    assert rows["f_form_gf_r5_home"].is_null().all()  # the team's only earlier game ends after this kickoff
    assert rows["f_elo_home"].item() == 1500.0


def assert_own_result_invisible(builder: Builder, events: pl.DataFrame, quotes: pl.DataFrame, event_id: int) -> None:
    before = builder(events, quotes)
    after = builder(perturb_results(events, pl.col("event_id") == event_id, seed=2), quotes)
    mine = pl.col("event_id") == event_id
    changed = [c for c in feature_columns(before) if not before.filter(mine)[c].equals(after.filter(mine)[c])]
    assert not changed, f"event {event_id}'s own result moved its features: {changed[:5]}"


def test_an_events_own_result_never_enters_its_own_features(source: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    """Perturbing only one game's result leaves that game's features unchanged, yet does move later games."""
    events, quotes = source
    target = events.filter(pl.col("status") == "finished").sort("kickoff_utc").row(10, named=True)
    assert_own_result_invisible(honest_matrix, events, quotes, target["event_id"])
    before = honest_matrix(events, quotes)
    after = honest_matrix(perturb_results(events, pl.col("event_id") == target["event_id"], seed=2), quotes)
    later = pl.col("kickoff_utc") > target["kickoff_utc"] + timedelta(hours=2)
    assert not before.filter(later)["f_elo_home"].equals(after.filter(later)["f_elo_home"])  # the probe has teeth


def test_closing_prices_and_aggregate_books_never_reach_market_features(
    source: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    """Wild closing and market-max prices must not move a single market feature."""
    events, quotes = source
    wild = quotes.with_columns(
        [
            pl.when((pl.col("kind") == "closing") | pl.col("is_aggregate")).then(pl.col(c) * 3).otherwise(pl.col(c))
            for c in ("home", "draw", "away")
        ]
    )
    before, after = honest_matrix(events, quotes), honest_matrix(events, wild)
    for column in [c for c in before.columns if c.startswith("f_market_")]:
        assert before[column].equals(after[column]), column
    assert not before["bench_ps_close_home"].equals(after["bench_ps_close_home"])  # labels do see closing prices


def leaky_builder(shift_ms: int) -> Builder:
    """The classic bugs: reading team states a little after kickoff instead of strictly before it."""

    def build(events: pl.DataFrame, quotes: pl.DataFrame) -> pl.DataFrame:
        tables = compute_tables(events, quotes, "soccer", default_feature_set("soccer"))
        shifted = tables.events.with_columns(pl.col("kickoff_ms") + shift_ms)
        result: pl.DataFrame = training_frame(AsOfIndex.build(tables), shifted)
        return result

    return build


def test_a_deliberately_leaking_feature_is_caught_by_both_guards(source: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    """Reading the state after the game itself (+2 h) or after the next matchday (+8 days) must fail a guard."""
    events, quotes = source
    target = events.filter(pl.col("status") == "finished").sort("kickoff_utc").row(10, named=True)
    with pytest.raises(AssertionError, match="own result moved its features"):
        assert_own_result_invisible(leaky_builder(2 * 3_600_000 + 1), events, quotes, target["event_id"])
    cut = events["kickoff_utc"].sort()[events.height // 4]  # mid-season: the next matchday is a week later
    with pytest.raises(AssertionError, match="moved when later results changed"):
        assert_unchanged_before(leaky_builder(8 * 86_400_000), events, quotes, cut)


def test_features_through_the_database_do_not_move_when_later_results_are_corrected(
    engine: Engine, tmp_path: Path
) -> None:
    """End to end on each backend: ingest, build, correct later results via a re-ingest, rebuild, compare."""
    from betpipe.config import Settings
    from betpipe.features import training_matrix

    settings = Settings(data_dir=tmp_path)
    batch = league_batch(rounds=12, upcoming=1)
    load_league(engine, batch)
    before = training_matrix(engine, sport="soccer", settings=settings)
    cut = before["kickoff_utc"].sort()[before.height // 2]
    late_refs = batch.events.filter(pl.col("kickoff_utc") >= cut)["row_ref"]
    corrected = batch.results.with_columns(
        pl.when(pl.col("row_ref").is_in(late_refs.implode()))
        .then(pl.col("home_score") + 5)
        .otherwise(pl.col("home_score"))
    )
    load_league(
        engine,
        type(batch)(source="test", locator="fix", rows_read=0, events=batch.events, results=corrected, odds=batch.odds),
    )
    after = training_matrix(engine, sport="soccer", settings=settings)  # the changed source triggers a rebuild
    early = pl.col("kickoff_utc") < cut
    for column in feature_columns(before):
        assert before.filter(early)[column].equals(after.filter(early)[column]), column
    assert not before["home_score"].equals(after["home_score"])


# ----------------------------------------------------------------------------------- date-only kickoffs (issue 14.1)

UK = "Europe/London"
NO_QUOTES = pl.DataFrame(schema=QUOTE_SCHEMA)


def uk(day: datetime, hour: int, minute: int = 0) -> datetime:
    """``day``'s date at hour:minute UK local, as aware UTC."""
    local = pl.datetime(day.year, day.month, day.day, hour, minute, time_zone=UK)
    moment: datetime = pl.select(local.dt.convert_time_zone("UTC")).item()
    return moment


def date_only_weekends(weekends: int = 5) -> pl.DataFrame:
    """football-data before 2019-20: only dates, so every kickoff is the 15:00 UK placeholder and time-unknown.

    Six teams; each weekend a Friday game (really played in the evening), two Saturday games and a Monday game of the
    Friday home side. football-data collects the prices of Saturday and Monday games on the Friday by 17:00 UK, so
    all three are decided at that Friday step.
    """
    first_friday = datetime(2018, 8, 10, tzinfo=UTC)
    rows = []
    for w in range(weekends):
        friday = first_friday + timedelta(days=7 * w)
        order = [(w + i) % 6 + 1 for i in range(6)]
        fixtures = [
            (friday, order[0], order[1]),
            (friday + timedelta(days=1), order[2], order[3]),
            (friday + timedelta(days=1), order[4], order[5]),
            (friday + timedelta(days=3), order[0], order[2]),
        ]
        for g, (day, home, away) in enumerate(fixtures):
            rows.append(
                {
                    "event_id": 100 * w + g + 1,
                    "sport": "soccer",
                    "competition": "E0",
                    "season": "2018-2019",
                    "kickoff_utc": uk(day, 15),
                    "kickoff_time_known": False,
                    "home_team_id": home,
                    "away_team_id": away,
                    "neutral_site": False,
                    "status": "finished",
                    "home_score": (w + g) % 3,
                    "away_score": (w * g) % 2,
                }
            )
    frame = pl.DataFrame(rows)
    missing = [pl.lit(None).alias(c) for c in EVENT_COLUMNS if c not in frame.columns]
    return frame.with_columns(missing).select([pl.col(c).cast(t) for c, t in EVENT_COLUMNS.items()])


def features_as_of(events: pl.DataFrame, event_id: int, as_of: datetime) -> dict[str, float | None]:
    """Elo and form of one event read at ``as_of`` through the as-of index, as the backtest's decision features are."""
    index = AsOfIndex.build(compute_tables(events, NO_QUOTES, "soccer", default_feature_set("soccer")))
    row = index.tables.events.filter(pl.col("event_id") == event_id)
    at = to_ms(pl.Series([as_of], dtype=pl.Datetime("us", "UTC")))
    home, away = row["home_idx"].to_numpy(), row["away_idx"].to_numpy()
    elo, _ = index.elo_columns(home, away, at, row["season_year"].to_numpy(), row["neutral_site"].to_numpy())
    values: dict[str, float | None] = {name: float(column[0]) for name, column in elo.items()}
    for series in index.form_columns(index.form_rows(home, away, at)):
        values[series.name] = series[0]
    return values


def test_a_date_only_friday_result_stays_unknown_all_that_friday() -> None:
    """Issue 14.1: a Friday game dated without a time (placeholder 15:00 UK) counted as played at 17:00 UK, the step
    at which the weekend is decided, though it really kicked off in the evening. Its result must not reach features
    read at that step or at any later instant of that Friday; from the next day on it must."""
    events = date_only_weekends()
    friday_game, monday_game = 401, 404  # the last weekend: Friday A-B, then A's Monday game, decided on the Friday
    perturbed = perturb_results(events, pl.col("event_id") == friday_game, seed=3)
    friday = datetime(2018, 9, 7, tzinfo=UTC)
    for hour, minute in ((17, 0), (19, 0), (21, 45), (23, 59)):
        at = uk(friday, hour, minute)
        before, after = features_as_of(events, monday_game, at), features_as_of(perturbed, monday_game, at)
        changed = [name for name in before if before[name] != after[name]]
        assert not changed, f"the Friday game's result reached features read at {at} (UK {hour}:{minute:02}): {changed}"
    saturday = uk(friday + timedelta(days=1), 12)
    assert features_as_of(events, monday_game, saturday) != features_as_of(perturbed, monday_game, saturday)
    rows = pl.col("event_id") == monday_game  # the training row, read at Monday's kickoff, sees it too
    assert (
        not honest_matrix(events, NO_QUOTES)
        .filter(rows)["f_elo_home"]
        .equals(honest_matrix(perturbed, NO_QUOTES).filter(rows)["f_elo_home"])
    )
