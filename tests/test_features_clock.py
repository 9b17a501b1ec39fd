"""The feature store reads time only from the clock its caller passes: builds are stamped by it, and a lookup
without ``as_of`` is as known at the clock's instant (a backtest's simulated clock, never the wall clock)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine

from betpipe.clock import FixedClock, SimulatedClock
from betpipe.config import Settings
from betpipe.features import build_features, catalogue, event_features, training_matrix
from betpipe.features.market import SNAPSHOT_COLUMNS
from test_features_data import league_batch, load_league


def test_builds_are_stamped_by_the_callers_clock_even_when_it_stands_still(engine: Engine, tmp_path: Path) -> None:
    load_league(engine, league_batch(rounds=6, upcoming=1))
    settings = Settings(data_dir=tmp_path)
    frozen = league_batch(rounds=6, upcoming=1).events["kickoff_utc"].min()
    clock = FixedClock(frozen)
    first = build_features(engine, sport="soccer", settings=settings, clock=clock)
    second = build_features(engine, sport="soccer", settings=settings, clock=clock)  # same instant: no clash
    stamps = [row["built_at"] for row in catalogue(engine)[:2]]
    assert all(stamp.replace(tzinfo=None) == frozen.replace(tzinfo=None) for stamp in stamps)
    assert first.builds[0].path != second.builds[0].path
    assert second.builds[0].path.is_dir()
    assert training_matrix(engine, sport="soccer", settings=settings, clock=clock).height > 0


def test_a_lookup_without_as_of_is_as_known_at_the_clocks_instant(engine: Engine, tmp_path: Path) -> None:
    batch = league_batch(rounds=6, upcoming=1)
    load_league(engine, batch)
    settings = Settings(data_dir=tmp_path)
    matrix = training_matrix(engine, sport="soccer", settings=settings)
    event = matrix.sort("kickoff_utc").row(-1, named=True)
    kickoff = event["kickoff_utc"]
    clock = SimulatedClock(kickoff - timedelta(days=30))  # before any pre-match price of this event
    early = event_features(engine, event["event_id"], settings=settings, clock=clock)
    assert early.as_of == kickoff - timedelta(days=30)
    assert all(early.values[c] is None for c in SNAPSHOT_COLUMNS if c in early.values)
    clock.advance_to(kickoff)
    late = event_features(engine, event["event_id"], settings=settings, clock=clock)
    assert late.as_of == kickoff
    assert late.values["f_market_p_home"] == event["f_market_p_home"]  # at kickoff: the training row's value
