"""Seeded simulations with a known edge: which sizing rule grows a bankroll, and that none can rescue a losing bet.

The world: each event has true 1X2 probabilities; the market sees them through small noise and prices them with a
5 % margin; the model sees them through larger, independent noise. Pooling the two (shrinkage) is a better estimate
than either, and the model's own estimate overstates its edge: the situation real strategies are in.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from betpipe.betting import StakingPolicy, bet_fractions, kelly_fraction, size_events

N_PATHS, N_EVENTS = 300, 300
RUIN = np.log(0.01)  # wealth below 1 % of the start, at any time


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _world(seed: int, n: int, *, market_noise: float = 0.15, model_noise: float = 0.3, margin: float = 0.05) -> dict:
    rng = np.random.default_rng(seed)
    logits = np.stack([rng.normal(0.3, 0.6, n), rng.normal(-0.3, 0.2, n), rng.normal(0.0, 0.6, n)], axis=1)
    true = _softmax(logits)
    market = _softmax(logits + rng.normal(0.0, market_noise, (n, 3)))
    model = _softmax(logits + rng.normal(0.0, model_noise, (n, 3)))
    prices = 1.0 / (market * (1.0 + margin))  # margin-free market = multiplicative removal of these prices
    winner = (rng.random(n)[:, None] > np.cumsum(true, axis=1)).sum(axis=1)
    return {"true": true, "market": market, "model": model, "prices": prices, "winner": winner}


def _log_wealth_paths(fractions: np.ndarray, prices: np.ndarray, winner: np.ndarray) -> np.ndarray:
    """(paths, events) running log-wealth when each event stakes the given fractions of current wealth."""
    rows = np.arange(len(winner))
    ratio = 1.0 - fractions.sum(axis=1) + fractions[rows, winner] * prices[rows, winner]
    return np.cumsum(np.log(ratio).reshape(N_PATHS, N_EVENTS), axis=1)


def _median_and_ruin(log_wealth: np.ndarray) -> tuple[float, float]:
    return float(np.median(log_wealth[:, -1])), float(np.mean(log_wealth.min(axis=1) < RUIN))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fractional_simultaneous_kelly_with_shrinkage_beats_independent_full_kelly(seed: int) -> None:
    """The sizing target of issue 9: higher median log-wealth and a lower ruin rate than per-bet full Kelly."""
    w = _world(seed, N_PATHS * N_EVENTS)
    independent_full = kelly_fraction(w["model"], w["prices"])  # every selection alone, blind to the others
    disciplined = StakingPolicy.parse("kelly:0.25,simultaneous,shrink=0.5")
    ours = bet_fractions(w["model"], w["prices"], disciplined, w["market"])
    unshrunk = bet_fractions(w["model"], w["prices"], StakingPolicy.parse("kelly:0.25,simultaneous"))

    full_median, full_ruin = _median_and_ruin(_log_wealth_paths(independent_full, w["prices"], w["winner"]))
    our_median, our_ruin = _median_and_ruin(_log_wealth_paths(ours, w["prices"], w["winner"]))
    unshrunk_median, _ = _median_and_ruin(_log_wealth_paths(unshrunk, w["prices"], w["winner"]))

    assert full_ruin > 0.3  # the world really punishes over-betting a noisy model
    assert our_ruin < full_ruin
    assert our_ruin == 0.0
    assert our_median > full_median
    assert our_median > unshrunk_median  # shrinkage, not only the fraction, is what finds the edge


def _expected_log_growth(true: np.ndarray, prices: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """Exact E[log(wealth ratio)] per event under the true probabilities: no sampling noise to hide behind."""
    with np.errstate(invalid="ignore"):
        wealth = 1.0 - fractions.sum(axis=-1, keepdims=True) + fractions * np.where(fractions > 0, prices, 0.0)
    return np.sum(true * np.log(wealth), axis=-1)


_RULES = [
    "flat:10",
    "flat:10,simultaneous",
    "kelly",
    "kelly,simultaneous",
    "kelly:0.25",
    "kelly:0.25,simultaneous,shrink=0.5",
    "kelly,max_fraction=0.02",
    "kelly:0.5,simultaneous,max_stake=5,min_edge=0.02",
]


def _fractions(rule: str, model: np.ndarray, prices: np.ndarray, market: np.ndarray, bankroll: Decimal) -> np.ndarray:
    """Each rule's stakes as fractions of the bankroll (flat and capped rules through the money path)."""
    policy = StakingPolicy.parse(rule)
    return np.asarray(size_events(model, prices, bankroll, policy, market)) / float(bankroll)


@pytest.mark.parametrize("rule", _RULES)
def test_no_sizing_rule_turns_a_negative_true_edge_into_positive_log_growth(rule: str) -> None:
    """True probabilities are the market's own: every price carries the 5 % margin against the bettor. The model
    still believes it sees edges (its noise), so every rule bets, and every rule's expected log-growth is < 0."""
    w = _world(7, 20_000)
    fractions = _fractions(rule, w["model"], w["prices"], w["market"], Decimal("1000"))
    growth = _expected_log_growth(w["market"], w["prices"], fractions)
    assert np.count_nonzero(fractions) > 1000  # the rule did bet: the claim is about bets made
    assert growth.mean() < 0.0
    assert np.all(growth <= 1e-15)


@given(
    st.integers(0, 10_000),
    st.floats(0.0, 0.12),
    st.floats(0.05, 1.0),
    st.sampled_from(_RULES),
)
def test_without_a_true_edge_no_rule_expects_growth_property(seed: int, margin: float, noise: float, rule: str) -> None:
    """Any margin >= 0 (fair prices included), any model noise, any rule: no event has positive expected growth."""
    w = _world(seed, 200, model_noise=noise, margin=margin)
    fractions = _fractions(rule, w["model"], w["prices"], w["market"], Decimal("1000"))
    assert np.all(_expected_log_growth(w["market"], w["prices"], fractions) <= 1e-12)
