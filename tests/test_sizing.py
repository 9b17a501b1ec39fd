"""Kelly maths, staking policies and stakes (betpipe.betting.sizing): the rules that decide how much goes on."""

from __future__ import annotations

import doctest
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st
from scipy.optimize import minimize

from betpipe.betting import policy as policy_module
from betpipe.betting import sizing
from betpipe.betting.sizing import (
    EDGE_TOLERANCE,
    NoBetReason,
    StakingPolicy,
    has_edge,
    kelly_fraction,
    simultaneous_kelly,
    size_event,
    size_event_explained,
    size_events,
    size_events_explained,
)

BANK = Decimal("1000")


def _distribution(k_min: int = 2, k_max: int = 4) -> st.SearchStrategy[np.ndarray]:
    weights = st.lists(st.floats(0.02, 1.0), min_size=k_min, max_size=k_max)
    return weights.map(lambda w: np.asarray(w) / np.sum(w))


@st.composite
def _events(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """A distribution and prices near its fair odds: some outcomes with an edge, most without."""
    p = draw(_distribution())
    mispricing = np.asarray(draw(st.lists(st.floats(0.8, 1.25), min_size=len(p), max_size=len(p))))
    return p, np.round(mispricing / p, 3)


_policies = st.builds(
    StakingPolicy,
    kind=st.sampled_from(["kelly", "flat"]),
    kelly_fraction=st.sampled_from([Decimal("1"), Decimal("0.5"), Decimal("0.25")]),
    flat_stake=st.sampled_from([Decimal("1"), Decimal("10"), Decimal("600")]),
    min_edge=st.sampled_from([0.0, 0.02]),
    min_stake=st.sampled_from([Decimal("0"), Decimal("2")]),
    max_stake=st.sampled_from([None, Decimal("50")]),
    max_fraction=st.sampled_from([Decimal("1"), Decimal("0.05")]),
    stake_increment=st.sampled_from([Decimal("0.01"), Decimal("0.5"), Decimal("2")]),
    simultaneous=st.booleans(),
    shrink=st.sampled_from([0.0, 0.5]),
)


def test_the_module_examples_run() -> None:
    for module in (sizing, policy_module):
        assert doctest.testmod(module).failed == 0, module.__name__


# ------------------------------------------------------------------------------------------------ Kelly maths


def test_single_kelly_known_values() -> None:
    """p = 0.55 at evens: bet 10 %; p = 0.6 at 2.5: (1.5 - 1) / 1.5 = 1/3."""
    np.testing.assert_allclose(kelly_fraction([0.55, 0.6, 0.4], [2.0, 2.5, 2.0]), [0.1, 1 / 3, 0.0])


@given(st.floats(0.0, 1.0), st.floats(1.0, 50.0))
def test_single_kelly_is_non_negative_below_p_and_zero_without_edge(p: float, price: float) -> None:
    f = float(kelly_fraction(p, price))
    assert 0.0 <= f <= p
    if p * price <= 1.0:
        assert f == 0.0


def _numeric_optimum(p: np.ndarray, prices: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Maximise expected log-wealth directly (SLSQP), independent of the closed form under test."""

    def negative_growth(f: np.ndarray) -> float:
        return -float(np.sum(p * np.log(np.maximum(1.0 - f.sum() + f * prices, 1e-300))))

    bounds = [(0.0, 1.0) if ok else (0.0, 0.0) for ok in allowed]
    best = minimize(
        negative_growth,
        np.zeros(len(p)),
        method="SLSQP",
        bounds=bounds,
        constraints=[{"type": "ineq", "fun": lambda f: 1.0 - f.sum()}],
        options={"ftol": 1e-15, "maxiter": 500},
    )
    return np.asarray(best.x)


def _growth(p: np.ndarray, prices: np.ndarray, f: np.ndarray) -> float:
    return float(np.sum(p * np.log(1.0 - f.sum() + f * prices)))


@pytest.mark.parametrize("seed", range(40))
def test_simultaneous_kelly_matches_numeric_optimisation(seed: int) -> None:
    """The closed form is the optimum: no numerically optimised stake vector grows faster, and they agree."""
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 6))
    p = rng.dirichlet(np.full(k, 2.0))
    prices = np.round(rng.uniform(0.75, 1.3, k) / p, 2)
    allowed = rng.random(k) < 0.8 if seed % 2 else np.ones(k, dtype=bool)
    ours = simultaneous_kelly(p, prices, allowed=allowed)
    numeric = _numeric_optimum(p, prices, allowed)
    assert _growth(p, prices, ours) >= _growth(p, prices, numeric) - 1e-10
    np.testing.assert_allclose(ours, numeric, atol=2e-4)
    assert np.all(ours[~allowed] == 0.0)


def test_simultaneous_kelly_on_a_favourable_book_bets_everything_in_proportion() -> None:
    """Inverse prices summing below 1 (across books): the optimum is f = p, nothing held back (Cover & Thomas)."""
    p = np.array([0.5, 0.3, 0.2])
    np.testing.assert_allclose(simultaneous_kelly(p, np.array([2.2, 3.5, 5.5])), p)


# A fair two-way book whose p * price is 1 + 2.2e-16 in floats: the example that made this property flake (issue 14).
_FAIR_BOOK_FLOAT_NOISE = (np.array([0.44444444444444453, 0.5555555555555556]), np.array([2.25, 1.8]))


@given(_events())
@example(_FAIR_BOOK_FLOAT_NOISE)
def test_simultaneous_kelly_fractions_are_non_negative_sum_to_at_most_one_and_cover_every_edge(
    event: tuple[np.ndarray, np.ndarray],
) -> None:
    """The module has one rule for an edge, ``has_edge``: float noise of 1e-16 on a fair price is no edge."""
    p, prices = event
    f = simultaneous_kelly(p, prices)
    edges = p * prices - 1.0
    assert np.all(f >= 0.0)
    assert f.sum() <= 1.0 + 1e-12
    assert np.all(f[has_edge(edges)] > 0.0)
    if not np.any(has_edge(edges)):
        assert np.all(f == 0.0)
    assert np.array_equal(kelly_fraction(p, prices) > 0.0, has_edge(edges))


@pytest.mark.parametrize("staking", ["kelly", "kelly,simultaneous", "flat:1", "flat:1,simultaneous"])
def test_float_noise_on_a_fair_price_is_no_edge_for_every_policy(staking: str) -> None:
    """1 + 2.2e-16 at a fair price is not an edge: no flat stake on it, and the reason is no_edge, not a stake
    'too small' (the two used different rules before: ``edge > 0`` here, a 1e-12 tie in simultaneous Kelly)."""
    p, prices = _FAIR_BOOK_FLOAT_NOISE
    assert p[0] * prices[0] - 1.0 > 0.0  # the float noise this is about
    sized = size_event_explained(p, prices, BANK, StakingPolicy.parse(staking))
    assert sized.stakes == [0, 0]
    assert sized.reasons == [NoBetReason.NO_EDGE, NoBetReason.NO_EDGE]
    assert kelly_fraction(p, prices).tolist() == [0.0, 0.0]


def test_an_edge_just_above_the_tolerance_or_the_minimum_is_still_an_edge() -> None:
    assert has_edge(np.array([EDGE_TOLERANCE * 2, EDGE_TOLERANCE, 0.0])).tolist() == [True, False, False]
    assert has_edge(np.array([0.02 + 1e-9, 0.02 + 1e-17]), 0.02).tolist() == [True, False]


@given(_events())
def test_simultaneous_kelly_equals_single_kelly_when_only_one_outcome_may_be_bet(
    event: tuple[np.ndarray, np.ndarray],
) -> None:
    p, prices = event
    edges = p * prices - 1.0
    assume(int(np.sum(edges > 0)) == 1)
    f = simultaneous_kelly(p, prices, allowed=edges > 0)
    np.testing.assert_allclose(f, kelly_fraction(p, prices) * (edges > 0), atol=1e-12)


@given(st.floats(0.05, 0.95), st.floats(1.01, 20.0), st.floats(1.01, 20.0))
@example(0.2854401472751709, 2.0, 2.0)  # a fair book: betting both sides changes nothing, so bet one
def test_two_way_simultaneous_kelly_is_single_kelly_unless_the_book_is_favourable(
    p: float, price_a: float, price_b: float
) -> None:
    """With an honest (overround >= 0) two-way book, a hedge never pays: the optimum is the one edge alone."""
    assume(1 / price_a + 1 / price_b >= 1.0)
    probs, prices = np.array([p, 1 - p]), np.array([price_a, price_b])
    np.testing.assert_allclose(simultaneous_kelly(probs, prices), kelly_fraction(probs, prices), atol=1e-12)


def test_simultaneous_kelly_of_invalid_rows_is_zero() -> None:
    rows = np.array([[0.5, 0.4, 0.1], [0.6, 0.6, 0.1], [np.nan, 0.5, 0.5]])
    prices = np.array([[3.0, np.nan, 5.0], [3.0, 3.0, 3.0], [3.0, 3.0, 3.0]])
    f = simultaneous_kelly(rows, prices)
    assert f[0, 1] == 0.0
    assert f[0, 0] > 0.0
    assert np.all(f[1:] == 0.0)


# ------------------------------------------------------------------------------------------------- policies


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("kelly:0.25", StakingPolicy(kelly_fraction=Decimal("0.25"))),
        ("kelly", StakingPolicy(kelly_fraction=Decimal("1"))),
        ("flat:1", StakingPolicy(kind="flat", flat_stake=Decimal("1"))),
        ("kelly:0.5,simultaneous", StakingPolicy(kelly_fraction=Decimal("0.5"), simultaneous=True)),
        (
            " Kelly:0.5 , simultaneous, shrink=0.5, min_edge=0.02, max_fraction=0.02, max_stake=100, increment=0.5 ",
            StakingPolicy(
                kelly_fraction=Decimal("0.5"),
                simultaneous=True,
                shrink=0.5,
                min_edge=0.02,
                max_fraction=Decimal("0.02"),
                max_stake=Decimal("100"),
                stake_increment=Decimal("0.5"),
            ),
        ),
        ("flat:10,min_stake=2,single", StakingPolicy(kind="flat", flat_stake=Decimal("10"), min_stake=Decimal(2))),
    ],
)
def test_policy_text_parses_to_the_policy_it_names(text: str, expected: StakingPolicy) -> None:
    assert StakingPolicy.parse(text) == expected


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "empty"),
        ("martingale:2", "unknown staking kind"),
        ("kelly:abc", "decimal number"),
        ("kelly:1.5", "kelly fraction"),
        ("kelly:0", "kelly fraction"),
        ("flat:-1", "flat stake"),
        ("kelly:0.25,doubling", "unknown staking option"),
        ("kelly:0.25,shrink=2", "shrink"),
        ("kelly:0.25,shrink=nan", "finite"),
        ("kelly:0.25,min_edge=-0.1", "min_edge"),
        ("kelly:0.25,max_fraction=0", "max_fraction"),
        ("kelly:0.25,increment=0", "increment"),
        ("kelly:0.25,min_stake=10,max_stake=5", "max_stake must be >= min_stake"),
        ("kelly:0.25,shrink=0.1,shrink=0.2", "twice"),
        ("kelly:0.25,fraction=0.5", "repeats"),
    ],
)
def test_bad_policy_text_is_a_clear_value_error(text: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        StakingPolicy.parse(text)


def test_overrides_win_over_the_text_and_unknown_ones_are_refused() -> None:
    policy = StakingPolicy.parse("kelly:0.25", max_fraction=Decimal("0.02"), shrink=0.3)
    assert (policy.max_fraction, policy.shrink) == (Decimal("0.02"), 0.3)
    with pytest.raises(ValueError, match="unknown staking policy field"):
        StakingPolicy.parse("kelly:0.25", bankroll=Decimal(5))


@given(_policies)
def test_policy_text_round_trips(policy: StakingPolicy) -> None:
    assert StakingPolicy.parse(str(policy)) == policy


# ---------------------------------------------------------------------------------------------------- stakes


def test_half_kelly_stake_rounds_down_to_the_increment() -> None:
    p, prices = np.array([0.55, 0.45]), np.array([2.0, 2.0])
    assert size_event(p, prices, Decimal("1000"), StakingPolicy.parse("kelly:0.5")) == [Decimal("50.00"), 0]
    assert size_event(p, prices, Decimal("1009.99"), StakingPolicy.parse("kelly:0.5,increment=2")) == [50, 0]
    # 0.3 * 0.1 * 1000 is 29.999999999999996 in floats: float noise must not cost a whole increment.
    assert size_event(p, prices, Decimal("1000"), StakingPolicy.parse("kelly:0.3"))[0] == Decimal("30.00")


def test_caps_and_minimum_stake() -> None:
    p, prices = np.array([0.55, 0.45]), np.array([2.0, 2.0])
    capped = StakingPolicy.parse("kelly,max_fraction=0.02")
    assert size_event(p, prices, BANK, capped)[0] == Decimal("20.00")
    assert size_event(p, prices, BANK, StakingPolicy.parse("kelly,max_stake=12.5"))[0] == Decimal("12.50")
    explained = size_event_explained(p, prices, Decimal("10"), StakingPolicy.parse("kelly:0.25,min_stake=2"))
    assert explained.stakes[0] == 0  # 0.25 of 10 % of 10 is 0.25, under the minimum: dropped, never raised to it
    assert explained.reasons[0] is NoBetReason.STAKE_TOO_SMALL


def test_one_bet_per_event_takes_the_largest_edge() -> None:
    p, prices = np.array([0.4, 0.3, 0.3]), np.array([2.8, 3.6, 3.0])  # edges 0.12, 0.08, -0.10
    single = size_event_explained(p, prices, BANK, StakingPolicy.parse("kelly:0.5"))
    assert single.stakes[0] > 0
    assert single.stakes[1] == 0
    assert single.reasons == [None, NoBetReason.NOT_BEST_EDGE, NoBetReason.NO_EDGE]
    both = size_event(p, prices, BANK, StakingPolicy.parse("kelly:0.5,simultaneous"))
    assert both[0] > 0
    assert both[1] > 0
    assert both[2] == 0
    flat = size_event(p, prices, BANK, StakingPolicy.parse("flat:10,simultaneous"))
    assert flat == [Decimal(10), Decimal(10), 0]


def test_minimum_edge_is_measured_after_shrinkage_toward_the_market() -> None:
    """The model sees a 10 % edge; pooled half-way with a market that sees none, 5 % is left: under min_edge 6 %."""
    p, prices, market = np.array([0.55, 0.45]), np.array([2.0, 2.0]), np.array([0.5, 0.5])
    assert size_event(p, prices, BANK, StakingPolicy.parse("kelly,min_edge=0.06"))[0] > 0
    shrunk = size_event_explained(p, prices, BANK, StakingPolicy.parse("kelly,min_edge=0.06,shrink=0.5"), market)
    assert shrunk.stakes == [0, 0]
    assert shrunk.reasons[0] is NoBetReason.NO_EDGE
    assert shrunk.edges[0] == pytest.approx(0.0501, abs=1e-4)


@pytest.mark.parametrize(
    ("p", "prices", "market", "bankroll", "reason"),
    [
        ([np.nan, 0.5, 0.5], [2.5, 3.5, 3.0], None, BANK, NoBetReason.INVALID_PROBABILITY),
        ([0.5, 0.3, 0.1], [2.5, 3.5, 3.0], None, BANK, NoBetReason.INVALID_PROBABILITY),
        ([0.5, 0.3, 0.2], [2.5, 3.5, 3.0], [0.5, np.nan, 0.2], BANK, NoBetReason.INVALID_MARKET_PROBABILITY),
        ([0.5, 0.3, 0.2], [2.5, 3.5, 3.0], None, Decimal(0), NoBetReason.NO_BANKROLL),
        ([0.5, 0.3, 0.2], [2.5, 3.5, 3.0], None, Decimal("NaN"), NoBetReason.NO_BANKROLL),
    ],
)
def test_a_broken_event_gets_no_bet_and_a_reason_never_an_exception(
    p: list[float], prices: list[float], market: list[float] | None, bankroll: Decimal, reason: NoBetReason
) -> None:
    policy = StakingPolicy.parse("kelly:0.5,simultaneous,shrink=0.5")
    out = size_event_explained(np.array(p), np.array(prices), bankroll, policy, None if market is None else market)
    assert out.stakes == [0, 0, 0]
    assert out.reasons == [reason] * 3


def test_a_bad_price_refuses_only_that_selection() -> None:
    p = np.array([0.5, 0.3, 0.2])
    out = size_event_explained(p, np.array([1.0, 3.6, np.nan]), BANK, StakingPolicy.parse("kelly,simultaneous"))
    assert out.reasons == [NoBetReason.INVALID_PRICE, None, NoBetReason.INVALID_PRICE]
    assert out.stakes[1] == Decimal("30.76")  # the only bettable outcome: single Kelly, 0.08 / 2.6 of 1000
    assert out.stakes[1] == size_event(np.array([0.3, 0.7]), np.array([3.6, 1.01]), BANK, StakingPolicy())[0]


def test_shrinkage_without_a_market_probability_sizes_on_the_model() -> None:
    p, prices = np.array([0.55, 0.45]), np.array([2.0, 2.0])
    assert size_event(p, prices, BANK, StakingPolicy.parse("kelly,shrink=0.5")) == [Decimal("100.00"), 0]


@given(st.lists(_events(), min_size=1, max_size=6), _policies, st.sampled_from([Decimal("1000"), Decimal("37.5")]))
def test_vectorised_sizing_equals_one_event_at_a_time_and_respects_every_limit(
    events: list[tuple[np.ndarray, np.ndarray]], policy: StakingPolicy, bankroll: Decimal
) -> None:
    """The backtest (size_events) and live betting (size_event) must stake the same, to the cent."""
    k = len(events[0][0])
    events = [e for e in events if len(e[0]) == k]
    p = np.stack([e[0] for e in events])
    prices = np.stack([e[1] for e in events])
    market = np.full_like(p, 1.0 / k)
    decimals = size_events(p, prices, bankroll, policy, market, as_decimal=True)
    floats = size_events(p, prices, bankroll, policy, market)
    for i in range(len(p)):
        row = size_event(p[i], prices[i], bankroll, policy, market[i])
        assert list(decimals[i]) == row
        assert floats[i].tolist() == [float(s) for s in row]
        assert sum(row) <= bankroll
        for stake in row:
            assert stake >= 0
            assert stake % policy.stake_increment == 0
            assert stake <= bankroll * policy.max_fraction
            assert stake == 0 or stake >= policy.min_stake
            assert policy.max_stake is None or stake <= policy.max_stake
        if not policy.simultaneous:
            assert sum(1 for s in row if s > 0) <= 1


def test_explained_batch_names_a_reason_for_every_unbet_selection() -> None:
    p = np.array([[0.55, 0.45], [0.5, 0.5]])
    prices = np.array([[2.0, 2.0], [1.0, 2.0]])
    sized = size_events_explained(p, prices, BANK, StakingPolicy.parse("kelly:0.5"))
    stakes = sized.stakes()
    for i, j in np.ndindex(stakes.shape):
        assert (stakes[i, j] > 0) == (sized.reason(i, j) is None)
    assert sized.reason(1, 0) is NoBetReason.INVALID_PRICE
    assert sized.reason(1, 1) is NoBetReason.NO_EDGE
    assert [NoBetReason.from_code(r.code) for r in NoBetReason] == list(NoBetReason)
    assert NoBetReason.from_code(0) is None


def test_a_float_bankroll_is_a_wiring_error_not_a_silent_no_bet() -> None:
    with pytest.raises(TypeError, match="Decimal"):
        size_event(np.array([0.55, 0.45]), np.array([2.0, 2.0]), 1000.0, StakingPolicy())  # type: ignore[arg-type]


def test_mismatched_shapes_are_a_wiring_error() -> None:
    with pytest.raises(ValueError, match="must both be"):
        size_events(np.ones((2, 3)) / 3, np.full((2, 2), 2.0), BANK, StakingPolicy())
