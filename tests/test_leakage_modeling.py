"""Leakage guards on the modelling side: closing prices, later labels and at-kickoff quotes must not move predictions.

Each test names the leak it prevents. Every one was checked by planting that leak in the code and watching the test
fail (see docs/modeling.md, "Leak guards"): the GBM training on ``bench_*`` closing prices, the Pinnacle blend
reading the close, out-of-fold predictions from one fit on all rows, ``train`` scoring its hold-out season with a
model fitted on it, and a pre-match quote captured exactly at kickoff becoming a feature.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sqlalchemy import Engine

from betpipe.config import Settings
from betpipe.features import prematch_prices, training_matrix
from betpipe.features.definitions import Market
from betpipe.features.market import single_event_market
from betpipe.modeling import (
    CalibratedModel,
    Calibrator,
    GradientBoostingModel,
    LogLinearPool,
    MarketBlendModel,
    default_specs,
    evaluate_frame,
    labels_from_outcome,
    market_probabilities,
    out_of_fold_predict,
)
from betpipe.modeling.synthetic import synthetic_matrix
from test_leakage import honest_matrix, source  # noqa: F401  (the fixture is used by name)

CLOSE_COLUMNS = [f"bench_ps_close_{s}" for s in ("home", "draw", "away")]


@pytest.fixture(scope="module")
def soccer() -> pl.DataFrame:
    return synthetic_matrix(seasons=5, teams=20, seed=11)


def labels(frame: pl.DataFrame) -> np.ndarray:
    return labels_from_outcome(frame.get_column("outcome").to_numpy(), 3)


def scramble_closing(frame: pl.DataFrame, seed: int) -> pl.DataFrame:
    """Closing prices moved to other rows (all three together, so every row still has a valid closing market)."""
    order = np.random.default_rng(seed).permutation(frame.height)
    return frame.with_columns(pl.Series(c, frame.get_column(c).to_numpy()[order]) for c in CLOSE_COLUMNS)


def small_gbm() -> GradientBoostingModel:
    return GradientBoostingModel(n_estimators=30, min_data_in_leaf=30)


def test_scrambling_closing_prices_leaves_every_model_of_the_evaluation_bit_identical(soccer: pl.DataFrame) -> None:
    """Catches any model of the frozen line-up (GBM features, blend market legs, calibration) reading the close."""
    specs = [s for s in default_specs("soccer") if s.name != "dixon_coles"]  # goals only; slow, and no prices
    frame = soccer.filter(pl.col("season") >= "2011-2012")  # four seasons, the last two scored: quick
    kwargs = {"sport": "soccer", "specs": specs, "by_competition": False, "first_season": "2013-2014"}
    before = evaluate_frame(frame, **kwargs)  # type: ignore[arg-type]
    after = evaluate_frame(scramble_closing(frame, seed=1), **kwargs)  # type: ignore[arg-type]
    models = [s.name for s in specs if not s.anchor]
    moved = [m for m in models if not np.array_equal(before.predictions[m], after.predictions[m])]
    assert not moved, f"closing prices reached {moved}"
    assert not np.array_equal(before.predictions["market_close_shin"], after.predictions["market_close_shin"])


def test_the_gbm_never_trains_on_bench_columns(soccer: pl.DataFrame) -> None:
    """Catches ``bench_*`` (closing or pre-match benchmark prices) among the GBM's features, with or without market."""
    y = labels(soccer)
    for use_market in (False, True):
        model = GradientBoostingModel(n_estimators=30, min_data_in_leaf=30, use_market=use_market).fit(soccer, y)
        assert not [f for f in model.features_ if not f.startswith("f_")]
        scrambled = scramble_closing(soccer, seed=2)
        again = GradientBoostingModel(n_estimators=30, min_data_in_leaf=30, use_market=use_market).fit(scrambled, y)
        assert np.array_equal(model.predict_proba(soccer), again.predict_proba(scrambled))


def test_the_pinnacle_blend_prices_its_market_leg_from_the_pre_match_price() -> None:
    """Catches the ``blend_gbm_pinnacle_pre`` market leg reading anything but Pinnacle's pre-match columns."""
    spec = next(s for s in default_specs("soccer") if s.name == "blend_gbm_pinnacle_pre")
    model = spec.build()
    assert isinstance(model, MarketBlendModel)
    assert model.market_source == "bench_ps_open"


def test_out_of_fold_predictions_of_a_season_ignore_the_labels_of_that_season_and_later(soccer: pl.DataFrame) -> None:
    """Catches OOF predictions from a model that saw the rows it predicts (or later ones), e.g. one fit on all rows."""
    y = labels(soccer)
    seasons = soccer.get_column("season").to_numpy()
    oof, covered, folds = out_of_fold_predict(small_gbm(), soccer, y, seasons=seasons, min_train_seasons=2)
    assert len(folds) == 3
    for fold in folds:
        later = seasons >= fold.test_season
        changed = np.where(later, (y + 1) % 3, y)
        moved, _, _ = out_of_fold_predict(small_gbm(), soccer, changed, seasons=seasons, min_train_seasons=2)
        mine = seasons == fold.test_season
        assert np.array_equal(oof[mine], moved[mine]), f"OOF of {fold.test_season} saw its own or later labels"
    first = folds[0].test_season
    changed = np.where(seasons == first, (y + 1) % 3, y)
    moved, _, _ = out_of_fold_predict(small_gbm(), soccer, changed, seasons=seasons, min_train_seasons=2)
    assert not np.array_equal(oof[seasons > first], moved[seasons > first])  # the probe has teeth
    assert covered.sum() == (seasons >= first).sum()


def honest_oof(frame: pl.DataFrame, y: np.ndarray, min_train: int, max_folds: int) -> tuple[np.ndarray, np.ndarray]:
    """Reference OOF written out by hand: each of the last ``max_folds`` seasons by a fit on earlier seasons only."""
    seasons = frame.get_column("season").to_numpy()
    order = sorted(set(seasons.tolist()))
    out = np.full((frame.height, 3), np.nan)
    for season in order[min_train:][-max_folds:]:
        past, mine = seasons < season, seasons == season
        out[mine] = small_gbm().fit(frame.filter(pl.Series(past)), y[past]).predict_proba(frame.filter(pl.Series(mine)))
    covered = np.isfinite(out).all(axis=1)
    return out, covered


def test_calibration_is_fitted_only_on_out_of_fold_predictions(soccer: pl.DataFrame) -> None:
    """The calibrator equals one fitted on hand-made honest OOF predictions, so it never saw in-sample ones."""
    y = labels(soccer)
    reference, covered = honest_oof(soccer, y, min_train=2, max_folds=2)
    for method in ("platt", "isotonic"):
        model = CalibratedModel(small_gbm(), method=method, min_train_seasons=2, max_folds=2).fit(soccer, y)
        expected = Calibrator(method).fit(reference[covered], y[covered])
        assert model.oof_rows_ == int(covered.sum())
        assert model.calibrator_.arrays_.keys() == expected.arrays_.keys()
        for key, value in expected.arrays_.items():
            np.testing.assert_allclose(model.calibrator_.arrays_[key], value, rtol=1e-6, atol=1e-9, err_msg=key)


def test_blend_weights_are_fitted_only_on_out_of_fold_predictions(soccer: pl.DataFrame) -> None:
    """The blend's pooling weights equal a pool fitted on hand-made honest OOF predictions and the pre-match leg."""
    y = labels(soccer)
    reference, covered = honest_oof(soccer, y, min_train=2, max_folds=2)
    model = MarketBlendModel(small_gbm(), "bench_ps_open", "shin", min_train_seasons=2, max_folds=2).fit(soccer, y)
    market = market_probabilities(soccer, "bench_ps_open", 3, "shin")
    usable = covered & np.isfinite(market).all(axis=1)
    expected = LogLinearPool().fit([reference[usable], market[usable]], y[usable])
    np.testing.assert_allclose(model.pool_.weights_, expected.weights_, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(model.pool_.intercepts_, expected.intercepts_, rtol=1e-6, atol=1e-9)


def test_train_scores_its_hold_out_season_with_a_model_fitted_before_it(engine: Engine, tmp_path: Path) -> None:
    """Catches ``betpipe train`` scoring the hold-out season with a model that was fitted on that season."""
    from betpipe.ingest.sample_league import SampleLeagueConfig, ingest_sample
    from betpipe.live.training import train_model

    settings = Settings(data_dir=tmp_path)
    ingest_sample(engine, SampleLeagueConfig(seed=3, n_teams=8, n_seasons=3))
    result = train_model(engine, sport="soccer", model="gbm", settings=settings)
    frame = training_matrix(engine, sport="soccer", settings=settings).filter(pl.col("outcome").is_not_null())
    holdout = frame.get_column("season").to_numpy() == result.holdout_season
    y = labels(frame)
    spec = next(s for s in default_specs("soccer") if s.name == "gbm")
    honest = spec.build().fit(frame.filter(pl.Series(~holdout)), y[~holdout])
    from betpipe.modeling import log_loss

    expected = log_loss(honest.predict_proba(frame.filter(pl.Series(holdout))), y[holdout])
    assert result.holdout_rows == int(holdout.sum())
    assert result.metrics["log_loss"] == pytest.approx(expected, rel=1e-12)
    insample = spec.build().fit(frame, y)
    assert log_loss(insample.predict_proba(frame.filter(pl.Series(holdout))), y[holdout]) != pytest.approx(
        expected, rel=1e-9
    )  # the probe has teeth: a fit that saw the season scores it differently


def at_kickoff_quotes(events: pl.DataFrame, offset: timedelta) -> pl.DataFrame:
    """One wild pre-match quote per event from an executable book, captured at kickoff + ``offset``."""
    return events.select(
        "event_id",
        pl.lit("pinnacle").alias("bookmaker"),
        pl.lit(False).alias("is_aggregate"),
        pl.lit("1x2").alias("market"),
        pl.lit("opening").alias("kind"),
        (pl.col("kickoff_utc") + offset).alias("captured_at"),
        pl.lit(1.3).alias("home"),
        pl.lit(7.0).alias("draw"),
        pl.lit(11.0).alias("away"),
        pl.lit(None, dtype=pl.Float64).alias("line"),
    )


def test_a_pre_match_quote_captured_exactly_at_kickoff_is_never_a_feature_or_a_bench_price(
    source: tuple[pl.DataFrame, pl.DataFrame],  # noqa: F811
) -> None:
    """Catches ``captured_at < kickoff`` becoming ``<=`` in the one pre-match time rule (features and bench alike)."""
    events, quotes = source
    before = honest_matrix(events, quotes)
    at_kickoff = pl.concat([quotes, at_kickoff_quotes(events, timedelta(0)).select(quotes.columns)])
    after = honest_matrix(events, at_kickoff)
    watched = [c for c in before.columns if c.startswith(("f_market_", "bench_ps_open_", "bench_b365_open_"))]
    moved = [c for c in watched if not before[c].equals(after[c])]
    assert not moved, f"a quote captured at kickoff reached {moved}"
    just_before = pl.concat([quotes, at_kickoff_quotes(events, -timedelta(microseconds=1)).select(quotes.columns)])
    teeth = honest_matrix(events, just_before)
    assert not before["f_market_p_home"].equals(teeth["f_market_p_home"])  # a microsecond earlier it counts
    assert not before["bench_ps_open_home"].equals(teeth["bench_ps_open_home"])


def test_the_single_event_lookup_and_prematch_prices_apply_the_same_rule(
    source: tuple[pl.DataFrame, pl.DataFrame],  # noqa: F811
) -> None:
    """The live lookup and the backtest's price reader ignore a quote at kickoff and see one just before it."""
    events, _quotes = source
    event = events.sort("kickoff_utc").row(0, named=True)
    kickoff = event["kickoff_utc"]
    for offset, visible in ((timedelta(0), False), (-timedelta(microseconds=1), True)):
        probe = at_kickoff_quotes(events.filter(pl.col("event_id") == event["event_id"]), offset)
        row = probe.row(0, named=True)
        fields = ("bookmaker", "is_aggregate", "market", "kind", "captured_at", "home", "draw", "away")
        values, _ = single_event_market([tuple(row[f] for f in fields)], kickoff, kickoff, Market(), True)
        assert (values["f_market_p_home"] is not None) is visible
        prices = prematch_prices(probe, kickoffs=events.select("event_id", "kickoff_utc"))
        assert prices.height == int(visible)
        decided = prematch_prices(
            probe, at=kickoff - timedelta(hours=1), kickoffs=events.select("event_id", "kickoff_utc")
        )
        assert decided.height == 0  # not yet captured an hour before kickoff
