"""The market-implied fit: it recovers known expectations from prices of any subset of markets, all rows at once."""

from __future__ import annotations

import numpy as np
import pytest

from betpipe.modeling.market_implied import fit_goal_expectations
from betpipe.modeling.score_grid import dixon_coles_grid


@pytest.fixture(scope="module")
def truth() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    n = 400
    lam, mu = rng.uniform(0.4, 3.2, n), rng.uniform(0.3, 2.6, n)
    rho = np.full(n, -0.06)
    grid = dixon_coles_grid(lam, mu, rho, max_goals=10)
    line = np.round((mu - lam) * 4) / 4  # the quarter line nearest the supremacy, as books quote
    return {
        "lam": lam,
        "mu": mu,
        "rho": rho,
        "p1x2": grid.one_x_two(),
        "p_over": grid.totals(2.5).no_push_probability,
        "p_over_275": grid.totals(2.75).no_push_probability,
        "line": line,
        "p_ah": grid.asian_handicap(line).no_push_probability,
    }


@pytest.mark.parametrize(
    "markets",
    [("p1x2", "p_over"), ("p1x2",), ("p_over", "p_ah"), ("p1x2", "p_over", "p_ah")],
)
def test_recovers_the_expectations_from_any_two_equations(
    truth: dict[str, np.ndarray], markets: tuple[str, ...]
) -> None:
    kwargs: dict[str, object] = {"rho": truth["rho"]}
    if "p1x2" in markets:
        kwargs["p1x2"] = truth["p1x2"]
    if "p_over" in markets:
        kwargs["p_over"] = truth["p_over"]
    if "p_ah" in markets:
        kwargs.update(p_ah_home=truth["p_ah"], ah_line=truth["line"])
    implied = fit_goal_expectations(**kwargs)  # type: ignore[arg-type]
    assert implied.converged.all()
    np.testing.assert_allclose(implied.home_goals, truth["lam"], atol=1e-6)
    np.testing.assert_allclose(implied.away_goals, truth["mu"], atol=1e-6)
    np.testing.assert_allclose(implied.one_x_two(), truth["p1x2"], atol=1e-8)


def test_fits_rho_when_three_equations_pin_it(truth: dict[str, np.ndarray]) -> None:
    implied = fit_goal_expectations(
        p1x2=truth["p1x2"], p_over=truth["p_over"], p_ah_home=truth["p_ah"], ah_line=truth["line"], fit_rho=True
    )
    np.testing.assert_allclose(implied.rho, truth["rho"], atol=1e-5)
    np.testing.assert_allclose(implied.home_goals, truth["lam"], atol=1e-6)


def test_quarter_total_lines_and_missing_markets_per_row(truth: dict[str, np.ndarray]) -> None:
    """Rows missing a market (NaN) use what they have; a row with a single equation is not fitted and says so."""
    p_ah = truth["p_ah"].copy()
    p_ah[:50] = np.nan  # these rows have only O/U 2.75 left: one equation, two unknowns
    implied = fit_goal_expectations(
        p_over=truth["p_over_275"], ou_line=2.75, p_ah_home=p_ah, ah_line=truth["line"], rho=truth["rho"]
    )
    assert not implied.converged[:50].any()
    assert np.isnan(implied.home_goals[:50]).all()
    np.testing.assert_allclose(implied.home_goals[50:], truth["lam"][50:], atol=1e-6)


def test_bad_input_is_a_one_line_error() -> None:
    with pytest.raises(ValueError, match="at least one market"):
        fit_goal_expectations()
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        fit_goal_expectations(p_over=[1.2, 0.5], p_ah_home=[0.5, 0.5], ah_line=[0.0, 0.0])
    with pytest.raises(ValueError, match="sum to 1"):
        fit_goal_expectations(p1x2=[[0.5, 0.3, 0.3]])
    with pytest.raises(ValueError, match="needs its ah_line"):
        fit_goal_expectations(p_over=[0.5], p_ah_home=[0.5])
