"""Scoring rules against hand-computed values, so every figure in docs/results.md rests on checked arithmetic."""

from __future__ import annotations

import numpy as np
import pytest

from betpipe.modeling.metrics import (
    accuracy,
    bootstrap_mean_ci,
    brier,
    brier_rows,
    ece,
    log_loss,
    paired_bootstrap_ci,
    reliability_svg,
    reliability_table,
    rps,
    rps_rows,
)


def test_rps_matches_the_evaluation_formula_for_each_outcome() -> None:
    """RPS = ((P_H − O_H)² + (P_H + P_D − O_H − O_D)²) / 2 with outcomes ordered home, draw, away."""
    p = np.array([[0.5, 0.3, 0.2]] * 3)
    got = rps_rows(p, np.array([0, 1, 2]))
    expected = [((0.5 - 1) ** 2 + (0.8 - 1) ** 2) / 2, ((0.5 - 0) ** 2 + (0.8 - 1) ** 2) / 2, (0.5**2 + 0.8**2) / 2]
    np.testing.assert_allclose(got, expected)


def test_rps_rewards_near_misses_that_log_loss_ignores() -> None:
    """Putting mass on the draw is closer to a home win than putting it on the away side."""
    y = np.array([0])
    assert rps(np.array([[0.4, 0.5, 0.1]]), y) < rps(np.array([[0.4, 0.1, 0.5]]), y)


def test_log_loss_uses_natural_log_and_clips_zero_probabilities() -> None:
    p = np.array([[0.25, 0.25, 0.5], [0.0, 0.5, 0.5]])
    assert log_loss(p[:1], np.array([2])) == pytest.approx(np.log(2))
    assert log_loss(p[1:], np.array([0])) == pytest.approx(-np.log(1e-15))


def test_brier_sums_over_outcomes_but_is_the_home_error_for_two_way() -> None:
    assert brier(np.array([[0.5, 0.3, 0.2]]), np.array([0])) == pytest.approx(0.25 + 0.09 + 0.04)
    assert brier_rows(np.array([[0.7, 0.3]]), np.array([1]))[0] == pytest.approx(0.49)


def test_ece_of_a_perfectly_calibrated_bin_is_zero_and_of_a_biased_one_is_the_bias() -> None:
    y = np.array([0] * 6 + [1] * 4)
    calibrated = np.tile([0.6, 0.4], (10, 1))
    assert ece(calibrated, y) == pytest.approx(0.0, abs=1e-12)
    biased = np.tile([0.8, 0.2], (10, 1))  # home predicted 0.8, seen 0.6; away predicted 0.2, seen 0.4
    assert ece(biased, y) == pytest.approx(0.2)


def test_reliability_table_counts_every_row_once_per_outcome() -> None:
    rng = np.random.default_rng(3)
    p = rng.dirichlet([2, 2, 2], 500)
    table = reliability_table(p, rng.integers(0, 3, 500))
    assert sorted(set(table.get_column("outcome").to_list())) == [0, 1, 2]
    assert int(table.get_column("rows").sum()) == 1500
    assert "<svg" in reliability_svg(table, title="t")


def test_accuracy_counts_the_most_probable_outcome() -> None:
    p = np.array([[0.5, 0.3, 0.2], [0.2, 0.3, 0.5]])
    assert accuracy(p, np.array([0, 0])) == 0.5


def test_bootstrap_ci_is_deterministic_with_seed_zero_and_brackets_the_mean() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(0.2, 0.1, 400), rng.normal(0.21, 0.1, 400)
    first, second = paired_bootstrap_ci(a, b), paired_bootstrap_ci(a, b, n=2000, seed=0)
    assert first == second
    assert first.low < first.mean < first.high
    assert first.mean == pytest.approx(float((a - b).mean()))


def test_bootstrap_sees_a_clear_difference_and_not_a_null_one() -> None:
    rng = np.random.default_rng(2)
    base = rng.normal(0.2, 0.05, 2000)
    assert paired_bootstrap_ci(base - 0.01, base).excludes_zero
    noise = rng.normal(0.0, 0.05, 2000)
    assert not paired_bootstrap_ci(base + noise - noise.mean(), base).excludes_zero


def test_bootstrap_of_several_columns_equals_each_column_alone() -> None:
    rng = np.random.default_rng(4)
    d = rng.normal(0, 1, (300, 2))
    joint = bootstrap_mean_ci(d, n=300)
    alone = bootstrap_mean_ci(d[:, 1], n=300)[0]
    assert (joint[1].mean, joint[1].low, joint[1].high) == pytest.approx((alone.mean, alone.low, alone.high))


def test_nan_probabilities_are_an_error_not_a_silently_skipped_row() -> None:
    with pytest.raises(ValueError, match="non-finite"):
        rps(np.array([[np.nan, 0.5, 0.5]]), np.array([0]))
    with pytest.raises(ValueError, match="class indices"):
        rps(np.array([[0.2, 0.3, 0.5]]), np.array([3]))
