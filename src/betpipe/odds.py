"""Odds arithmetic: convert price formats and turn bookmaker odds into margin-free probabilities.

Pure maths only: this module never does I/O, and it never silently returns probabilities for invalid odds --
every public function that takes odds validates them and raises ``ValueError`` naming the bad value and its
position (``remove_margin_or_nan``, for batches of data, gives a bad market a NaN row instead). Everything is
vectorised over numpy arrays (scalars and lists are accepted too); results are always float64 arrays (0-d for
scalar input) so callers never branch on the return type. A *market* lies along the last axis: shape ``(n,)`` is
one market with n outcomes, shape ``(m, n)`` is m markets, one per row.

Negative overround (implied probabilities summing to < 1, e.g. best prices taken across books) is not an error:
every method still returns probabilities summing to 1. Additive then adds an equal share, the power exponent
falls below 1, the odds-ratio constant below 1, and Shin's z turns negative (the formula's continuation, solved
here for any number of outcomes). Only for two-way markets is that what mberk/shin returns (its closed form); on a
three-or-more-way market its fixed-point iteration does not converge (it oscillates, and its probabilities do not
sum to 1), so the cross-check there is scipy's brentq (tests). A negative z has no insider-trading meaning and only
says the prices are not from one book.

>>> american_to_decimal([150, -200]).tolist()
[2.5, 1.5]
>>> remove_margin([2.0, 2.0]).tolist()
[0.5, 0.5]
>>> [round(p, 4) for p in remove_margin([2.6, 2.4, 4.3], "shin").tolist()]
[0.373, 0.4048, 0.2222]
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from typing import overload

import numpy as np
import numpy.typing as npt
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
FractionalOdds = str | tuple[float, float]

SOLVER_TOLERANCE = 1e-10
"""Promise for the iterative methods: each market's probabilities sum to 1 within this."""
_AIM = 1e-13  # what the solver iterates towards, so the promise holds with room to spare
_MAX_ITERATIONS = 100
_EVENS = frozenset({"evs", "evens", "even"})


class MarginMethod(StrEnum):
    MULTIPLICATIVE = "multiplicative"
    ADDITIVE = "additive"
    POWER = "power"
    SHIN = "shin"
    ODDS_RATIO = "odds_ratio"


@dataclass(frozen=True)
class ShinResult:
    """Shin probabilities plus what is needed to judge them (pattern of mberk/shin's full output)."""

    probabilities: FloatArray  # same shape as the odds
    z: FloatArray  # one per market (shape odds.shape[:-1]); < 0 only for negative-overround markets
    iterations: int  # iterations of the shared vectorised solve
    converged: bool  # every market sums to 1 within SOLVER_TOLERANCE


# --------------------------------------------------------------------------------------------- validation


def _where(index: tuple[int, ...]) -> str:
    if not index:
        return ""
    return f" at index {index[0] if len(index) == 1 else index}"


def _show(value: object) -> str:
    return repr(value.item() if isinstance(value, np.generic) else value)


def _as_float_array(values: object, what: str) -> FloatArray:
    """Coerce to float64 without letting numpy guess: strings, bools and objects are errors, not numbers."""
    arr = np.asarray(values)
    if arr.dtype.kind in "iuf":
        return arr.astype(np.float64)
    if not isinstance(values, np.ndarray):  # keep a mixed list's numbers as numbers when hunting the culprit
        arr = np.asarray(values, dtype=object)
    for index in np.ndindex(arr.shape):
        value = arr[index]
        if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real | Decimal):
            raise ValueError(f"{what} must be numeric, got {_show(value)}{_where(index)}")
    return arr.astype(np.float64)


def _reject(arr: FloatArray, bad: NDArray[np.bool_], what: str, rule: str) -> None:
    count = int(np.count_nonzero(bad))
    if count:
        index = tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), arr.shape))
        more = f" ({count - 1} more invalid)" if count > 1 else ""
        raise ValueError(f"invalid {what} {_show(arr[index])}{_where(index)}: {rule}{more}")


def validate_decimal_odds(odds: npt.ArrayLike) -> FloatArray:
    """Return ``odds`` as float64, or raise ``ValueError`` naming the first bad value and where it is.

    Odds of 1 or less pay nothing (or less than the stake), so no probability can be derived from them.

    >>> validate_decimal_odds([2.0, 1.0])
    Traceback (most recent call last):
    ...
    ValueError: invalid decimal odds 1.0 at index 1: decimal odds must be finite and > 1
    """
    arr = _as_float_array(odds, "decimal odds")
    _reject(arr, ~(arr > 1.0) | ~np.isfinite(arr), "decimal odds", "decimal odds must be finite and > 1")
    return arr


def _validate_probability(p: npt.ArrayLike, *, zero_ok: bool, one_ok: bool) -> FloatArray:
    arr = _as_float_array(p, "probability")
    too_low = arr <= 0.0 if not zero_ok else arr < 0.0
    too_high = arr >= 1.0 if not one_ok else arr > 1.0
    rule = f"probabilities must be in {'[' if zero_ok else '('}0, 1{']' if one_ok else ')'}"
    _reject(arr, too_low | too_high | np.isnan(arr), "probability", rule)
    return arr


# -------------------------------------------------------------------------------------------- conversions


def decimal_to_american(odds: npt.ArrayLike) -> FloatArray:
    """Decimal to American (moneyline): 2.5 -> +150, 1.5 -> -200; exactly 2.0 gives +100."""
    d = validate_decimal_odds(odds)
    return np.asarray(np.where(d >= 2.0, 100.0 * (d - 1.0), -100.0 / (d - 1.0)), dtype=np.float64)


def american_to_decimal(american: npt.ArrayLike) -> FloatArray:
    """American to decimal; values strictly between -100 and +100 are not American odds and are rejected."""
    a = _as_float_array(american, "American odds")
    rule = "American odds must be finite and >= 100 or <= -100"
    _reject(a, ~np.isfinite(a) | ~(np.abs(a) >= 100.0), "American odds", rule)
    # One division of exact integers is correctly rounded; ``1 - 100/a`` rounds twice (-115 gave
    # 1.8695652173913042; the float nearest 43/23 is ...044).
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.where(a > 0, (a + 100.0) / 100.0, (a - 100.0) / a), dtype=np.float64)


def _is_one_fraction(value: object) -> bool:
    return isinstance(value, str) or (
        isinstance(value, tuple) and len(value) == 2 and not isinstance(value[0], str | tuple)
    )


def _parse_fraction(item: object, index: tuple[int, ...]) -> float:
    bad = f"invalid fractional odds {item!r}{_where(index)}"
    if isinstance(item, str):
        text = item.strip().lower()
        parts = ["1", "1"] if text in _EVENS else text.split("/")
        try:
            num, den = (float(part) for part in parts)
        except ValueError:
            raise ValueError(f"{bad}: expected 'numerator/denominator', e.g. '5/2'") from None
    elif isinstance(item, tuple) and len(item) == 2 and all(isinstance(x, numbers.Real) for x in item):
        num, den = float(item[0]), float(item[1])
    else:
        raise ValueError(f"{bad}: expected a 'num/den' string or a (num, den) tuple")
    if not (np.isfinite(num) and np.isfinite(den) and num > 0 and den > 0):
        raise ValueError(f"{bad}: numerator and denominator must be finite and > 0")
    return 1.0 + num / den


def fractional_to_decimal(fraction: FractionalOdds | Sequence[FractionalOdds]) -> FloatArray:
    """'5/2' or (5, 2) -> 3.5; a sequence of them gives a 1-D array. 'evs'/'evens' mean 1/1.

    >>> fractional_to_decimal(["5/2", (1, 4), "evs"]).tolist()
    [3.5, 1.25, 2.0]
    """
    if _is_one_fraction(fraction):
        return validate_decimal_odds(_parse_fraction(fraction, ()))
    items = list(fraction)
    return validate_decimal_odds([_parse_fraction(item, (i,)) for i, item in enumerate(items)])


@overload
def decimal_to_fractional(odds: float, max_denominator: int = 100) -> str: ...  # type: ignore[overload-overlap]
@overload
def decimal_to_fractional(odds: npt.ArrayLike, max_denominator: int = 100) -> NDArray[np.str_]: ...
def decimal_to_fractional(odds: npt.ArrayLike, max_denominator: int = 100) -> str | NDArray[np.str_]:
    """Nearest 'num/den' with den <= max_denominator: a str for a Python number, else an array of str.

    Raises rather than print '0/1' when the odds are too short to show with that denominator.

    >>> decimal_to_fractional(3.5), decimal_to_fractional([1.25, 2.0]).tolist()
    ('5/2', ['1/4', '1/1'])
    """
    d = validate_decimal_odds(odds)
    out = np.empty(d.shape, dtype=object)
    for index in np.ndindex(d.shape):
        frac = Fraction(float(d[index]) - 1.0).limit_denominator(max_denominator)
        if frac <= 0:
            raise ValueError(
                f"decimal odds {float(d[index])!r}{_where(index)} are too short for fractional odds "
                f"with denominator <= {max_denominator}"
            )
        out[index] = f"{frac.numerator}/{frac.denominator}"
    if isinstance(odds, numbers.Real | Decimal):
        return str(out[()])
    return out.astype(np.str_)


def decimal_to_implied(odds: npt.ArrayLike) -> FloatArray:
    """1/odds: the bookmaker's probability, margin included."""
    return np.asarray(1.0 / validate_decimal_odds(odds), dtype=np.float64)


def implied_to_decimal(probability: npt.ArrayLike) -> FloatArray:
    """1/p, for p in (0, 1): p = 1 would give odds of 1.0, which are not valid odds."""
    return np.asarray(1.0 / _validate_probability(probability, zero_ok=False, one_ok=False), dtype=np.float64)


def fair_odds(probabilities: npt.ArrayLike) -> FloatArray:
    """Margin-free price 1/p of a model probability; p = 1 is allowed (a certainty is fairly priced at 1.0)."""
    return np.asarray(1.0 / _validate_probability(probabilities, zero_ok=False, one_ok=True), dtype=np.float64)


def expected_value(probability: npt.ArrayLike, decimal_odds: npt.ArrayLike) -> FloatArray:
    """Expected profit per unit staked, p*d - 1 (broadcast); > 0 means the bet is worth making at p.

    >>> float(expected_value(0.55, 2.0))
    0.10000000000000009
    """
    p = _validate_probability(probability, zero_ok=True, one_ok=True)
    return np.asarray(p * validate_decimal_odds(decimal_odds) - 1.0, dtype=np.float64)


# ------------------------------------------------------------------------------------------------ markets


def _markets(odds: npt.ArrayLike) -> tuple[FloatArray, tuple[int, ...]]:
    """Validated implied probabilities as a (markets, outcomes) matrix, plus the shape to restore."""
    d = validate_decimal_odds(odds)
    if d.ndim == 0 or d.shape[-1] < 2:
        raise ValueError(f"a market needs at least 2 outcomes along the last axis; got shape {d.shape}")
    return 1.0 / d.reshape(-1, d.shape[-1]), d.shape


def _market_name(row: int, shape: tuple[int, ...]) -> str:
    index = tuple(int(i) for i in np.unravel_index(row, shape[:-1]))
    return f"market{_where(index)}" if index else "the market"


def overround(odds: npt.ArrayLike) -> FloatArray:
    """Bookmaker margin per market: sum of 1/odds minus 1 (negative when prices come from several books).

    >>> round(float(overround([1.9, 1.9])), 4)
    0.0526
    """
    pi, shape = _markets(odds)
    return np.asarray((pi.sum(axis=-1) - 1.0).reshape(shape[:-1]), dtype=np.float64)


_Residual = Callable[[FloatArray], tuple[FloatArray, FloatArray]]


def _solve_decreasing(
    residual: _Residual, x0: FloatArray, lo: FloatArray, hi: FloatArray
) -> tuple[FloatArray, FloatArray, int]:
    """Root of a decreasing f(x) per row, by Newton kept inside a shrinking bracket.

    Newton converges in a handful of steps; the bracket (bisection when a step leaves it) means no market,
    however extreme, can make it diverge. Returns the roots, the final residuals and the iteration count.
    """
    x, lo, hi = x0.copy(), lo.copy(), hi.copy()
    f, df = residual(x)
    iterations = 0
    while iterations < _MAX_ITERATIONS:
        lo = np.where(f > 0, x, lo)
        hi = np.where(f < 0, x, hi)
        active = (np.abs(f) > _AIM) & (hi - lo > 4 * np.finfo(np.float64).eps * np.maximum(1.0, np.abs(x)))
        if not active.any():
            break
        with np.errstate(divide="ignore", invalid="ignore"):
            step = x - f / df
        inside = np.isfinite(step) & (step > lo) & (step < hi)
        x = np.where(active, np.where(inside, step, 0.5 * (lo + hi)), x)
        f, df = residual(x)
        iterations += 1
    return x, f, iterations


def _power(pi: FloatArray) -> tuple[FloatArray, FloatArray, int]:
    """p_i = pi_i**k. Bracket: n*min(pi)**k >= 1 and n*max(pi)**k <= 1 bound the root from both sides."""
    log_pi = np.log(pi)
    log_n = np.log(pi.shape[-1])
    lo = np.minimum(1.0, log_n / -log_pi.min(axis=-1))
    hi = np.maximum(1.0, log_n / -log_pi.max(axis=-1))

    def residual(k: FloatArray) -> tuple[FloatArray, FloatArray]:
        terms = np.exp(k[:, None] * log_pi)
        return terms.sum(axis=-1) - 1.0, (terms * log_pi).sum(axis=-1)

    k, f, iterations = _solve_decreasing(residual, np.ones(pi.shape[0]), lo, hi)
    return np.exp(k[:, None] * log_pi), f, iterations


def _odds_ratio(pi: FloatArray) -> tuple[FloatArray, FloatArray, int]:
    """Cheung: odds(p_i) = odds(pi_i)/c. Bracket: c <= pi(n-1)/(1-pi) gives every p >= 1/n; above
    sum(pi/(1-pi)) the sum is < 1."""
    n = pi.shape[-1]
    lo = np.minimum(1.0, (pi * (n - 1) / (1.0 - pi)).min(axis=-1))
    hi = np.maximum(1.0, (pi / (1.0 - pi)).sum(axis=-1))

    def probabilities(c: FloatArray) -> FloatArray:
        return pi / (c[:, None] * (1.0 - pi) + pi)

    def residual(c: FloatArray) -> tuple[FloatArray, FloatArray]:
        p = probabilities(c)
        return p.sum(axis=-1) - 1.0, -(p * p * (1.0 - pi) / pi).sum(axis=-1)

    c, f, iterations = _solve_decreasing(residual, np.ones(pi.shape[0]), lo, hi)
    return probabilities(c), f, iterations


def _shin(pi: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray, int]:
    """Shin with z per row. z in [0, 1) when overround >= 0; in [-1/(n-1), 0) otherwise, since every
    p_i > -z/(1-z) there, so the sum is already >= 1 at z = -1/(n-1)."""
    n = pi.shape[-1]
    total = pi.sum(axis=-1)
    a = pi * pi / total[:, None]
    negative = total < 1.0
    lo = np.where(negative, -1.0 / (n - 1), 0.0)
    hi = np.where(negative, 0.0, 1.0)

    def probabilities(z: FloatArray) -> tuple[FloatArray, FloatArray]:
        zc = z[:, None]
        root = np.sqrt(zc * zc + 4.0 * (1.0 - zc) * a)
        return (root - zc) / (2.0 * (1.0 - zc)), root

    def residual(z: FloatArray) -> tuple[FloatArray, FloatArray]:
        p, root = probabilities(z)
        zc = z[:, None]
        droot = (zc - 2.0 * a) / root
        dp = (droot * (1.0 - zc) + root - 1.0) / (2.0 * (1.0 - zc) ** 2)
        return p.sum(axis=-1) - 1.0, dp.sum(axis=-1)

    z, f, iterations = _solve_decreasing(residual, np.zeros(pi.shape[0]), lo, hi)
    return probabilities(z)[0], z, f, iterations


def shin_probabilities(odds: npt.ArrayLike) -> ShinResult:
    """Shin's method with diagnostics; z estimates the share of insider money behind each market.

    >>> result = shin_probabilities([1.5, 2.74])
    >>> round(float(result.z), 6), result.converged
    (0.031727, True)
    """
    pi, shape = _markets(odds)
    p, z, f, iterations = _shin(pi)
    return ShinResult(
        probabilities=p.reshape(shape),
        z=z.reshape(shape[:-1]),
        iterations=iterations,
        converged=bool(np.all(np.abs(f) <= SOLVER_TOLERANCE)),
    )


def _de_margined(pi: FloatArray, method: MarginMethod) -> tuple[FloatArray, NDArray[np.bool_], FloatArray]:
    """Probabilities per row, the rows ``method`` could not de-margin (additive below zero, a solver short of
    ``SOLVER_TOLERANCE``) and the residuals; rows never affect each other (every solve is per row)."""
    residual = np.zeros(pi.shape[0])
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        if method is MarginMethod.MULTIPLICATIVE:
            p = pi / pi.sum(axis=-1, keepdims=True)
        elif method is MarginMethod.ADDITIVE:
            p = pi - (pi.sum(axis=-1, keepdims=True) - 1.0) / pi.shape[-1]
        elif method is MarginMethod.SHIN:
            p, _, residual, _ = _shin(pi)
        else:
            p, residual, _ = (_power if method is MarginMethod.POWER else _odds_ratio)(pi)
    failed = ~(np.abs(residual) <= SOLVER_TOLERANCE) | ~np.all(np.isfinite(p) & (p >= 0.0), axis=-1)
    return p, failed, residual


def remove_margin(odds: npt.ArrayLike, method: MarginMethod | str = MarginMethod.SHIN) -> FloatArray:
    """Margin-free probabilities per market (last axis), same shape as ``odds``; each market sums to 1.

    Margin-free input comes back unchanged under every method. Additive can push an extreme longshot below
    zero; that raises ``ValueError`` naming the market instead of clipping, which would break the sum. Over a
    batch of data, where one such market must not cost the others, use ``remove_margin_or_nan``.
    """
    method = MarginMethod(method)
    pi, shape = _markets(odds)
    p, failed, residual = _de_margined(pi, method)
    if failed.any():
        row = int(np.argmax(failed))
        if method is MarginMethod.ADDITIVE:
            raise ValueError(
                f"additive margin removal gives a negative probability for {_market_name(row, shape)} "
                f"(odds {np.round(1.0 / pi[row], 6).tolist()}); use another method for such longshots"
            )
        raise RuntimeError(
            f"{method} margin removal did not converge for {_market_name(row, shape)} "
            f"(|residual| {abs(float(residual[row])):.3g}, tolerance {SOLVER_TOLERANCE:g})"
        )
    return np.asarray(p.reshape(shape), dtype=np.float64)


def remove_margin_or_nan(odds: npt.ArrayLike, method: MarginMethod | str = MarginMethod.SHIN) -> FloatArray:
    """``remove_margin`` for batches of data: a market with a price missing, not finite or <= 1, or one ``method``
    cannot de-margin (additive below zero, an unconverged solve), is a NaN row; every other row is what
    ``remove_margin`` gives it. A run prices thousands of markets at once, and one book's extreme longshot must cost
    that market, not the run; NaN is never a probability, so nobody bets on it. A shape of fewer than 2 outcomes or
    an unknown method is a wiring error and raises.

    >>> remove_margin_or_nan([[2.0, 2.0], [1.0, 3.0]], "additive").tolist()
    [[0.5, 0.5], [nan, nan]]
    """
    method = MarginMethod(method)
    d = _as_float_array(odds, "decimal odds")
    if d.ndim == 0 or d.shape[-1] < 2:
        raise ValueError(f"a market needs at least 2 outcomes along the last axis; got shape {d.shape}")
    flat = d.reshape(-1, d.shape[-1])
    out = np.full(flat.shape, np.nan)
    usable = np.all(np.isfinite(flat) & (flat > 1.0), axis=-1)
    if usable.any():
        p, failed, _ = _de_margined(1.0 / flat[usable], method)
        p[failed] = np.nan
        out[usable] = p
    return np.asarray(out.reshape(d.shape), dtype=np.float64)
