"""Odds maths: known values, independent brentq cross-checks, and hypothesis properties over random markets."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from fractions import Fraction
from functools import partial
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from scipy.optimize import brentq

from betpipe import odds as odds_module
from betpipe.odds import (
    SOLVER_TOLERANCE,
    MarginMethod,
    american_to_decimal,
    decimal_to_american,
    decimal_to_fractional,
    decimal_to_implied,
    expected_value,
    fair_odds,
    fractional_to_decimal,
    implied_to_decimal,
    overround,
    remove_margin,
    shin_probabilities,
    validate_decimal_odds,
)

PROPERTY = settings(max_examples=200, deadline=None, database=None)
METHODS = list(MarginMethod)
SOLVED = [MarginMethod.POWER, MarginMethod.SHIN, MarginMethod.ODDS_RATIO]
Array = NDArray[np.float64]


@st.composite
def markets(draw: st.DrawFn, margin: st.SearchStrategy[float] = st.floats(0.0, 0.25), n: int | None = None) -> Array:
    """Decimal odds for a 2- or 3-way market: random true probabilities inflated by the drawn overround."""
    n = n or draw(st.sampled_from([2, 3]))
    weights = np.array(draw(st.lists(st.floats(1.0, 50.0), min_size=n, max_size=n)))
    implied = weights / weights.sum() * (1.0 + draw(margin))
    assume(implied.max() < 0.995)
    return 1.0 / implied


def additive_would_go_negative(odds: Array) -> bool:
    implied = 1.0 / odds
    return bool((implied - (implied.sum() - 1.0) / implied.size < 0).any())


def each_method(odds: Array) -> dict[MarginMethod, Array]:
    """Every method's probabilities; additive only where it is defined, and checked to raise elsewhere."""
    out = {}
    for method in METHODS:
        if method is MarginMethod.ADDITIVE and additive_would_go_negative(odds):
            with pytest.raises(ValueError, match="negative probability"):
                remove_margin(odds, method)
        else:
            out[method] = remove_margin(odds, method)
    return out


# Independent reference solutions: plain formulas, scipy's brentq, one market at a time.


def shin_formula(implied: Array, z: float) -> Array:
    return (np.sqrt(z * z + 4 * (1 - z) * implied**2 / implied.sum()) - z) / (2 * (1 - z))


def reference(odds: Array, method: MarginMethod) -> Array:
    implied = 1.0 / odds
    if method is MarginMethod.POWER:
        k = brentq(lambda k: (implied**k).sum() - 1, 1e-3, 1e3, xtol=1e-15)
        return implied**k
    if method is MarginMethod.ODDS_RATIO:
        c = brentq(lambda c: (implied / (c * (1 - implied) + implied)).sum() - 1, 1e-6, 1e6, xtol=1e-15)
        return implied / (c * (1 - implied) + implied)

    def excess(z: float) -> float:
        return float(shin_formula(implied, z).sum() - 1)

    lo, hi = (0.0, 1 - 1e-9) if implied.sum() >= 1 else (-1 / (implied.size - 1), 0.0)
    z = 0.0 if abs(excess(0.0)) < 1e-15 else brentq(excess, lo, hi, xtol=1e-15)
    return shin_formula(implied, z)


# ------------------------------------------------------------------------------------------- conversions


@pytest.mark.parametrize(("american", "decimal"), [(150, 2.5), (-200, 1.5), (100, 2.0), (-100, 2.0), (-110, 21 / 11)])
def test_american_known_values(american: float, decimal: float) -> None:
    assert american_to_decimal(american) == pytest.approx(decimal, rel=1e-15)


def test_every_whole_american_price_converts_to_the_nearest_float_of_its_exact_decimal() -> None:
    """Odds API prices in American format are whole numbers; each must land on the float nearest the exact
    fraction (``1 + a/100`` rounded twice and missed 492 of them, e.g. -115)."""
    american = np.concatenate([np.arange(-99_900, -99), np.arange(100, 99_901)])
    exact = [float(1 + Fraction(int(a), 100) if a > 0 else 1 - Fraction(100, int(a))) for a in american]
    assert american_to_decimal(american).tolist() == exact


def test_decimal_to_american_known_values() -> None:
    np.testing.assert_allclose(decimal_to_american([2.5, 1.5, 2.0, 11.0]), [150, -200, 100, 1000])


@PROPERTY
@given(st.floats(1.0001, 1000.0))
def test_decimal_american_round_trip(decimal: float) -> None:
    assert american_to_decimal(decimal_to_american(decimal)) == pytest.approx(decimal, rel=1e-12)


@PROPERTY
@given(st.one_of(st.floats(100.0, 1e5), st.floats(-1e5, -100.000001)))  # -100 is +100; it comes back as +100
def test_american_decimal_round_trip(american: float) -> None:
    assert decimal_to_american(american_to_decimal(american)) == pytest.approx(american, rel=1e-12)


@pytest.mark.parametrize("american", [50, -99.5, 0, 99.999, float("nan"), float("inf")])
def test_american_in_open_interval_or_not_finite_is_invalid(american: float) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(float(american)))):
        american_to_decimal([150, american])


def test_fractional_known_values() -> None:
    assert float(fractional_to_decimal("5/2")) == 3.5
    assert float(fractional_to_decimal((5, 2))) == 3.5
    assert fractional_to_decimal(["5/2", (1, 4), "evs", " 11/10 "]).tolist() == [3.5, 1.25, 2.0, 2.1]
    assert decimal_to_fractional(3.5) == "5/2"
    assert decimal_to_fractional(np.array([[1.25, 2.0]])).tolist() == [["1/4", "1/1"]]


@PROPERTY
@given(st.integers(1, 500), st.integers(1, 100))
def test_fractional_round_trip(numerator: int, denominator: int) -> None:
    fraction = Fraction(numerator, denominator)
    decimal = fractional_to_decimal(f"{numerator}/{denominator}")
    assert decimal_to_fractional(float(decimal)) == f"{fraction.numerator}/{fraction.denominator}"


@pytest.mark.parametrize("bad", ["abc", "5/0", "-1/2", "1/2/3", (0, 1), (1, "2")])
def test_invalid_fractional_odds_raise(bad: Any) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(bad))):
        fractional_to_decimal(bad)


def test_too_short_for_fractional_raises() -> None:
    with pytest.raises(ValueError, match=re.escape("1.001")):
        decimal_to_fractional(1.001)


def test_implied_and_fair_odds() -> None:
    np.testing.assert_allclose(decimal_to_implied([2.0, 4.0]), [0.5, 0.25])
    np.testing.assert_allclose(implied_to_decimal([0.5, 0.25]), [2.0, 4.0])
    np.testing.assert_allclose(fair_odds([0.5, 0.25, 1.0]), [2.0, 4.0, 1.0])
    assert float(expected_value(0.5, 2.0)) == 0.0
    np.testing.assert_allclose(expected_value([0.6, 0.0], [[2.0], [3.0]]), [[0.2, -1.0], [0.8, -1.0]])


@pytest.mark.parametrize(
    ("function", "bad"),
    [(implied_to_decimal, 1.0), (implied_to_decimal, 0.0), (fair_odds, 1.5), (fair_odds, 0.0)]
    + [(partial(expected_value, decimal_odds=2.0), bad) for bad in (-0.1, 1.1, float("nan"))],
)
def test_invalid_probabilities_raise(function: Callable[[Any], Any], bad: float) -> None:
    with pytest.raises(ValueError, match=re.escape(f"{bad!r} at index 1")):
        function([0.5, bad])


# ------------------------------------------------------------------------------------------- validation

ODDS_FUNCTIONS: list[Any] = [
    pytest.param(validate_decimal_odds, id="validate"),
    pytest.param(decimal_to_american, id="american"),
    pytest.param(decimal_to_fractional, id="fractional"),
    pytest.param(decimal_to_implied, id="implied"),
    pytest.param(overround, id="overround"),
    pytest.param(shin_probabilities, id="shin_probabilities"),
    pytest.param(partial(expected_value, 0.5), id="expected_value"),
    *(pytest.param(partial(remove_margin, method=m), id=f"remove_margin-{m}") for m in METHODS),
]


@pytest.mark.parametrize("function", ODDS_FUNCTIONS)
@pytest.mark.parametrize(
    ("bad", "shown"), [(1.0, "1.0"), (0.5, "0.5"), (math.nan, "nan"), (math.inf, "inf"), (-3, "-3"), ("abc", "abc")]
)
def test_invalid_odds_raise_naming_value_and_position(function: Callable[[Any], Any], bad: object, shown: str) -> None:
    with pytest.raises(ValueError, match=rf"{re.escape(shown)}.* at index 1\b"):
        function([2.0, bad, 3.0])


def test_invalid_odds_position_in_2d_and_scalar() -> None:
    with pytest.raises(ValueError, match=re.escape("0.5 at index (1, 0)")):
        remove_margin([[2.0, 2.0], [0.5, 2.0]])
    with pytest.raises(ValueError, match=re.escape("invalid decimal odds 1.0: ")):
        validate_decimal_odds(1.0)
    with pytest.raises(ValueError, match="True"):
        validate_decimal_odds(np.array([True, False]))


def test_market_needs_two_outcomes_and_known_method() -> None:
    with pytest.raises(ValueError, match="at least 2 outcomes"):
        remove_margin([2.0])
    with pytest.raises(ValueError, match="at least 2 outcomes"):
        overround(2.0)
    with pytest.raises(ValueError, match="bogus"):
        remove_margin([2.0, 2.0], "bogus")


# ----------------------------------------------------------------------------------------- known values


@pytest.mark.parametrize("method", METHODS)
def test_even_market_and_margin_free_market(method: MarginMethod) -> None:
    np.testing.assert_allclose(remove_margin([2.0, 2.0], method), [0.5, 0.5], atol=1e-15)
    np.testing.assert_allclose(remove_margin([2.0, 4.0, 4.0], method), [0.5, 0.25, 0.25], atol=1e-15)
    np.testing.assert_allclose(remove_margin([1.9, 1.9], method), [0.5, 0.5], atol=1e-15)


def test_overround_known_values() -> None:
    assert float(overround([1.9, 1.9])) == pytest.approx(2 / 1.9 - 1, rel=1e-15)
    np.testing.assert_allclose(overround([[2.0, 2.0], [2.0, 4.0]]), [0.0, -0.25])


def test_shin_matches_published_examples_and_brentq() -> None:
    # Documented output of the `shin` package (mberk/shin README), solved there by fixed-point iteration.
    three = shin_probabilities([2.6, 2.4, 4.3])
    published = [0.37299406033208965, 0.4047794109200184, 0.2222265287474275]
    np.testing.assert_allclose(three.probabilities, published, atol=1e-10)
    assert float(three.z) == pytest.approx(0.01694251276407055, abs=1e-10)
    np.testing.assert_allclose(three.probabilities, reference(np.array([2.6, 2.4, 4.3]), MarginMethod.SHIN))
    two = shin_probabilities([1.5, 2.74])
    np.testing.assert_allclose(two.probabilities, [0.6508515815085157, 0.3491484184914841], atol=1e-12)
    assert float(two.z) == pytest.approx(0.03172728540646625, abs=1e-12)
    assert three.converged
    assert two.converged


def test_additive_longshot_raises_naming_market() -> None:
    with pytest.raises(ValueError, match=re.escape("market at index 1")):
        remove_margin([[2.0, 2.0, 2.0], [1.25, 4.0, 60.0]], MarginMethod.ADDITIVE)


# Issue 14, defect 3: for a batch of data, a market no method result exists for is a NaN row, not an exception.
UNPRICEABLE = {
    "price 1.0": [1.0, 3.0, 4.0],
    "price missing": [2.0, math.nan, 4.0],
    "additive below zero (Stan James, I1 2005-06)": [1.05, 8.0, 29.0],
    "odds-ratio solver cannot converge": [1e308, 1e308, 1e308],
}


@pytest.mark.parametrize("method", METHODS)
def test_remove_margin_or_nan_costs_only_the_rows_the_method_cannot_price(method: MarginMethod) -> None:
    good = np.array([[2.6, 2.4, 4.3], [1.5, 4.2, 7.0], [3.1, 3.3, 2.45]])
    batch = np.vstack([good[:1], list(UNPRICEABLE.values()), good[1:]])
    got = odds_module.remove_margin_or_nan(batch, method)
    np.testing.assert_allclose(got[[0, 5, 6]], remove_margin(good, method), rtol=0, atol=1e-15)
    for row, odds in enumerate(UNPRICEABLE.values(), start=1):
        try:
            alone = remove_margin(odds, method)
        except (ValueError, RuntimeError):
            assert np.isnan(got[row]).all(), (method, odds)
        else:
            np.testing.assert_allclose(got[row], alone, rtol=0, atol=1e-15)
    assert np.isnan(got[1:3]).all(), "no method prices a market with a price missing or <= 1"
    assert np.isnan(got[3]).all() == (method is MarginMethod.ADDITIVE)
    with pytest.raises(ValueError, match="at least 2 outcomes"):
        odds_module.remove_margin_or_nan([2.0], method)  # a shape is a wiring error, not data


# Issue 14, defect 4: what "as in mberk/shin" can honestly claim for negative overround.


def shin_package_two_way_z(implied: Array) -> float:
    """The closed form mberk/shin uses for two outcomes (Jullien and Salanié)."""
    total, diff = implied.sum(), implied[0] - implied[1]
    return float((total - 1) * (diff**2 - total) / (total * (diff**2 - 1)))


def shin_package_fixed_point(implied: Array, iterations: int = 1000) -> tuple[float, float]:
    """mberk/shin's iteration for three or more outcomes: (z, last step); it stops when a step is below 1e-12."""
    z, step, n = 0.0, math.inf, implied.size
    for _ in range(iterations):
        if step <= 1e-12:
            break
        previous = z
        z = float((np.sqrt(z * z + 4 * (1 - z) * implied**2 / implied.sum()).sum() - 2) / (n - 2))
        step = abs(z - previous)
    return z, step


def test_negative_overround_shin_agrees_with_the_shin_package_for_two_ways_only_and_says_so() -> None:
    two = 1.0 / np.array([2.1, 2.05])  # sums to 0.964
    assert float(shin_probabilities(1.0 / two).z) == pytest.approx(shin_package_two_way_z(two), abs=1e-12)
    three = 1.0 / np.array([2.9, 3.6, 3.2])  # sums to 0.935
    z, step = shin_package_fixed_point(three)
    assert step > 0.1, "the package's iteration oscillates on a three-way negative-overround market"
    assert abs(shin_formula(three, z).sum() - 1) > 0.1, "and what it returns is not a distribution"
    ours = shin_probabilities(1.0 / three)
    assert ours.converged
    assert float(ours.z) < 0
    np.testing.assert_allclose(ours.probabilities, reference(1.0 / three, MarginMethod.SHIN), atol=1e-12)
    doc = " ".join((odds_module.__doc__ or "").split())
    assert "as in mberk/shin)" not in doc, "the docstring must not claim agreement for every market"
    assert "two-way" in doc
    assert "does not converge" in doc


# ------------------------------------------------------------------------------------------- properties
# Methods are looped inside each example rather than parametrised: same coverage, a fifth of the run time.


@PROPERTY
@given(odds=markets())
def test_probabilities_are_valid_and_ordered(odds: Array) -> None:
    shorter = odds[:, None] < odds[None, :]  # shorter odds must never mean a lower probability
    for method, p in each_method(odds).items():
        assert p.shape == odds.shape, method
        assert np.all((p >= 0) & (p <= 1)), method
        assert p.sum() == pytest.approx(1.0, abs=1e-9), method
        assert np.all(p[:, None] >= p[None, :] - 1e-12, where=shorter), method


@PROPERTY
@given(odds=markets(margin=st.just(0.0)))
def test_margin_free_input_is_identity(odds: Array) -> None:
    for method, p in each_method(odds).items():
        np.testing.assert_allclose(p, 1.0 / odds, rtol=0, atol=1e-12, err_msg=method)


@PROPERTY
@given(odds=markets(margin=st.floats(-0.2, -0.001)))
def test_negative_overround_is_still_normalised(odds: Array) -> None:
    for method, p in each_method(odds).items():
        assert np.all((p > 0) & (p < 1)), method
        assert p.sum() == pytest.approx(1.0, abs=1e-9), method


@PROPERTY
@given(odds=markets(margin=st.floats(-0.1, 0.25)))
def test_solved_methods_match_brentq(odds: Array) -> None:
    for method in SOLVED:
        np.testing.assert_allclose(
            remove_margin(odds, method), reference(odds, method), rtol=0, atol=1e-9, err_msg=method
        )


@PROPERTY
@given(odds=markets(margin=st.floats(-0.1, 0.25)))
def test_shin_z_and_power_exponent_are_solved(odds: Array) -> None:
    implied = 1.0 / odds
    result = shin_probabilities(odds)
    assert result.converged
    if abs(implied.sum() - 1) > 1e-12:  # z < 0 exactly when the prices sum to less than 1
        assert (float(result.z) > 0) == (implied.sum() > 1)
    assert abs(shin_formula(implied, float(result.z)).sum() - 1) <= SOLVER_TOLERANCE
    # Recover k from each outcome: a single shared exponent is what makes it the power method.
    exponents = np.log(remove_margin(odds, MarginMethod.POWER)) / np.log(implied)
    np.testing.assert_allclose(exponents, exponents[0], rtol=1e-9)
    assert abs((implied ** exponents.mean()).sum() - 1) <= SOLVER_TOLERANCE


@PROPERTY
@given(odds=markets(margin=st.floats(-0.1, 0.25), n=2))
def test_two_way_shin_equals_additive(odds: Array) -> None:
    # Known result for two outcomes (noted in the mberk/shin README): Shin and additive coincide.
    assume(not additive_would_go_negative(odds))
    np.testing.assert_allclose(
        remove_margin(odds, MarginMethod.SHIN), remove_margin(odds, MarginMethod.ADDITIVE), atol=1e-12
    )


@PROPERTY
@given(data=st.data(), n=st.sampled_from([2, 3]))
def test_2d_equals_row_by_row(data: st.DataObject, n: int) -> None:
    odds = np.stack(data.draw(st.lists(markets(margin=st.floats(-0.1, 0.25), n=n), min_size=1, max_size=8)))
    additive_ok = not any(additive_would_go_negative(row) for row in odds)
    for method in METHODS:
        if method is MarginMethod.ADDITIVE and not additive_ok:
            continue
        rows = [remove_margin(row, method) for row in odds]
        np.testing.assert_allclose(remove_margin(odds, method), rows, rtol=0, atol=1e-13, err_msg=method)
    shin_z = [float(shin_probabilities(row).z) for row in odds]
    np.testing.assert_allclose(shin_probabilities(odds).z, shin_z, rtol=0, atol=1e-13)
