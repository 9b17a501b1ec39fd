"""The market-implied grid fitted to the sharp book's Asian handicap as well (issue 18): the one fit the backtest and
the live run share (``modeling.market_implied.fit_market_goals``), and the choice of the AH line it is fitted to."""

from __future__ import annotations

import numpy as np
import polars as pl

from betpipe.betting.markets import implied_grid
from betpipe.modeling.market_implied import fit_market_goals, fit_market_grid, main_handicap
from betpipe.modeling.score_grid import dixon_coles_grid


def test_prices_from_one_grid_are_reproduced_with_the_handicap_among_them() -> None:
    """1X2, O/U 2.5 and AH -1 all read off one Dixon-Coles grid: four equations the fit can meet at once."""
    truth = dixon_coles_grid([1.7, 1.1], [0.9, 1.3], [-0.05, 0.08], max_goals=10)
    p1x2 = truth.one_x_two()
    over = truth.totals(2.5).no_push_probability
    ah_line = np.array([-1.0, 0.5])
    p_ah = np.array([truth[[i]].asian_handicap(ah_line[i]).no_push_probability[0] for i in range(2)])
    goals = fit_market_goals(p1x2, over, ah_line=ah_line, p_ah_home=p_ah)
    grid = goals.grid()
    assert np.abs(grid.one_x_two() - p1x2).max() < 1e-7
    assert np.abs(grid.totals(2.5).no_push_probability - over).max() < 1e-7
    assert np.abs(grid.asian_handicap(ah_line).no_push_probability - p_ah).max() < 1e-7
    assert goals.converged.all()


def test_a_handicap_price_that_disagrees_moves_the_grid_toward_it() -> None:
    """The AH price is an equation of its own: the fitted grid's AH sits closer to it than the grid without it."""
    base = dixon_coles_grid([1.5], [1.1], [0.0], max_goals=10)
    p1x2, over = base.one_x_two(), base.totals(2.5).no_push_probability
    p_ah = base.asian_handicap(-1.0).no_push_probability + 0.04  # the sharp AH thinks the home side wins bigger
    without = implied_grid(p1x2, over).asian_handicap(-1.0).no_push_probability
    with_ah = implied_grid(p1x2, over, ah_line=[-1.0], p_ah_home=p_ah).asian_handicap(-1.0).no_push_probability
    assert abs(with_ah[0] - p_ah[0]) < abs(without[0] - p_ah[0]) - 0.01


def test_no_handicap_or_a_quarter_line_leaves_the_fit_as_it_was() -> None:
    """NaN AH, a missing AH and a quarter line (not used: its price mixes two lines) give the 1X2 + O/U grid."""
    p1x2 = np.array([[0.5, 0.27, 0.23], [0.3, 0.3, 0.4]])
    over = np.array([0.55, np.nan])
    plain = fit_market_grid(p1x2, over).probabilities
    nan = fit_market_grid(p1x2, over, ah_line=[np.nan, np.nan], p_ah_home=[np.nan, np.nan]).probabilities
    quarter = fit_market_grid(p1x2, over, ah_line=[-0.25, 0.75], p_ah_home=[0.6, 0.4]).probabilities
    np.testing.assert_array_equal(plain, nan)
    np.testing.assert_array_equal(plain, quarter)
    # the second row has no O/U: with a half-line AH it is fitted (1X2 + AH, rho free), no longer from the 1X2 alone
    half = fit_market_grid(p1x2, over, ah_line=[np.nan, 0.5], p_ah_home=[np.nan, 0.62]).probabilities
    np.testing.assert_array_equal(plain[0], half[0])
    assert not np.array_equal(plain[1], half[1])


def test_main_handicap_is_the_whole_or_half_line_nearest_even() -> None:
    quotes = pl.DataFrame(
        {
            "event_id": [1, 1, 1, 1, 1, 1, 2, 2, 3, 3],
            "line": [-0.5, -0.5, -1.0, -1.0, -0.75, -0.75, 0.25, 0.25, 0.0, 0.0],
            "selection": ["home", "away"] * 5,
            "price": [1.80, 2.10, 2.05, 1.85, 1.95, 1.95, 1.90, 1.90, 2.00, 1.90],
        }
    )
    line, p_home = main_handicap(quotes, [3, 1, 2, 9], "multiplicative")
    # event 1: -0.75 is the evenest but a quarter line; of -0.5 (0.538) and -1 (0.474), -1 is nearer 1/2
    assert line[1] == -1.0
    assert p_home[1] == (1 / 2.05) / (1 / 2.05 + 1 / 1.85)
    assert line[0] == 0.0
    assert abs(p_home[0] - (1 / 2.0) / (1 / 2.0 + 1 / 1.9)) < 1e-15
    assert np.isnan([line[2], p_home[2]]).all()  # only a quarter line
    assert np.isnan([line[3], p_home[3]]).all()  # no quotes at all
