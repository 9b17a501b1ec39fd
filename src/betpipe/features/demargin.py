"""Margin removal for the feature build: ``betpipe.odds.remove_margin``'s Shin solve, compiled and bit-identical.

The market features de-margin every book's market of every event (2M rows for 1M events). ``betpipe.odds`` solves
Shin's z by Newton over whole arrays, a dozen temporaries per step for every row until the slowest converges;
here the same operations run in the same order one row at a time, so the probabilities are the same bits
(tests/test_features_speed.py compares them with ``array_equal``) for a fraction of the CPU. Every other method,
invalid prices and markets the solver cannot de-margin go to ``remove_margin`` itself, errors included.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

from betpipe.odds import SOLVER_TOLERANCE, MarginMethod, remove_margin

_SHIN_AIM = 1e-13  # betpipe.odds' Newton target and iteration cap: the kernel below must stop where it stops
_SHIN_MAX_ITERATIONS = 100
_EPS4 = 4.0 * float(np.finfo(np.float64).eps)


def fair_probabilities(prices: NDArray[np.float64], method: str) -> NDArray[np.float64]:
    """``remove_margin(prices, method)`` for rows of decimal prices; Shin through a compiled per-row solve.

    ``betpipe.odds`` runs Shin's Newton iteration over whole arrays (a dozen temporaries per step, every row until
    the slowest converges); ``_shin_rows`` runs the same operations in the same order on one row at a time, so the
    probabilities are the same bits (tests/test_features_speed.py compares them with ``array_equal``) at a tenth of
    the CPU. Anything else -- another method, an invalid price, a market the solver cannot de-margin -- goes to
    ``remove_margin`` itself, which raises its own error."""
    if MarginMethod(method) is not MarginMethod.SHIN or prices.ndim != 2 or prices.shape[1] < 2:
        return remove_margin(prices, method)
    fair, solved = _shin_prices(np.ascontiguousarray(prices, dtype=np.float64), SOLVER_TOLERANCE)
    return fair if solved else remove_margin(prices, method)


@njit(cache=True, nogil=True, error_model="numpy")
def _shin_prices(prices: NDArray[np.float64], tolerance: float) -> tuple[NDArray[np.float64], bool]:  # pragma: no cover
    """``_shin_rows`` of the implied probabilities 1 / price, with the checks that send a batch to ``remove_margin``
    in the same pass (every price finite and > 1; every row's residual within ``tolerance`` and its probabilities
    finite and >= 0): False if one fails. Whole-array numpy checks cost as much as the solve."""
    n, k = prices.shape
    pi = np.empty((n, k))
    for r in range(n):
        for j in range(k):
            price = prices[r, j]
            if not (np.isfinite(price) and price > 1.0):
                return pi, False
            pi[r, j] = 1.0 / price
    fair, residual = _shin_rows(pi)
    for r in range(n):
        if not abs(residual[r]) <= tolerance:
            return fair, False
        for j in range(k):
            if not (np.isfinite(fair[r, j]) and fair[r, j] >= 0.0):
                return fair, False
    return fair, True


@njit(cache=True, nogil=True, error_model="numpy")
def _shin_rows(pi: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:  # pragma: no cover
    """Per row of implied probabilities, Shin's z by ``betpipe.odds._solve_decreasing`` (Newton inside a shrinking
    bracket, bisection when a step leaves it) and the probabilities at that z, with the final residual."""
    n, k = pi.shape
    fair = np.empty((n, k))
    residual = np.empty(n)
    a = np.empty(k)
    for r in range(n):
        total = 0.0
        for j in range(k):
            total += pi[r, j]
        for j in range(k):
            a[j] = pi[r, j] * pi[r, j] / total
        lo, hi = (-1.0 / (k - 1), 0.0) if total < 1.0 else (0.0, 1.0)
        z = 0.0
        f, df = _shin_residual(a, z)
        iterations = 0
        while iterations < _SHIN_MAX_ITERATIONS:
            if f > 0:
                lo = z
            if f < 0:
                hi = z
            bound = abs(z) if not abs(z) < 1.0 else 1.0  # np.maximum(1, |z|): NaN stays NaN
            if not (abs(f) > _SHIN_AIM and hi - lo > _EPS4 * bound):
                break
            step = z - f / df
            z = step if np.isfinite(step) and step > lo and step < hi else 0.5 * (lo + hi)
            f, df = _shin_residual(a, z)
            iterations += 1
        residual[r] = f
        for j in range(k):
            fair[r, j] = (np.sqrt(z * z + 4.0 * (1.0 - z) * a[j]) - z) / (2.0 * (1.0 - z))
    return fair, residual


@njit(cache=True, nogil=True, error_model="numpy")
def _shin_residual(a: NDArray[np.float64], z: float) -> tuple[float, float]:  # pragma: no cover - compiled
    total, slope = 0.0, 0.0
    for j in range(a.shape[0]):
        root = np.sqrt(z * z + 4.0 * (1.0 - z) * a[j])
        total += (root - z) / (2.0 * (1.0 - z))
        droot = (z - 2.0 * a[j]) / root
        slope += (droot * (1.0 - z) + root - 1.0) / (2.0 * ((1.0 - z) * (1.0 - z)))
    return total - 1.0, slope


def shin_warm_up() -> None:
    """Compile (or load from the on-disk cache) the kernel, so timings can separate JIT cost from the run."""
    _shin_rows(np.full((1, 3), 0.35))
    _shin_prices(np.full((1, 3), 2.8), SOLVER_TOLERANCE)
