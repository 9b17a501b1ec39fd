"""Fair probabilities and edges (betpipe.betting.pricing): the numbers every stake is sized from."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from betpipe.betting import pricing
from betpipe.betting.pricing import (
    edge,
    fair_probabilities,
    is_distribution,
    market_fair_probabilities,
    shrink_toward_market,
)
from betpipe.odds import remove_margin


def _distribution(k_min: int = 2, k_max: int = 4) -> st.SearchStrategy[np.ndarray]:
    weights = st.lists(st.floats(0.02, 1.0), min_size=k_min, max_size=k_max)
    return weights.map(lambda w: np.asarray(w) / np.sum(w))


def test_the_module_examples_run() -> None:
    """The docstring examples are the documentation readers copy; they must stay true."""
    assert doctest.testmod(pricing).failed == 0


def test_edge_is_expected_profit_per_unit() -> None:
    np.testing.assert_allclose(edge([0.55, 0.25, 0.5], [2.0, 4.0, 1.5]), [0.1, 0.0, -0.25])


@pytest.mark.parametrize(
    ("probability", "price"),
    [(0.5, 1.0), (0.5, 0.8), (0.5, np.nan), (0.5, np.inf), (np.nan, 2.0), (-0.1, 2.0), (1.2, 2.0), (0.5, None)],
)
def test_edge_of_invalid_input_is_nan_not_an_exception(probability: float, price: float | None) -> None:
    """A price <= 1 or a broken probability must refuse the bet (NaN), never stop a backtest or give a number."""
    assert np.isnan(edge(probability, price))


def test_edge_broadcasts_one_probability_row_over_many_books() -> None:
    out = edge(np.array([0.5, 0.5]), np.array([[2.1, 1.9], [2.0, 0.0]]))
    np.testing.assert_allclose(out, [[0.05, -0.05], [0.0, np.nan]])


def test_is_distribution_rejects_lost_outcomes_nan_and_negative_mass() -> None:
    rows = np.array([[0.5, 0.5], [0.5, 0.4], [np.nan, 1.0], [1.1, -0.1], [0.5, 0.5 + 1e-9]])
    assert is_distribution(rows).tolist() == [True, False, False, False, True]


def test_shrink_weight_zero_is_the_model_and_weight_one_the_market() -> None:
    model, market = np.array([0.6, 0.1, 0.3]), np.array([0.5, 0.2, 0.3])
    np.testing.assert_allclose(shrink_toward_market(model, market, 0.0), model)
    np.testing.assert_allclose(shrink_toward_market(model, market, 1.0), market)


@given(_distribution(3, 3), _distribution(3, 3), st.floats(0.0, 1.0))
def test_shrink_is_a_linear_pool_of_multinomial_logits(model: np.ndarray, market: np.ndarray, w: float) -> None:
    """log(p_i / p_0) is the weighted average of the two sources' log-ratios: the definition of the pool."""
    pooled = shrink_toward_market(model, market, w)
    assert pooled.sum() == pytest.approx(1.0)
    expected = (1 - w) * np.log(model[1:] / model[0]) + w * np.log(market[1:] / market[0])
    np.testing.assert_allclose(np.log(pooled[1:] / pooled[0]), expected, atol=1e-9)


@given(st.floats(0.02, 0.98), st.floats(0.02, 0.98), st.floats(0.0, 1.0))
def test_shrink_of_a_two_way_market_averages_log_odds_and_lies_between(m: float, q: float, w: float) -> None:
    p = shrink_toward_market(np.array([m, 1 - m]), np.array([q, 1 - q]), w)[0]
    logit = np.log(p / (1 - p))
    assert logit == pytest.approx((1 - w) * np.log(m / (1 - m)) + w * np.log(q / (1 - q)), abs=1e-9)
    assert min(m, q) - 1e-12 <= p <= max(m, q) + 1e-12


def test_shrink_keeps_zeros_and_refuses_sources_with_nothing_in_common() -> None:
    """A zero in either source stays zero; two sources that agree on no outcome have no pool, so NaN, not a guess."""
    pooled = shrink_toward_market(np.array([0.5, 0.5, 0.0]), np.array([0.2, 0.3, 0.5]), 0.5)
    assert pooled[2] == 0.0
    assert pooled.sum() == pytest.approx(1.0)
    assert np.isnan(shrink_toward_market(np.array([1.0, 0.0]), np.array([0.0, 1.0]), 0.5)).all()


def test_shrink_gives_nan_rows_where_either_source_is_invalid_and_keeps_the_rest() -> None:
    model = np.array([[0.6, 0.4], [np.nan, 0.5], [0.6, 0.4]])
    market = np.array([[0.5, 0.5], [0.5, 0.5], [0.5, 0.3]])
    out = shrink_toward_market(model, market, 0.5)
    assert np.isfinite(out[0]).all()
    assert np.isnan(out[1:]).all()


@pytest.mark.parametrize("weight", [-0.1, 1.5, float("nan")])
def test_shrink_weight_outside_unit_interval_is_a_configuration_error(weight: float) -> None:
    with pytest.raises(ValueError, match="market weight"):
        shrink_toward_market(np.array([0.5, 0.5]), np.array([0.5, 0.5]), weight)


def test_fair_probabilities_from_each_source() -> None:
    model = np.array([[0.6, 0.4], [0.3, 0.7]])
    market = np.array([[0.5, 0.5], [0.4, 0.6]])
    np.testing.assert_allclose(fair_probabilities(model, market, source="model"), model)
    np.testing.assert_allclose(fair_probabilities(None, market, source="market"), market)
    blend = fair_probabilities(model, market, source="blend", market_weight=0.5)
    np.testing.assert_allclose(blend, shrink_toward_market(model, market, 0.5))
    assert np.all((blend[:, 0] < model[:, 0]) == (market[:, 0] < model[:, 0]))


def test_fair_probabilities_renormalise_float_drift_but_never_repair_a_broken_row() -> None:
    out = fair_probabilities(np.array([[0.5, 0.5 + 1e-9], [0.5, 0.4]]), None, source="model")
    assert out[0].sum() == pytest.approx(1.0, abs=1e-15)
    assert np.isnan(out[1]).all()


@pytest.mark.parametrize(
    ("model", "market", "source"),
    [(None, [0.5, 0.5], "model"), ([0.5, 0.5], None, "market"), ([0.5, 0.5], None, "blend"), ([0.5, 0.5], None, "x")],
)
def test_fair_probabilities_without_the_source_it_needs_is_a_wiring_error(
    model: list[float] | None, market: list[float] | None, source: str
) -> None:
    with pytest.raises(ValueError, match="source"):
        fair_probabilities(model, market, source=source)  # type: ignore[arg-type]


SHARP = np.array([[1.5, 4.2, 7.0], [2.6, 3.3, 2.9]])
CONSENSUS = np.array([[1.45, 4.4, 7.5], [2.7, 3.25, 2.75]])


@pytest.mark.parametrize("method", ["multiplicative", "shin"])
def test_market_fair_probabilities_without_consensus_are_the_sharp_book_de_margined(method: str) -> None:
    np.testing.assert_allclose(market_fair_probabilities(SHARP, method=method), remove_margin(SHARP, method))


def test_shin_gives_the_longshot_less_than_the_multiplicative_method() -> None:
    """Shin's point: the margin sits mostly on longshots, so removing it proportionally overrates them."""
    shin = market_fair_probabilities(SHARP, method="shin")
    mult = market_fair_probabilities(SHARP, method="multiplicative")
    assert shin[0, 2] < mult[0, 2]
    assert shin[0, 0] > mult[0, 0]


@pytest.mark.parametrize("w", [0.0, 0.25, 0.5, 1.0])
def test_the_consensus_is_pooled_log_linearly_with_the_sharp_book(w: float) -> None:
    pooled = market_fair_probabilities(SHARP, CONSENSUS, method="shin", consensus_weight=w)
    expected = shrink_toward_market(remove_margin(SHARP, "shin"), remove_margin(CONSENSUS, "shin"), w)
    np.testing.assert_allclose(pooled, expected)
    np.testing.assert_allclose(pooled.sum(axis=1), 1.0)
    if w == 1.0:
        np.testing.assert_allclose(pooled, remove_margin(CONSENSUS, "shin"))


def test_a_row_without_a_usable_sharp_or_consensus_price_is_nan_never_a_fallback() -> None:
    """A missing consensus must not quietly turn the row into the sharp book alone: that is another strategy."""
    sharp = np.array([[2.0, 3.4, 3.9], [np.nan, 3.4, 3.9], [2.0, 3.4, 3.9]])
    consensus = np.array([[2.1, 3.3, 3.8], [2.1, 3.3, 3.8], [1.0, 3.3, 3.8]])
    pooled = market_fair_probabilities(sharp, consensus, consensus_weight=0.5)
    assert np.isfinite(pooled[0]).all()
    assert np.isnan(pooled[1:]).all()
    alone = market_fair_probabilities(sharp, consensus, consensus_weight=0.0)
    assert np.isfinite(alone[[0, 2]]).all()
    assert np.isnan(alone[1]).all()


def test_a_consensus_weight_outside_the_unit_interval_or_without_prices_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="consensus weight"):
        market_fair_probabilities(SHARP, CONSENSUS, consensus_weight=1.5)
    with pytest.raises(ValueError, match="needs consensus prices"):
        market_fair_probabilities(SHARP, None, consensus_weight=0.5)


# Issue 14, defect 3: one market a method cannot de-margin must cost that row, never the whole batch.
STAN_JAMES_I1_2005 = [1.05, 8.0, 29.0]  # additive gives the 29.0 longshot a negative probability


@pytest.mark.parametrize("method", ["multiplicative", "additive", "power", "shin", "odds_ratio"])
def test_a_row_the_method_cannot_de_margin_is_nan_and_the_rest_of_the_batch_is_priced(method: str) -> None:
    # Row 1 defeats additive (a negative longshot); row 3 (prices ~1e308) defeats the odds-ratio solver.
    batch = np.array([SHARP[0], STAN_JAMES_I1_2005, SHARP[1], [1e308, 1e308, 1e308]])
    got = market_fair_probabilities(batch, method=method)
    for row in (0, 2):
        np.testing.assert_allclose(got[row], remove_margin(batch[row], method), rtol=0, atol=1e-15)
    for row in (1, 3):
        try:
            alone = remove_margin(batch[row], method)
        except (ValueError, RuntimeError):
            assert np.isnan(got[row]).all(), (method, row)
        else:
            np.testing.assert_allclose(got[row], alone, rtol=0, atol=1e-15)
    if method == "additive":
        assert np.isnan(got[1]).all()


def test_a_row_only_the_consensus_cannot_de_margin_is_nan_and_the_others_are_pooled() -> None:
    consensus = np.array([CONSENSUS[0], STAN_JAMES_I1_2005, CONSENSUS[1]])
    sharp = np.array([SHARP[0], [1.1, 7.0, 21.0], SHARP[1]])
    pooled = market_fair_probabilities(sharp, consensus, method="additive", consensus_weight=0.25)
    assert np.isnan(pooled[1]).all()
    expected = shrink_toward_market(remove_margin(SHARP, "additive"), remove_margin(CONSENSUS, "additive"), 0.25)
    np.testing.assert_allclose(pooled[[0, 2]], expected, rtol=0, atol=1e-15)


def test_market_model_probabilities_cost_only_the_row_additive_cannot_de_margin() -> None:
    """The evaluation's market baseline priced a batch with additive de-margining and raised for the whole batch when
    one row (Stan James 1.05 / 8.0 / 29.0, I1 2005-06) came out negative; that row alone must be NaN."""
    import polars as pl

    from betpipe.modeling.market import market_probabilities

    frame = pl.DataFrame(
        {"src_home": [1.05, 2.0], "src_draw": [8.0, 3.4], "src_away": [29.0, 3.9]},
    )
    out = market_probabilities(frame, "src", 3, "additive")
    assert np.isnan(out[0]).all()
    assert np.isfinite(out[1]).all()
    assert out[1].sum() == pytest.approx(1.0)
