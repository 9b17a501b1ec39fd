"""Goal models give score grids: Dixon–Coles exposes its grid, the bivariate Poisson model fits and recovers l3."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy.stats import poisson

from betpipe.modeling import BaseProbabilityModel, DixonColesModel
from betpipe.modeling.bivariate_poisson import BivariatePoissonModel, _log_kernel
from betpipe.modeling.synthetic import synthetic_matrix
from betpipe.sports import outcome_codes


def _bivariate_frame(l3: float, *, seed: int = 3, teams: int = 16, rounds: int = 30) -> pl.DataFrame:
    """Scores drawn from a bivariate Poisson with shared component l3 and known team strengths."""
    rng = np.random.default_rng(seed)
    strength = rng.normal(0.0, 0.3, teams)
    n = teams * (teams - 1) // 2 * rounds // 7
    home = rng.integers(0, teams, n)
    away = (home + rng.integers(1, teams, n)) % teams
    l1 = np.exp(0.1 + 0.25 + strength[home] - strength[away])
    l2 = np.exp(0.1 + strength[away] - strength[home])
    shared = rng.poisson(l3, n)
    hs, as_ = rng.poisson(l1) + shared, rng.poisson(l2) + shared
    start = datetime(2020, 8, 1, 15, tzinfo=UTC)
    return pl.DataFrame(
        {
            "event_id": np.arange(n),
            "season": "2020-2021",
            "kickoff_utc": [start + timedelta(hours=6 * i) for i in range(n)],
            "home_team_id": home.astype(np.int64),
            "away_team_id": away.astype(np.int64),
            "home_score": hs.astype(np.int64),
            "away_score": as_.astype(np.int64),
            "outcome": outcome_codes(hs, as_),
        }
    ).with_columns(pl.col("kickoff_utc").cast(pl.Datetime("us", "UTC")))


def test_dixon_coles_grid_prices_the_same_1x2_as_predict_proba() -> None:
    frame = synthetic_matrix(seasons=2, teams=10, seed=1)
    model = DixonColesModel().fit(frame, frame.get_column("outcome").to_numpy())
    grid = model.score_grid(frame)
    assert len(grid) == frame.height
    lam, mu = model.expected_goals(frame)
    beyond_ten = poisson.sf(10, lam) + poisson.sf(10, mu)  # predict_proba truncates there, the grid censors
    difference = np.abs(grid.one_x_two() - model.predict_proba(frame)).max(axis=1)
    assert (difference <= beyond_ten + 1e-12).all()
    np.testing.assert_allclose(grid.probabilities.sum(axis=(1, 2)), 1.0, atol=1e-12)
    np.testing.assert_allclose(np.column_stack(grid.expected_goals()), np.column_stack([lam, mu]), atol=1e-6)


def test_log_kernel_gradient_identity_holds() -> None:
    """dP(x, y)/dl1 = P(x-1, y) - P(x, y): the identity the fit's analytic gradient rests on."""
    x, y = np.array([0, 1, 3, 4]), np.array([0, 2, 1, 4])
    l1, l2, l3 = np.full(4, 1.3), np.full(4, 0.8), np.full(4, 0.2)

    def prob(a: float) -> np.ndarray:
        return np.exp(_log_kernel(x, y, l1 + a, l2, l3) - (l1 + a) - l2 - l3)

    numeric = (prob(1e-6) - prob(-1e-6)) / 2e-6
    analytic = np.exp(_log_kernel(x - 1, y, l1, l2, l3) - l1 - l2 - l3) - prob(0.0)
    np.testing.assert_allclose(numeric, analytic, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("l3", [0.02, 0.3])
def test_bivariate_poisson_recovers_the_shared_component(l3: float) -> None:
    frame = _bivariate_frame(l3)
    model = BivariatePoissonModel().fit(frame, frame.get_column("outcome").to_numpy())
    assert model.converged_
    assert np.exp(model.log_l3_) == pytest.approx(l3, abs=0.06)
    assert model.home_ == pytest.approx(0.25, abs=0.1)
    grid = model.score_grid(frame)
    np.testing.assert_allclose(grid.one_x_two(), model.predict_proba(frame), atol=1e-4)
    home, away = model.expected_goals(frame)
    total = (frame["home_score"] + frame["away_score"]).mean()
    assert float((home + away).mean()) == pytest.approx(total, rel=0.03)


def test_bivariate_poisson_round_trips_its_artifact(tmp_path: Path) -> None:
    frame = _bivariate_frame(0.2, rounds=10)
    model = BivariatePoissonModel().fit(frame, frame.get_column("outcome").to_numpy())
    model.save_artifact(tmp_path)
    loaded = BaseProbabilityModel.load_artifact(tmp_path)
    assert isinstance(loaded, BivariatePoissonModel)
    np.testing.assert_array_equal(loaded.score_grid(frame).probabilities, model.score_grid(frame).probabilities)
