"""Estimators, persistence, walk-forward and calibration on synthetic contract frames (fast, no database)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from betpipe.modeling import (
    BaseProbabilityModel,
    BaseRateModel,
    CalibratedModel,
    DixonColesModel,
    EloLogitModel,
    FeatureProbabilityModel,
    GradientBoostingModel,
    MarketBlendModel,
    MarketModel,
    ModelSpec,
    evaluate_frame,
    format_markdown,
    get_model_class,
    labels_from_outcome,
    out_of_fold_predict,
    rps,
    season_folds,
)
from betpipe.modeling.synthetic import synthetic_matrix
from betpipe.modeling.walkforward import walk_forward_predict


@pytest.fixture(scope="module")
def soccer() -> pl.DataFrame:
    return synthetic_matrix(seasons=5, teams=16, seed=7)


@pytest.fixture(scope="module")
def two_way() -> pl.DataFrame:
    return synthetic_matrix(seasons=4, teams=12, two_way=True, seed=8)


def small_gbm(k: int = 3, use_market: bool = False) -> GradientBoostingModel:
    return GradientBoostingModel(n_outcomes=k, use_market=use_market, n_estimators=40, min_data_in_leaf=40)


def labels(frame: pl.DataFrame, k: int = 3) -> np.ndarray:
    return labels_from_outcome(frame.get_column("outcome").to_numpy(), k)


SOCCER_MODELS = {
    "market": lambda: MarketModel("bench_ps_close", "shin"),
    "feature_probabilities": lambda: FeatureProbabilityModel(
        "f_market_p_home", "f_market_p_draw", "f_market_p_away", n_outcomes=3
    ),
    "base_rates": BaseRateModel,
    "elo_logit": EloLogitModel,
    "dixon_coles": DixonColesModel,
    "gbm": small_gbm,
    "calibrated": lambda: CalibratedModel(small_gbm(), method="auto"),
    "blend": lambda: MarketBlendModel(small_gbm(), "bench_ps_open", "shin"),
}


@pytest.mark.parametrize("name", sorted(SOCCER_MODELS))
def test_each_estimator_gives_one_probability_row_per_match_summing_to_one(
    name: str, soccer: pl.DataFrame, tmp_path: Path
) -> None:
    """Shapes and sums, and an artifact round trip that reproduces predictions exactly without pickle."""
    train, test = soccer.filter(pl.col("season") < "2014-2015"), soccer.filter(pl.col("season") == "2014-2015")
    model = SOCCER_MODELS[name]().fit(train, labels(train))
    p = model.predict_proba(test)
    assert p.shape == (test.height, 3)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-9)
    model.save_artifact(tmp_path / name)
    files = [f for f in (tmp_path / name).rglob("*") if f.is_file()]
    assert not [f for f in files if f.suffix in {".pkl", ".pickle", ".joblib"}]
    with np.load(next(f for f in files if f.suffix == ".npz"), allow_pickle=False) as data:
        assert all(data[k].dtype != object for k in data.files)
    loaded = BaseProbabilityModel.load_artifact(tmp_path / name)
    assert type(loaded) is type(model)
    np.testing.assert_array_equal(loaded.predict_proba(test), p)


def test_two_way_models_give_home_and_away_columns(two_way: pl.DataFrame) -> None:
    y = labels(two_way, 2)
    for model in (EloLogitModel(n_outcomes=2), small_gbm(2), MarketModel("bench_close", "shin", 2)):
        p = model.fit(two_way, y).predict_proba(two_way)
        assert p.shape == (two_way.height, 2)
        np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert rps(EloLogitModel(n_outcomes=2).fit(two_way, y).predict_proba(two_way), y) < rps(
        BaseRateModel(2).fit(two_way, y).predict_proba(two_way), y
    )


def test_a_model_trained_on_shuffled_labels_scores_no_better_than_the_base_rate(soccer: pl.DataFrame) -> None:
    """If shuffled labels beat the base rate, the model is reading the answer from somewhere it should not."""
    train, test = soccer.filter(pl.col("season") < "2013-2014"), soccer.filter(pl.col("season") >= "2013-2014")
    shuffled = np.random.default_rng(0).permutation(labels(train))
    y_test = labels(test)
    base = rps(BaseRateModel().fit(train, shuffled).predict_proba(test), y_test)
    for model in (small_gbm(), EloLogitModel()):
        assert rps(model.fit(train, shuffled).predict_proba(test), y_test) >= base - 0.002
    assert rps(small_gbm().fit(train, labels(train)).predict_proba(test), y_test) < base - 0.01


def test_rows_a_model_cannot_price_get_the_base_rate_fallback_and_are_reported(soccer: pl.DataFrame) -> None:
    broken = soccer.with_columns(
        pl.when(pl.col("event_id") % 10 == 0)
        .then(None)
        .otherwise(pl.col("bench_ps_close_home"))
        .alias("bench_ps_close_home"),
        pl.when(pl.col("event_id") % 10 == 1)
        .then(1.0)
        .otherwise(pl.col("bench_ps_close_draw"))
        .alias("bench_ps_close_draw"),
    )
    model = MarketModel().fit(broken, labels(broken))
    p = model.predict_proba(broken)
    fallback = model.fallback_rows(broken)
    assert fallback.sum() == broken.filter(pl.col("event_id") % 10 <= 1).height
    np.testing.assert_allclose(p[fallback], np.tile(model.fallback_, (int(fallback.sum()), 1)))


def test_expanding_season_folds_never_train_on_the_test_season_or_later(soccer: pl.DataFrame) -> None:
    seasons = soccer.get_column("season").to_numpy()
    for gap in (0, 1):
        folds = season_folds(seasons, min_train_seasons=1, gap=gap)
        assert folds
        for fold in folds:
            assert (seasons[fold.test_index] == fold.test_season).all()
            assert (seasons[fold.train_index] < fold.test_season).all()
            train_seasons = sorted(set(seasons[fold.train_index].tolist()))
            all_before = [s for s in sorted(set(seasons.tolist())) if s < fold.test_season]
            assert train_seasons == all_before[: len(all_before) - gap]


def test_walk_forward_fits_each_season_only_on_earlier_results(soccer: pl.DataFrame) -> None:
    """A spy model records the latest kickoff it was trained on; it must precede every row it then predicts."""
    seen: list[tuple[float, float]] = []

    class Spy(BaseRateModel):
        name = "spy_walk_forward"

        def _fit(self, X: pl.DataFrame, y: np.ndarray) -> None:
            super()._fit(X, y)
            self.last_ = X.get_column("kickoff_utc").dt.epoch("s").max()

        def _predict_proba(self, X: pl.DataFrame) -> np.ndarray:
            seen.append((float(self.last_), float(X.get_column("kickoff_utc").dt.epoch("s").min())))
            return super()._predict_proba(X)

    y = labels(soccer)
    mask = (soccer.get_column("season") >= "2013-2014").to_numpy()
    for refit in (None, 14.0):
        seen.clear()
        walk_forward_predict(
            ModelSpec("spy", Spy, refit_days=refit),
            soccer,
            y,
            labelled=np.ones(soccer.height, dtype=bool),
            predict_mask=mask,
            n_outcomes=3,
            result_delay_hours=2.0,
        )
        assert seen
        assert all(last + 2 * 3600 <= first for last, first in seen)


def test_calibration_covers_the_folds_rows_and_auto_picks_a_method(soccer: pl.DataFrame) -> None:
    """Row bookkeeping only; that the calibrator sees nothing but honest out-of-fold predictions is asserted value
    for value in tests/test_leakage_modeling.py::test_calibration_is_fitted_only_on_out_of_fold_predictions."""
    y = labels(soccer)
    _oof, covered, folds = out_of_fold_predict(
        small_gbm(), soccer, y, seasons=soccer.get_column("season").to_numpy(), min_train_seasons=2, max_folds=4
    )
    seasons = soccer.get_column("season").to_numpy()
    assert covered.sum() == sum(f.test_index.size for f in folds)
    assert not covered[seasons < sorted(set(seasons.tolist()))[2]].any()  # earliest seasons have no honest OOF
    model = CalibratedModel(small_gbm(), method="isotonic", min_train_seasons=2, max_folds=4).fit(soccer, y)
    assert model.oof_rows_ == int(covered.sum())
    assert model.method_ == "isotonic"
    chosen = CalibratedModel(small_gbm(), method="auto").fit(soccer, y)
    assert chosen.method_ in {"none", "platt", "isotonic"}


def test_model_classes_are_rebuildable_by_name() -> None:
    names = ("market", "base_rates", "feature_probabilities", "elo_logit", "dixon_coles", "gbm", "calibrated")
    for name in (*names, "market_blend"):
        assert get_model_class(name).name == name
    with pytest.raises(KeyError, match="unknown model"):
        get_model_class("nope")


def test_get_params_returns_constructor_arguments_and_set_params_changes_them() -> None:
    model = CalibratedModel(small_gbm(), method="platt")
    params = model.get_params()
    assert params["method"] == "platt"
    assert params["base__n_estimators"] == 40
    model.set_params(base__n_estimators=7, method="none")
    assert model.base.get_params()["n_estimators"] == 7
    assert model.clone().get_params()["base__n_estimators"] == 7


def test_evaluation_scores_every_model_on_the_same_rows_against_both_anchors(soccer: pl.DataFrame) -> None:
    specs = [
        ModelSpec("market_close_shin", lambda: MarketModel("bench_ps_close"), anchor=True),
        ModelSpec("market_pre_shin", lambda: MarketModel("bench_ps_open"), anchor=True),
        ModelSpec("base_rates", BaseRateModel),
        ModelSpec("elo_logit", EloLogitModel),
    ]
    report = evaluate_frame(soccer, sport="soccer", specs=specs, first_season="2013-2014")
    assert set(report.table.get_column("rows").to_list()) == {report.rows}
    assert report.rows == soccer.filter(pl.col("season") >= "2013-2014").height
    assert {"d_rps_close", "d_rps_pre_low", "d_log_loss_close_high"} <= set(report.table.columns)
    close = report.table.filter(pl.col("model") == "market_close_shin").row(0, named=True)
    assert close["d_rps_close"] == 0.0
    assert "| elo_logit |" in format_markdown(report)


def test_the_earliest_season_is_never_scored_because_walk_forward_needs_a_past(soccer: pl.DataFrame) -> None:
    """Data that starts after the default first season must not score its first season on uniform fallbacks."""
    specs = [
        ModelSpec("market_close_shin", lambda: MarketModel("bench_ps_close"), anchor=True),
        ModelSpec("market_pre_shin", lambda: MarketModel("bench_ps_open"), anchor=True),
        ModelSpec("base_rates", BaseRateModel),
    ]
    earliest = min(soccer.get_column("season").to_list())
    report = evaluate_frame(soccer, sport="soccer", specs=specs, first_season=earliest)
    assert earliest not in report.seasons
    assert report.rows == soccer.filter(pl.col("season") > earliest).height
    assert all(count == 0 for count in report.fallback_rows.values())
