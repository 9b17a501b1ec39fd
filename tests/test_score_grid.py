"""Score grids and the markets priced from them: settlement semantics, first principles and internal consistency."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.stats import poisson

from betpipe.modeling.score_grid import ScoreGrid, bivariate_poisson_grid, dixon_coles_grid
from betpipe.sports import Grade, grade_selection

LINES = np.arange(-4.0, 4.01, 0.25)
TOTAL_LINES = np.arange(0.0, 7.01, 0.25)
SCORES = list(itertools.product(range(7), range(7)))


def _point_grids(max_goals: int = 10) -> ScoreGrid:
    """One grid per score in SCORES with all its mass on that score."""
    grids = np.zeros((len(SCORES), max_goals + 1, max_goals + 1))
    for n, (home, away) in enumerate(SCORES):
        grids[n, home, away] = 1.0
    return ScoreGrid(grids)


def _as_grade(probabilities: object, n: int) -> Grade:
    values = {grade: float(getattr(probabilities, grade.value)[n]) for grade in Grade}
    (grade,) = [g for g, v in values.items() if v == 1.0]
    assert sum(values.values()) == 1.0
    return grade


def test_every_line_and_score_prices_the_grade_settlement_gives() -> None:
    """A grid sure of one score must put all its mass on the grade ``grade_selection`` settles: 1,617 AH and 1,421
    total (line, score) cells per side, quarter lines included, so pricing and settlement can never disagree."""
    grid = _point_grids()
    for line in LINES:
        for side in ("home", "away"):
            priced = grid.asian_handicap(line, side)
            for n, (home, away) in enumerate(SCORES):
                assert _as_grade(priced, n) == grade_selection("asian_handicap", side, line, home, away), (line, side)
    for line in TOTAL_LINES:
        for side in ("over", "under"):
            priced = grid.totals(line, side)
            for n, (home, away) in enumerate(SCORES):
                assert _as_grade(priced, n) == grade_selection("total", side, line, home, away), (line, side)


def test_lines_may_differ_per_match() -> None:
    """Football-data's AH line changes from match to match: one call prices each match at its own line."""
    grid = dixon_coles_grid([1.2, 1.9, 0.8], [1.1, 0.7, 1.6], -0.05)
    lines = np.array([-0.25, -1.0, 0.75])
    together = grid.asian_handicap(lines)
    for n, line in enumerate(lines):
        alone = grid[[n]].asian_handicap(line)
        assert together.won[n] == alone.won[0]
        assert together.half_lost[n] == alone.half_lost[0]


def test_a_line_that_is_not_a_quarter_is_an_error() -> None:
    grid = dixon_coles_grid([1.2], [1.1])
    with pytest.raises(ValueError, match=r"line 2\.1 is not a multiple of 0\.25"):
        grid.totals(2.1)
    with pytest.raises(ValueError, match="not 'home' or 'away'"):
        grid.asian_handicap(0.0, "draw")


def test_poisson_grid_matches_first_principles_including_the_censored_tail() -> None:
    """Cells below the edge are products of Poisson pmfs; the edge row/column hold P(X >= G-1); each grid sums to 1."""
    lam, mu = np.array([0.3, 1.4, 3.8]), np.array([2.9, 1.1, 0.2])
    grid = dixon_coles_grid(lam, mu, max_goals=8)
    p = grid.probabilities
    np.testing.assert_allclose(p.sum(axis=(1, 2)), 1.0, atol=1e-14)
    for n in range(3):
        np.testing.assert_allclose(p[n, 3, 5], poisson.pmf(3, lam[n]) * poisson.pmf(5, mu[n]), rtol=1e-12)
        np.testing.assert_allclose(p[n, 8, :].sum(), poisson.sf(7, lam[n]), rtol=1e-10)
        np.testing.assert_allclose(p[n, :, 8].sum(), poisson.sf(7, mu[n]), rtol=1e-10)
    # over 2.5 from the Poisson(lam + mu) total directly
    np.testing.assert_allclose(grid.totals(2.5).won, poisson.sf(2, lam + mu), rtol=1e-12)


def test_dixon_coles_tau_moves_only_low_scores_and_keeps_the_marginals() -> None:
    lam, mu, rho = np.array([1.5]), np.array([1.1]), -0.1
    plain, adjusted = dixon_coles_grid(lam, mu), dixon_coles_grid(lam, mu, rho)
    ratio = adjusted.probabilities[0] / plain.probabilities[0]
    np.testing.assert_allclose(ratio[0, 0], 1 - lam[0] * mu[0] * rho)
    np.testing.assert_allclose(ratio[0, 1], 1 + lam[0] * rho)
    np.testing.assert_allclose(ratio[1, 0], 1 + mu[0] * rho)
    np.testing.assert_allclose(ratio[1, 1], 1 - rho)
    untouched = np.ones_like(ratio, dtype=bool)
    untouched[:2, :2] = False
    np.testing.assert_allclose(ratio[untouched], 1.0)
    np.testing.assert_allclose(adjusted.home_goals, plain.home_goals, atol=1e-15)
    np.testing.assert_allclose(adjusted.away_goals, plain.away_goals, atol=1e-15)
    assert adjusted.one_x_two()[0, 1] > plain.one_x_two()[0, 1]  # rho < 0 adds draws


def test_bivariate_poisson_matches_its_definition() -> None:
    """P(x, y) = sum_k P1(x-k) P2(y-k) P3(k), marginals Poisson(l1 + l3) and Poisson(l2 + l3)."""
    l1, l2, l3 = 1.3, 0.9, 0.15
    grid = bivariate_poisson_grid([l1], [l2], [l3], max_goals=12).probabilities[0]
    for x, y in [(0, 0), (1, 0), (2, 3), (5, 1)]:
        direct = sum(poisson.pmf(x - k, l1) * poisson.pmf(y - k, l2) * poisson.pmf(k, l3) for k in range(min(x, y) + 1))
        np.testing.assert_allclose(grid[x, y], direct, rtol=1e-12)
    np.testing.assert_allclose(grid.sum(axis=1), poisson.pmf(np.arange(13), l1 + l3) + _tail(12, l1 + l3), atol=1e-14)
    np.testing.assert_allclose(grid.sum(), 1.0, atol=1e-14)
    independent = dixon_coles_grid([l1 + l3], [l2 + l3], max_goals=12)
    covariance = _covariance(grid)
    assert covariance == pytest.approx(l3, rel=1e-6)
    assert _covariance(independent.probabilities[0]) == pytest.approx(0.0, abs=1e-9)


def _tail(edge: int, rate: float) -> np.ndarray:
    out = np.zeros(edge + 1)
    out[-1] = poisson.sf(edge, rate)
    return out


def _covariance(grid: np.ndarray) -> float:
    i, j = np.indices(grid.shape)
    return float((grid * i * j).sum() - (grid * i).sum() * (grid * j).sum())


def test_markets_are_consistent_with_each_other() -> None:
    """Double chance, draw-no-bet, AH 0 and AH -0.5 all follow from 1X2; BTTS from the clean-sheet cells."""
    grid = dixon_coles_grid([0.6, 1.4, 2.7], [2.2, 1.3, 0.4], [0.05, -0.08, 0.0])
    h, d, a = grid.one_x_two().T
    np.testing.assert_allclose(h + d + a, 1.0, atol=1e-14)
    np.testing.assert_allclose(grid.double_chance(), np.column_stack([h + d, d + a, h + a]))
    ah0 = grid.asian_handicap(0.0)
    np.testing.assert_allclose(ah0.won, h, atol=1e-14)
    np.testing.assert_allclose(ah0.void, d, atol=1e-14)
    np.testing.assert_allclose(ah0.no_push_probability, grid.draw_no_bet()[:, 0], atol=1e-14)
    np.testing.assert_allclose(grid.asian_handicap(-0.5).won, h, atol=1e-14)
    np.testing.assert_allclose(grid.asian_handicap(-0.5, "away").won, d + a, atol=1e-14)
    p = grid.probabilities
    np.testing.assert_allclose(grid.btts(), p[:, 1:, 1:].sum(axis=(1, 2)), atol=1e-14)
    np.testing.assert_allclose(grid.correct_score(2, 1), p[:, 2, 1])
    assert (grid.correct_score(40, 0) == 0).all()
    quarter = grid.totals(2.25)
    np.testing.assert_allclose(quarter.half_lost, grid.total_goals[:, 2], atol=1e-15)
    np.testing.assert_allclose(quarter.won, grid.totals(2.5).won, atol=1e-15)


def test_fair_odds_have_zero_expected_profit_under_settlement_rules() -> None:
    """At ``fair_odds`` a bet's expected profit (won, half won, void, half lost, lost) is zero, quarter lines too."""
    grid = dixon_coles_grid([1.7, 1.0], [0.9, 1.3], -0.06)
    for line in (-1.75, -0.25, 0.0, 0.5, 1.25):
        priced = grid.asian_handicap(line)
        np.testing.assert_allclose(priced.expected_profit(priced.fair_odds), 0.0, atol=1e-12)
        total = sum(getattr(priced, g.value) for g in Grade)
        np.testing.assert_allclose(total, 1.0, atol=1e-13)
