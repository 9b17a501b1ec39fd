"""Leak guards of the model of the close (issue 16): it forecasts the close, so the close, or any price captured after
the decision instant, must never reach its inputs, and a match's close may train a forecast only once that match has
kicked off before the decision instant.

Each guard was checked by planting its leak (docs/modeling.md, "Model of the close"): the named test failed.
Real components: three seasons of the shared Premier League file ingested into SQLite and read back through the
feature store and ``load_prematch_quotes`` (skipped, with the reason, where ../shared/data is absent).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from betpipe.backtest.close_judge import close_frame
from betpipe.config import Settings
from betpipe.db import make_engine, upgrade
from betpipe.features.close_inputs import close_inputs, input_columns, load_prematch_quotes
from betpipe.ingest.football_data import ingest_football_data
from betpipe.modeling.close_model import CloseModel
from betpipe.modeling.close_walkforward import CloseWalkForward, epoch_seconds, walk_forward_close

pytestmark = [pytest.mark.shared_data]

SEASONS = ("2019-2020", "2020-2021", "2021-2022")
REFIT_DAYS = 14.0


@dataclass(frozen=True)
class Store:
    frame: pl.DataFrame
    quotes: pl.DataFrame


@pytest.fixture(scope="module")
def store(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Store:
    root = tmp_path_factory.mktemp("close_store")
    settings = Settings(data_dir=root, database_url=f"sqlite:///{root / 'store.sqlite'}")
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    ingest_football_data(engine, [shared_data / "football-data" / "E0" / f"{s}.csv" for s in SEASONS])
    frame = close_frame(engine, settings)
    quotes = load_prematch_quotes(engine)
    with engine.connect() as conn:
        closing = conn.exec_driver_sql("SELECT COUNT(*) FROM odds_snapshots WHERE kind = 'closing'").scalar_one()
    engine.dispose()
    assert closing > 0  # the store holds closing prices: the loader must be the one leaving them out
    return Store(frame, quotes)


def _walk(frame: pl.DataFrame) -> CloseWalkForward:
    mask = (frame.get_column("season") >= SEASONS[1]).to_numpy() & frame.get_column(
        "decided_at"
    ).is_not_null().to_numpy()
    return walk_forward_close(frame, mask, build=lambda: CloseModel(l2=1e-3), refit_days=REFIT_DAYS)


def _predicted(frame: pl.DataFrame) -> np.ndarray:
    mask = (frame.get_column("season") >= SEASONS[1]).to_numpy() & frame.get_column(
        "decided_at"
    ).is_not_null().to_numpy()
    return np.flatnonzero(mask)


def test_the_loader_never_selects_a_closing_or_in_play_quote(store: Store) -> None:
    """A closing price in the quotes would be one join away from being an input; the loader leaves them in SQL."""
    assert set(store.quotes.get_column("kind").unique().to_list()) <= {"opening", "live"}
    assert store.quotes.height > 0


def test_scrambling_closes_of_matches_not_kicked_off_leaves_every_earlier_forecast_unchanged(store: Store) -> None:
    """Fails when the close itself is an input: forecasts decided before T must not move when the closes of matches
    kicking off at or after T are scrambled (those closes are neither labels nor inputs at those decisions)."""
    frame = store.frame
    rows = _predicted(frame)
    decided = epoch_seconds(frame, "decided_at")[rows]
    kick = epoch_seconds(frame, "kickoff_utc")
    cut = float(np.quantile(decided, 0.6)) + 1.0  # just after a decision instant: its matches kick off later
    later = kick >= cut
    close_cols = ["bench_ps_close_home", "bench_ps_close_draw", "bench_ps_close_away"]
    rng = np.random.default_rng(0)
    scrambled = frame.with_columns(
        pl.Series(c, np.where(later, rng.permutation(frame.get_column(c).to_numpy()), frame.get_column(c).to_numpy()))
        for c in close_cols
    )
    before = _walk(frame).probabilities
    after = _walk(scrambled).probabilities
    earlier = decided < cut
    own_close_moved = earlier & later[rows]
    assert own_close_moved.sum() > 5  # forecasts decided before T whose own close was scrambled: the test has teeth
    np.testing.assert_array_equal(after[earlier], before[earlier])
    assert not np.array_equal(after[~earlier], before[~earlier])  # later fits did see the scrambled labels


def test_the_walk_forward_never_trains_on_a_label_whose_kickoff_is_at_or_after_the_decision(store: Store) -> None:
    """Fails when a fit may use a match that kicks off at or after a decision it serves (the close is known only
    at kickoff)."""
    frame = store.frame
    walk = _walk(frame)
    kick = epoch_seconds(frame, "kickoff_utc")
    decided = epoch_seconds(frame, "decided_at")
    assert len(walk.fits) > 5
    for fit in walk.fits:
        assert kick[fit.train_index].max() < decided[fit.predict_index].min()
        assert kick[fit.train_index].max() < fit.block_start <= decided[fit.predict_index].min()


def test_labels_of_matches_kicked_off_after_the_decision_do_not_change_a_fit(store: Store) -> None:
    """The same rule, by behaviour: a fit's coefficients depend only on matches that kicked off before its block."""
    frame = store.frame
    walk = _walk(frame)
    fit = walk.fits[len(walk.fits) // 2]
    kick = epoch_seconds(frame, "kickoff_utc")
    later = kick >= fit.block_start
    tampered = frame.with_columns(
        pl.when(pl.Series(later)).then(pl.col("bench_ps_close_home") * 3.0).otherwise(pl.col("bench_ps_close_home"))
    )
    a = CloseModel().fit(frame[fit.train_index], np.zeros(fit.train_index.size, dtype=np.int64))
    b = CloseModel().fit(tampered[fit.train_index], np.zeros(fit.train_index.size, dtype=np.int64))
    np.testing.assert_array_equal(a.coef_, b.coef_)


def _with_late_quotes(quotes: pl.DataFrame, frame: pl.DataFrame, kind: str, after: timedelta) -> pl.DataFrame:
    """Every pre-match 1X2 quote of bet365 and Pinnacle copied ``after`` the decision with absurd prices."""
    decided = frame.select("event_id", "decided_at", "kickoff_utc").filter(pl.col("decided_at").is_not_null())
    late = (
        quotes.filter(pl.col("bookmaker").is_in(["bet365", "pinnacle"]) & (pl.col("market") == "1x2"))
        .join(decided, on="event_id")
        .with_columns(
            (pl.col("decided_at") + after).alias("captured_at"),
            pl.lit(kind).alias("kind"),
            pl.when(pl.col("selection") == "home").then(1.05).otherwise(25.0).alias("price"),
        )
        .filter(pl.col("captured_at") < pl.col("kickoff_utc"))
        .select(quotes.columns)
    )
    assert late.height > 100
    return pl.concat([quotes, late])


@pytest.mark.parametrize(("kind", "after"), [("opening", timedelta(minutes=1)), ("closing", timedelta(0))])
def test_a_price_captured_after_the_decision_or_a_closing_price_is_never_an_input(
    store: Store, kind: str, after: timedelta
) -> None:
    """Fails when inputs are read as of kickoff instead of the decision instant (the post-decision pre-match price)
    or when closing quotes are read as pre-match ones."""
    frame = store.frame
    keys = frame.select("event_id", "kickoff_utc", "decided_at")
    quotes = _with_late_quotes(store.quotes, frame, kind, after)
    clean = close_inputs(store.quotes, keys, at="decided_at")
    planted = close_inputs(quotes, keys, at="decided_at")
    assert planted.select(input_columns()).equals(clean.select(input_columns()))
    default_rule = close_inputs(quotes, keys.drop("decided_at"))  # the decision instant found by the rule itself
    assert default_rule.select("decided_at", *input_columns()).equals(clean.select("decided_at", *input_columns()))
    first = frame.filter(pl.col("season") == SEASONS[0])
    fitted = CloseModel().fit(first, np.zeros(first.height, dtype=np.int64))
    swapped = frame.drop(input_columns()).join(planted.drop("decided_at"), on="event_id", how="left")
    np.testing.assert_array_equal(
        fitted.predict_proba(swapped.select(frame.columns)), fitted.predict_proba(frame.select(frame.columns))
    )
