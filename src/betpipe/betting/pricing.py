"""Fair probabilities and edges: what each selection is worth against the price actually offered.

The fair probability of an event's outcomes comes from a model, from the margin-free market, or from a log-linear
pool of both (the strategy says which). Pure, vectorised numpy on floats: this module never reads a database or a
clock, never raises on bad *data* in the hot path (a NaN, a price <= 1, a row that is not a distribution come back
as NaN so the caller can refuse the bet with a reason) and never invents a probability for such a row.

An event lies along the last axis: shape ``(k,)`` is one event with k mutually exclusive outcomes, ``(n, k)`` is n
events.

>>> edge([0.55, 0.30], [2.0, 1.0]).round(4).tolist()
[0.1, nan]
>>> shrink_toward_market(np.array([0.6, 0.4]), np.array([0.5, 0.5]), 0.5).round(4).tolist()
[0.5505, 0.4495]
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt
from numpy.typing import NDArray

from betpipe.odds import MarginMethod, remove_margin_or_nan

__all__ = [
    "PROBABILITY_SUM_TOLERANCE",
    "FairSource",
    "edge",
    "fair_probabilities",
    "is_distribution",
    "market_fair_probabilities",
    "shrink_toward_market",
]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
FairSource = Literal["model", "market", "blend"]

PROBABILITY_SUM_TOLERANCE = 1e-6
"""How far a row may sum from 1 and still count as a distribution (float drift, not a missing outcome)."""


def _floats(values: npt.ArrayLike) -> FloatArray:
    return np.asarray(values, dtype=np.float64)


def edge(probability: npt.ArrayLike, price: npt.ArrayLike) -> FloatArray:
    """Expected profit per unit staked, ``p * price - 1`` (broadcast).

    Unlike ``odds.expected_value`` this never raises: a price that is missing, non-finite or <= 1, or a probability
    outside [0, 1], gives NaN, because a backtest over thousands of rows must refuse those bets, not stop.
    """
    p = _floats(probability)
    d = _floats(price)
    bad = ~np.isfinite(d) | (d <= 1.0) | ~np.isfinite(p) | (p < 0.0) | (p > 1.0)
    with np.errstate(invalid="ignore"):
        return np.where(bad, np.nan, p * d - 1.0)


def is_distribution(probabilities: npt.ArrayLike, *, tolerance: float = PROBABILITY_SUM_TOLERANCE) -> BoolArray:
    """Per event (last axis): every probability finite and >= 0, and the row sums to 1 within ``tolerance``.

    A row that sums to 0.9 has lost an outcome; sizing it as if it were whole would be a guess.
    """
    p = _floats(probabilities)
    if p.ndim == 0:
        return np.asarray(False)
    finite = np.all(np.isfinite(p) & (p >= 0.0), axis=-1)
    with np.errstate(invalid="ignore"):
        sums = np.sum(p, axis=-1)
    return np.asarray(finite & (np.abs(sums - 1.0) <= tolerance))


def _normalised(p: FloatArray) -> FloatArray:
    """Rows renormalised to sum exactly to 1; rows that are not distributions become all-NaN."""
    ok = is_distribution(p)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = p / np.sum(p, axis=-1, keepdims=True)
    return np.where(ok[..., None], out, np.nan)


def shrink_toward_market(model: npt.ArrayLike, market: npt.ArrayLike, weight: float) -> FloatArray:
    """Log-linear pool ``p ∝ model^(1-w) · market^w``, w the weight on the market in [0, 1].

    For a two-way market this is exactly a weighted average of log-odds; for k outcomes it is the same average of
    the multinomial logits. A model that disagrees with a sharp market is more often wrong than right, and pooling
    in log space keeps the result a distribution that respects both sources' zeros. A row invalid in either source
    is NaN. ``weight`` outside [0, 1] is a configuration error and raises ``ValueError``.
    """
    if not (0.0 <= float(weight) <= 1.0):
        raise ValueError(f"market weight must be in [0, 1]; got {weight!r}")
    w = float(weight)
    m = _normalised(_floats(model))
    q = _normalised(_floats(market))
    m, q = np.broadcast_arrays(m, q)
    if w == 0.0:
        return np.where(np.isnan(q), np.nan, m)
    if w == 1.0:
        return np.where(np.isnan(m), np.nan, q)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_pool = (1.0 - w) * np.log(m) + w * np.log(q)
        top = np.max(log_pool, axis=-1, keepdims=True)
        pooled = np.exp(log_pool - top)
        pooled = pooled / np.sum(pooled, axis=-1, keepdims=True)
    # Sources that put all their mass on disjoint outcomes share nothing: no pool exists, so no number either.
    return np.where(np.isfinite(top), pooled, np.nan)


def fair_probabilities(
    model: npt.ArrayLike | None,
    market: npt.ArrayLike | None,
    *,
    source: FairSource,
    market_weight: float = 0.5,
) -> FloatArray:
    """The probabilities a strategy bets on: the model's, the margin-free market's, or their log-linear blend.

    Rows that are not distributions come back NaN (no bet), never repaired. Missing the source the strategy needs
    is a wiring error and raises ``ValueError``.

    >>> fair_probabilities([0.6, 0.4], [0.5, 0.5], source="blend", market_weight=0.0).tolist()
    [0.6, 0.4]
    >>> fair_probabilities([[0.6, 0.5]], None, source="model").tolist()
    [[nan, nan]]
    """
    if source == "model":
        if model is None:
            raise ValueError("source='model' needs model probabilities")
        return _normalised(_floats(model))
    if source == "market":
        if market is None:
            raise ValueError("source='market' needs market probabilities")
        return _normalised(_floats(market))
    if source == "blend":
        if model is None or market is None:
            raise ValueError("source='blend' needs both model and market probabilities")
        return shrink_toward_market(model, market, market_weight)
    raise ValueError(f"unknown fair-probability source {source!r}; expected 'model', 'market' or 'blend'")


def _margin_free(prices: npt.ArrayLike, method: MarginMethod | str) -> FloatArray:
    """Margin-free probabilities of each row of decimal prices.

    A row with a price missing or <= 1, or one the method cannot de-margin (additive pushing a longshot below zero,
    a solver that does not converge), is NaN: one such market in a season must not stop the whole backtest.
    """
    return remove_margin_or_nan(_floats(prices), method)


def market_fair_probabilities(
    sharp_prices: npt.ArrayLike,
    consensus_prices: npt.ArrayLike | None = None,
    *,
    method: MarginMethod | str = MarginMethod.MULTIPLICATIVE,
    consensus_weight: float = 0.0,
) -> FloatArray:
    """The margin-free market's probabilities: the sharp book's prices de-margined by ``method``, optionally pooled
    log-linearly (``shrink_toward_market``) with the margin-free consensus of many books, weight ``consensus_weight``.

    Why a consensus: the market average (``Avg*``/``BbAv*``) is an aggregate nobody can bet at, but as an *input* it
    carries the other books' information at the same instant, which one sharp book's pre-match quote may not yet
    reflect. The caller must read both sets of prices under the same pre-match time rule. A row with a sharp price
    missing or <= 1, or one ``method`` cannot de-margin (e.g. additive on a 29.0 longshot at 1.05), is NaN; so is
    one without a usable consensus when ``consensus_weight`` > 0 (no silent fallback to the sharp book alone: that
    would be a different strategy). ``consensus_weight`` outside [0, 1] raises.

    >>> market_fair_probabilities([2.0, 2.0]).tolist()
    [0.5, 0.5]
    >>> market_fair_probabilities([[2.0, 2.0]], [[1.8, 2.2]], consensus_weight=0.5).round(4).tolist()
    [[0.5251, 0.4749]]
    """
    if not 0.0 <= float(consensus_weight) <= 1.0:
        raise ValueError(f"consensus weight must be in [0, 1]; got {consensus_weight!r}")
    sharp = _margin_free(sharp_prices, method)
    if float(consensus_weight) == 0.0:
        return sharp
    if consensus_prices is None:
        raise ValueError("a consensus weight > 0 needs consensus prices")
    consensus = _margin_free(consensus_prices, method)
    return shrink_toward_market(sharp, consensus, float(consensus_weight))
