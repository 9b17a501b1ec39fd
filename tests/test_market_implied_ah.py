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


def test_a_quarter_lines_fair_prices_are_two_way_and_zero_profit() -> None:
    """Why a de-margined quarter-line quote is an equation for the fit: the grid's no-push probabilities of the two
    sides sum to 1 (1/o_home + 1/o_away = 1 at the fair prices o = 1/no_push), and a unit stake at that price
    expects zero profit under half-stake settlement on both sides."""
    grid = dixon_coles_grid([1.7, 1.1, 0.8], [0.9, 1.3, 2.0], [-0.05, 0.08, 0.0], max_goals=10)
    for line in (-1.75, -0.75, -0.25, 0.25, 1.25):
        home, away = grid.asian_handicap(line, "home"), grid.asian_handicap(line, "away")
        assert (home.half_won + home.half_lost).min() > 0.01  # a real quarter line: half grades carry weight
        np.testing.assert_allclose(1.0 / home.fair_odds + 1.0 / away.fair_odds, 1.0, atol=1e-12)
        np.testing.assert_allclose(home.expected_profit(home.fair_odds), 0.0, atol=1e-12)
        np.testing.assert_allclose(away.expected_profit(away.fair_odds), 0.0, atol=1e-12)
        # the win/loss weights are what a half-stake settlement pays: half a win, half a loss
        np.testing.assert_allclose(home.win_weight, away.loss_weight, atol=1e-12)


def test_a_quarter_line_is_fitted_like_any_other_line() -> None:
    """Prices read off one Dixon-Coles grid with the AH at a quarter line: the fit reproduces the quarter line's
    no-push probability, with O/U (four consistent equations: the true grid comes back) and without it (1X2 + AH, three
    equations on the goal difference alone: met exactly, though the total-goals level is then only weakly pinned)."""
    truth = dixon_coles_grid([1.7, 1.1, 0.9], [0.9, 1.3, 1.6], [-0.05, 0.08, 0.0], max_goals=10)
    p1x2 = truth.one_x_two()
    over = truth.totals(2.5).no_push_probability
    ah_line = np.array([-0.75, -0.25, 0.25])
    p_ah = truth.asian_handicap(ah_line).no_push_probability
    for p_over in (over, np.full(3, np.nan)):
        goals = fit_market_goals(p1x2, p_over, ah_line=ah_line, p_ah_home=p_ah)
        grid = goals.grid()
        assert goals.converged.all()
        assert np.abs(grid.asian_handicap(ah_line).no_push_probability - p_ah).max() < 1e-6
        assert np.abs(grid.one_x_two() - p1x2).max() < 1e-6
        if np.isfinite(p_over).all():
            np.testing.assert_allclose(goals.home_goals, [1.7, 1.1, 0.9], atol=1e-6)
            np.testing.assert_allclose(goals.away_goals, [0.9, 1.3, 1.6], atol=1e-6)
            np.testing.assert_allclose(goals.rho, [-0.05, 0.08, 0.0], atol=1e-6)
    # without O/U the quarter line is what fixes the third unknown: the 1X2 alone gives another grid
    alone = fit_market_grid(p1x2, np.full(3, np.nan)).asian_handicap(ah_line).no_push_probability
    assert np.abs(alone - p_ah).max() > 1e-3


def test_a_quarter_line_price_that_disagrees_moves_the_grid_toward_it() -> None:
    base = dixon_coles_grid([1.5, 1.2], [1.1, 1.3], [0.0, 0.0], max_goals=10)
    p1x2, over = base.one_x_two(), base.totals(2.5).no_push_probability
    ah_line = np.array([-0.25, 0.75])
    p_ah = base.asian_handicap(ah_line).no_push_probability + np.array([0.04, -0.04])
    without = implied_grid(p1x2, over).asian_handicap(ah_line).no_push_probability
    with_ah = implied_grid(p1x2, over, ah_line=ah_line, p_ah_home=p_ah).asian_handicap(ah_line).no_push_probability
    assert (np.abs(with_ah - p_ah) < np.abs(without - p_ah) - 0.01).all()


def test_no_handicap_or_a_line_off_the_quarter_grid_leaves_the_fit_as_it_was() -> None:
    """NaN AH, a missing AH and a line that is no multiple of 0.25 (a typo in the source) give the 1X2 + O/U grid."""
    p1x2 = np.array([[0.5, 0.27, 0.23], [0.3, 0.3, 0.4]])
    over = np.array([0.55, np.nan])
    plain = fit_market_grid(p1x2, over).probabilities
    nan = fit_market_grid(p1x2, over, ah_line=[np.nan, np.nan], p_ah_home=[np.nan, np.nan]).probabilities
    typo = fit_market_grid(p1x2, over, ah_line=[-0.3, 0.758], p_ah_home=[0.6, 0.4]).probabilities
    np.testing.assert_array_equal(plain, nan)
    np.testing.assert_array_equal(plain, typo)
    # the second row has no O/U: with an AH (half or quarter) it is fitted (1X2 + AH, rho free), not from the 1X2 alone
    for line in (0.5, 0.25):
        with_ah = fit_market_grid(p1x2, over, ah_line=[np.nan, line], p_ah_home=[np.nan, 0.62]).probabilities
        np.testing.assert_array_equal(plain[0], with_ah[0])
        assert not np.array_equal(plain[1], with_ah[1])


def test_main_handicap_is_the_line_nearest_even_quarter_lines_included() -> None:
    quotes = pl.DataFrame(
        {
            "event_id": [1, 1, 1, 1, 1, 1, 2, 2, 3, 3, 4, 4, 4, 4, 5, 5],
            "line": [-0.5, -0.5, -1.0, -1.0, -0.75, -0.75, 0.25, 0.25, 0.0, 0.0, 0.5, 0.5, 0.25, 0.25, 0.3, 0.3],
            "selection": ["home", "away"] * 8,
            "price": [1.80, 2.10, 2.05, 1.85, 1.97, 1.93, 1.90, 1.90, 2.00, 1.90, 1.95, 1.95, 1.95, 1.95, 1.9, 1.9],
        }
    )
    line, p_home = main_handicap(quotes, [3, 1, 2, 9, 4, 5], "multiplicative")
    # event 1: of -0.5 (0.538), -1 (0.474) and the quarter line -0.75 (0.495), -0.75 is nearest 1/2
    assert line[1] == -0.75
    assert p_home[1] == (1 / 1.97) / (1 / 1.97 + 1 / 1.93)
    assert line[0] == 0.0
    assert abs(p_home[0] - (1 / 2.0) / (1 / 2.0 + 1 / 1.9)) < 1e-15
    assert line[2] == 0.25  # a quarter line alone is the main line
    assert p_home[2] == 0.5
    assert np.isnan([line[3], p_home[3]]).all()  # no quotes at all
    assert line[4] == 0.25  # a tie at 1/2: the smaller handicap, quarter or not
    assert np.isnan([line[5], p_home[5]]).all()  # 0.3 is off the quarter grid
