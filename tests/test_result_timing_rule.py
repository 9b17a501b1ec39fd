"""The one rule for when a result becomes known (``betpipe.sports.ResultTiming``, issue 14.1): kickoff + duration
for a timed kickoff, the end of the local day + duration for a date-only one; the same instants from the scalar and
the polars forms, across clock changes; feature versions follow the rule; a state timeline never shows a date-only
result early through a timed game played after it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from betpipe.features import definitions
from betpipe.features.definitions import Elo, default_feature_set, feature_set_version
from betpipe.sports import ResultTiming, sport_rules
from test_leakage import date_only_weekends, features_as_of, perturb_results, uk

SOCCER = sport_rules("soccer").timing
NFL = sport_rules("american_football").timing


def test_a_timed_result_is_known_at_kickoff_plus_the_duration() -> None:
    kickoff = datetime(2021, 8, 13, 19, tzinfo=UTC)
    assert SOCCER.known_at(kickoff, True) == kickoff + timedelta(hours=2)
    assert NFL.known_at(kickoff, True) == kickoff + timedelta(hours=3, minutes=30)


@pytest.mark.parametrize(
    ("kickoff", "known"),
    [
        (uk(datetime(2018, 8, 10), 15), datetime(2018, 8, 11, 1, tzinfo=UTC)),  # BST Friday: 00:00 BST + 2 h
        (uk(datetime(2018, 12, 7), 15), datetime(2018, 12, 8, 2, tzinfo=UTC)),  # GMT Friday
        (uk(datetime(2018, 10, 27), 15), datetime(2018, 10, 28, 1, tzinfo=UTC)),  # clocks go back that night
        (uk(datetime(2018, 3, 24), 15), datetime(2018, 3, 25, 2, tzinfo=UTC)),  # clocks go forward that night
        (datetime(2018, 10, 27, 23, 30, tzinfo=UTC), datetime(2018, 10, 29, 2, tzinfo=UTC)),  # 00:30 BST, 28 Oct
    ],
)
def test_a_date_only_result_is_known_at_the_end_of_its_uk_day_plus_the_duration(
    kickoff: datetime, known: datetime
) -> None:
    assert SOCCER.known_at(kickoff, False) == known


def test_a_date_only_nfl_result_waits_for_the_end_of_its_us_eastern_day() -> None:
    sunday = datetime(2018, 11, 4, 18, tzinfo=UTC)  # 13:00 EST placeholder, the day US clocks went back
    assert NFL.known_at(sunday, False) == datetime(2018, 11, 5, 5, tzinfo=UTC) + timedelta(hours=3, minutes=30)


def test_the_polars_form_gives_the_scalar_instants_and_a_missing_flag_counts_as_unknown() -> None:
    kickoffs = [uk(datetime(2018, 1, 1) + timedelta(days=d), 15) for d in range(0, 365, 3)]
    flags = [None if i % 5 == 0 else i % 2 == 0 for i in range(len(kickoffs))]
    frame = pl.DataFrame({"k": kickoffs, "t": flags}, schema={"k": pl.Datetime("us", "UTC"), "t": pl.Boolean})
    vector = frame.select(SOCCER.known_at_expr(pl.col("k"), pl.col("t"))).to_series().to_list()
    assert vector == [SOCCER.known_at(k, bool(t)) for k, t in zip(kickoffs, flags, strict=True)]


def test_a_zone_whose_midnight_is_skipped_still_ends_the_day_no_earlier() -> None:
    """Sao Paulo's clocks jumped from 00:00 to 01:00 on 4 Nov 2018: the day ends at 01:00 local (03:00 UTC)."""
    timing = ResultTiming(timedelta(0), "America/Sao_Paulo")
    assert timing.known_at(datetime(2018, 11, 3, 18, tzinfo=UTC), False) == datetime(2018, 11, 4, 3, tzinfo=UTC)


def test_feature_versions_follow_the_result_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stored builds made under another rule must not be served: the rule is part of every definition's version."""
    before = Elo().version, feature_set_version(default_feature_set("soccer"))
    monkeypatch.setattr(definitions, "result_rule_fingerprint", lambda: "results known at kickoff")
    soccer = tuple(type(d)(**d.parameters) for d in default_feature_set("soccer"))  # fresh, uncached versions
    assert Elo().version != before[0]
    assert feature_set_version.__wrapped__(soccer) != before[1]  # past the per-process cache of set versions


def test_a_timed_game_after_a_date_only_one_does_not_carry_its_result_in_early() -> None:
    """Team 1 plays a date-only game (placeholder 15:00 UK) and, the same day, a timed one at 20:00 UK whose result
    is known at 22:00. The state after the timed game holds the date-only result too, so it must wait for it."""
    events = date_only_weekends(weekends=2)
    late = events.filter(pl.col("event_id") == 101).with_columns(
        pl.lit(150, dtype=pl.Int64).alias("event_id"),
        pl.lit(uk(datetime(2018, 8, 17), 20)).dt.cast_time_unit("us").alias("kickoff_utc"),
        pl.lit(True).alias("kickoff_time_known"),
        pl.lit(5, dtype=pl.Int64).alias("away_team_id"),
    )
    events = pl.concat([events, late])
    date_only = pl.col("event_id") == 101  # Friday 17 Aug; its home side plays the timed game 150 and Monday's 104
    home = events.filter(date_only)["home_team_id"].item()
    events = events.with_columns(
        pl.when(pl.col("event_id") == 150).then(home).otherwise(pl.col("home_team_id")).alias("home_team_id")
    )
    perturbed = perturb_results(events, date_only, seed=4)
    at = uk(datetime(2018, 8, 17), 23, 30)  # after the timed game's result, before the end of the day
    assert features_as_of(events, 104, at) == features_as_of(perturbed, 104, at)
    next_day = uk(datetime(2018, 8, 18), 12)
    assert features_as_of(events, 104, next_day) != features_as_of(perturbed, 104, next_day)
