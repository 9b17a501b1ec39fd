"""The estimator contract at predict time, and thread pools sized from settings.

A model that is not fitted, or a frame that lacks a column the model was fitted with, must fail loudly with a
message naming the problem: a missing column read as all-NaN would silently price every row from the fallback,
which is a serving risk. Only columns a model documents as optional (market prices) may be absent.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError

from betpipe.config import Settings
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
    labels_from_outcome,
)
from betpipe.modeling.synthetic import synthetic_matrix


@pytest.fixture(scope="module")
def soccer() -> pl.DataFrame:
    return synthetic_matrix(seasons=4, teams=12, seed=5)


def y_of(frame: pl.DataFrame) -> np.ndarray:
    return labels_from_outcome(frame.get_column("outcome").to_numpy(), 3)


def small_gbm(**kwargs: object) -> GradientBoostingModel:
    return GradientBoostingModel(n_estimators=20, min_data_in_leaf=20, **kwargs)  # type: ignore[arg-type]


def every_model() -> list[BaseProbabilityModel]:
    return [
        MarketModel("bench_ps_open", "shin"),
        BaseRateModel(),
        FeatureProbabilityModel("f_market_p_home", "f_market_p_draw", "f_market_p_away", n_outcomes=3),
        EloLogitModel(),
        DixonColesModel(),
        small_gbm(),
        CalibratedModel(small_gbm(), method="platt"),
        MarketBlendModel(small_gbm(), "bench_ps_open", "shin"),
    ]


@pytest.mark.parametrize("model", every_model(), ids=lambda m: type(m).__name__)
def test_every_model_is_a_scikit_learn_estimator_that_refuses_to_predict_unfitted(
    model: BaseProbabilityModel, soccer: pl.DataFrame
) -> None:
    assert isinstance(model, BaseEstimator)
    with pytest.raises(NotFittedError):
        model.predict_proba(soccer)
    copy = clone(model)
    assert copy is not model
    assert copy.get_params(deep=False).keys() == model.get_params(deep=False).keys()
    fitted = model.fit(soccer, y_of(soccer))
    assert list(fitted.feature_names_in_) == [*fitted._input_columns()[0], *fitted._input_columns()[1]]
    assert fitted.n_features_in_ == len(fitted.feature_names_in_)


@pytest.mark.parametrize(
    ("model", "dropped"),
    [
        (small_gbm(), "f_elo_diff"),
        (CalibratedModel(small_gbm(), method="platt"), "f_form_goals_5_home"),
        (MarketBlendModel(small_gbm()), "f_rest_days_home"),
        (EloLogitModel(), "f_elo_diff"),
        (DixonColesModel(), "away_team_id"),
        (
            FeatureProbabilityModel("f_elo_p_home", n_outcomes=3, draw="f_market_p_draw", away="f_market_p_away"),
            "f_elo_p_home",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else type(v).__name__,
)
def test_a_missing_required_column_is_a_clear_error_not_silent_nans(
    model: BaseProbabilityModel, dropped: str, soccer: pl.DataFrame, tmp_path: Path
) -> None:
    model.fit(soccer, y_of(soccer))
    with pytest.raises(ValueError, match=f"lacks: .*{dropped}"):
        model.predict_proba(soccer.drop(dropped))
    model.save_artifact(tmp_path / "m")
    loaded = BaseProbabilityModel.load_artifact(tmp_path / "m")  # the check survives persistence
    with pytest.raises(ValueError, match=dropped):
        loaded.predict_proba(soccer.drop(dropped))
    assert np.array_equal(loaded.predict_proba(soccer), model.predict_proba(soccer))


def test_market_prices_are_documented_optional_and_their_absence_means_the_fallback(soccer: pl.DataFrame) -> None:
    y = y_of(soccer)
    no_prices = soccer.drop([c for c in soccer.columns if c.startswith(("bench_ps_open", "f_market_p"))])
    market = MarketModel("bench_ps_open", "shin").fit(soccer, y)
    assert market.fallback_rows(no_prices).all()
    assert np.allclose(market.predict_proba(no_prices), market.fallback_)
    blend = MarketBlendModel(small_gbm()).fit(soccer, y)
    np.testing.assert_allclose(blend.predict_proba(no_prices), blend.base_.predict_proba(no_prices), rtol=1e-12)


def test_the_gbm_uses_the_configured_thread_count_unless_given_one() -> None:
    """Run in a fresh interpreter: OpenMP pools are process-global, and other tests in a pytest-xdist worker load,
    size and restore them (threadpoolctl contexts, LightGBM's own ``num_threads``), so an in-process check of
    every pool would depend on which test files shared the worker."""
    script = textwrap.dedent(
        """
        from threadpoolctl import threadpool_info
        from betpipe.config import ComputeSettings
        from betpipe.modeling import GradientBoostingModel
        from betpipe.threads import available_cpus, configure_threads, configured_threads
        import lightgbm  # noqa: F401  (its OpenMP pool must exist before the check)

        assert configure_threads(ComputeSettings(threads=1)) == 1
        assert configured_threads() == 1
        assert GradientBoostingModel()._lgb_params()["num_threads"] == 1
        assert GradientBoostingModel(num_threads=2)._lgb_params()["num_threads"] == 2
        openmp = [pool for pool in threadpool_info() if pool["user_api"] == "openmp"]
        assert openmp, "no OpenMP pool loaded"
        assert all(pool["num_threads"] == 1 for pool in openmp), openmp
        configure_threads(ComputeSettings(threads=0))
        assert configured_threads() == available_cpus()
        print("ok")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"


def test_thread_count_is_a_setting_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BETPIPE_COMPUTE__THREADS", "3")
    assert Settings().compute.threads == 3
    monkeypatch.setenv("BETPIPE_COMPUTE__THREADS", "-1")
    with pytest.raises(ValueError, match="threads"):
        Settings()
