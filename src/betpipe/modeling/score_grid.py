"""Score grids: the joint distribution of (home goals, away goals) for N matches, and every market priced from it.

One ``ScoreGrid`` holds an (N, G, G) array; row index = home goals, column = away goals, and the last index G-1 means
"G-1 or more", so each match's grid sums to one with the tail mass kept (censored, not dropped or renormalised).
Every price is a vectorised reduction over all N matches at once; lines may differ per match. Handicap and total
lines follow ``betpipe.sports.grade_selection`` exactly (quarter lines split the stake), so a probability here is
the probability of the grade settlement would give. This module never fits anything and never reads data.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt
from scipy.special import gammaln, pdtrc

from betpipe.modeling._base import FloatArray

__all__ = [
    "DEFAULT_MAX_GOALS",
    "LineProbabilities",
    "ScoreGrid",
    "bivariate_poisson_grid",
    "dixon_coles_grid",
    "poisson_pmf",
]

DEFAULT_MAX_GOALS = 15  # G = 16: beyond 15 goals a side the tail holds < 1e-6 even at 4 expected goals
_EPS = 1e-12


def poisson_pmf(rate: npt.ArrayLike, size: int, *, censor: bool = True) -> FloatArray:
    """(N, size) Poisson probabilities of 0..size-1; with ``censor`` the last column holds P(X >= size-1)."""
    lam = np.asarray(rate, dtype=np.float64).reshape(-1, 1)
    k = np.arange(size, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_p = k * np.log(lam) - lam - gammaln(k + 1.0)
    p = np.exp(log_p)
    p[:, 0] = np.exp(-lam[:, 0])  # 0 * log(0) for a zero rate
    if censor:
        p[:, -1] = pdtrc(size - 2, lam[:, 0])  # P(X > size-2), accurate where 1 - sum would cancel
    return np.asarray(p, dtype=np.float64)


def dixon_coles_grid(
    home_goals: npt.ArrayLike,
    away_goals: npt.ArrayLike,
    rho: npt.ArrayLike = 0.0,
    *,
    max_goals: int = DEFAULT_MAX_GOALS,
) -> ScoreGrid:
    """Independent Poisson goals with Dixon & Coles' (1997) low-score correction (rho = 0: plain Poisson).

    tau follows the paper and ``DixonColesModel``'s likelihood: 0-0 x (1 - lam mu rho), 0-1 x (1 + lam rho),
    1-0 x (1 + mu rho), 1-1 x (1 - rho). (penaltyblog's ``create_dixon_coles_grid`` swaps the 0-1/1-0 factors.)
    tau leaves both marginals unchanged, so the censored last row/column stay exact.
    """
    lam = np.asarray(home_goals, dtype=np.float64).reshape(-1)
    mu = np.asarray(away_goals, dtype=np.float64).reshape(-1)
    if lam.shape != mu.shape:
        raise ValueError(f"home and away expectations differ in length ({lam.size} vs {mu.size})")
    if max_goals < 2:
        raise ValueError("max_goals must be at least 2 (the Dixon–Coles cells 0 and 1 must not be censored)")
    r = np.broadcast_to(np.asarray(rho, dtype=np.float64), lam.shape)
    size = max_goals + 1
    grid = poisson_pmf(lam, size)[:, :, None] * poisson_pmf(mu, size)[:, None, :]
    grid[:, 0, 0] *= 1.0 - lam * mu * r
    grid[:, 0, 1] *= 1.0 + lam * r
    grid[:, 1, 0] *= 1.0 + mu * r
    grid[:, 1, 1] *= 1.0 - r
    return ScoreGrid(np.clip(grid, 0.0, None))


def bivariate_poisson_grid(
    lambda1: npt.ArrayLike, lambda2: npt.ArrayLike, lambda3: npt.ArrayLike, *, max_goals: int = DEFAULT_MAX_GOALS
) -> ScoreGrid:
    """Karlis & Ntzoufras' bivariate Poisson: home = W1 + W3, away = W2 + W3 with W_i ~ Poisson(lambda_i) independent.

    Built as the sum over the shared count k of shifted independent grids (a loop over k, never over matches); the
    censored last row/column are completed from the exact Poisson(lambda1 + lambda3) / (lambda2 + lambda3) marginals.
    """
    l1 = np.asarray(lambda1, dtype=np.float64).reshape(-1)
    l2 = np.asarray(lambda2, dtype=np.float64).reshape(-1)
    l3 = np.broadcast_to(np.asarray(lambda3, dtype=np.float64), l1.shape)
    size = max_goals + 1
    p1, p2, p3 = (poisson_pmf(x, size, censor=False) for x in (l1, l2, l3))
    core = np.zeros((l1.size, size, size))
    for k in range(size):
        m = size - k
        core[:, k:, k:] += p3[:, k, None, None] * p1[:, :m, None] * p2[:, None, :m]
    grid = core.copy()
    home_marginal = poisson_pmf(l1 + l3, size)
    away_marginal = poisson_pmf(l2 + l3, size)
    # P(home >= G-1, away = y) = P(away = y) - P(home < G-1, away = y), and the same for the last column.
    grid[:, -1, :-1] = away_marginal[:, :-1] - core[:, :-1, :-1].sum(axis=1)
    grid[:, :-1, -1] = home_marginal[:, :-1] - core[:, :-1, :-1].sum(axis=2)
    grid[:, -1, -1] = 0.0
    grid = np.clip(grid, 0.0, None)
    grid[:, -1, -1] = np.clip(1.0 - grid.sum(axis=(1, 2)), 0.0, None)
    return ScoreGrid(grid)


@dataclass(frozen=True)
class LineProbabilities:
    """Probability of each settlement grade of one selection at a handicap or total line, per match.

    ``half_won``/``half_lost`` are non-zero only on quarter lines, ``void`` (push) only on whole lines; the five sum
    to one. ``fair_odds`` is the decimal price with zero expected profit under settlement's half-stake rules.
    """

    won: FloatArray
    half_won: FloatArray
    void: FloatArray
    half_lost: FloatArray
    lost: FloatArray

    @property
    def win_weight(self) -> FloatArray:
        return np.asarray(self.won + 0.5 * self.half_won, dtype=np.float64)

    @property
    def loss_weight(self) -> FloatArray:
        return np.asarray(self.lost + 0.5 * self.half_lost, dtype=np.float64)

    @property
    def no_push_probability(self) -> FloatArray:
        """Win weight over (win + loss weight): the margin-free two-way probability a fair book would quote."""
        w, lo = self.win_weight, self.loss_weight
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.asarray(np.where(w + lo > 0, w / (w + lo), np.nan), dtype=np.float64)

    @property
    def fair_odds(self) -> FloatArray:
        return np.asarray(1.0 / self.no_push_probability, dtype=np.float64)

    def expected_profit(self, price: npt.ArrayLike) -> FloatArray:
        """Expected profit of a unit stake at decimal ``price`` (what ``profit_per_unit`` pays, in expectation)."""
        o = np.asarray(price, dtype=np.float64)
        return np.asarray(self.win_weight * (o - 1.0) - self.loss_weight, dtype=np.float64)


def _line_array(line: npt.ArrayLike, n: int) -> FloatArray:
    lines = np.broadcast_to(np.asarray(line, dtype=np.float64), (n,)).copy()
    quarters = np.round(lines * 4.0)
    if not np.all(np.isfinite(lines)) or np.any(np.abs(lines * 4.0 - quarters) > 1e-9):
        bad = lines[~np.isfinite(lines) | (np.abs(lines * 4.0 - quarters) > 1e-9)][0]
        raise ValueError(f"line {bad} is not a multiple of 0.25")
    return np.asarray(quarters / 4.0, dtype=np.float64)


def _padded_cdf(pmf: FloatArray) -> FloatArray:
    """(N, S + 1): column 0 is P(V < first) = 0, column j + 1 is P(V <= first + j)."""
    out = np.zeros((pmf.shape[0], pmf.shape[1] + 1))
    np.cumsum(pmf, axis=1, out=out[:, 1:])
    return out


def _grades(cdf: FloatArray, first: int, offset: FloatArray) -> LineProbabilities:
    """Grades of a bet on V + offset (V an integer from ``first`` on, ``cdf`` by ``_padded_cdf``): win > 0, push = 0,
    loss < 0.

    A quarter offset is two half bets at offset -/+ 0.25: full win needs V + (offset - 0.25) > 0, full loss
    V + (offset + 0.25) < 0, and the one value of V between them is a half win or a half loss.
    """
    n, s = cdf.shape[0], cdf.shape[1] - 1
    quarter = np.abs(offset * 4.0 - 2.0 * np.round(offset * 2.0)) > 1e-9
    low = np.where(quarter, offset - 0.25, offset)
    high = np.where(quarter, offset + 0.25, offset)
    # P(V <= floor(-low)) is "not a full win"; P(V <= ceil(-high) - 1) is "a full loss"
    not_won_at = np.clip(np.floor(-low + _EPS) - first + 1, 0, s).astype(np.int64)
    lost_at = np.clip(np.ceil(-high - _EPS) - first, 0, s).astype(np.int64)
    if n and (offset == offset[0]).all():  # one line for every match: two column reads
        not_won, lost = cdf[:, not_won_at[0]], cdf[:, lost_at[0]]
    else:
        not_won = np.take_along_axis(cdf, not_won_at[:, None], axis=1)[:, 0]
        lost = np.take_along_axis(cdf, lost_at[:, None], axis=1)[:, 0]
    won = cdf[:, -1] - not_won
    middle = np.clip(not_won - lost, 0.0, None)
    zero = np.zeros(n)
    whole = ~quarter & (np.abs(offset - np.round(offset)) < 1e-9)
    half_won = np.where(quarter & (offset > np.round(offset)), middle, zero)
    half_lost = np.where(quarter & (offset < np.round(offset)), middle, zero)
    return LineProbabilities(won, half_won, np.where(whole, middle, zero), half_lost, lost.copy())


class ScoreGrid:
    """Scores of N matches; build with ``dixon_coles_grid``/``bivariate_poisson_grid`` or from any (N, G, G) array."""

    def __init__(self, probabilities: npt.ArrayLike) -> None:
        p = np.asarray(probabilities, dtype=np.float64)
        if p.ndim == 2:
            p = p[None]
        if p.ndim != 3 or p.shape[1] != p.shape[2] or p.shape[1] < 2:
            raise ValueError(f"a score grid is (N, G, G) with G >= 2, not shape {p.shape}")
        self.probabilities = p

    def __len__(self) -> int:
        return int(self.probabilities.shape[0])

    @property
    def max_goals(self) -> int:
        return int(self.probabilities.shape[1] - 1)

    def __getitem__(self, rows: npt.NDArray[np.bool_] | npt.NDArray[np.int64] | list[int] | slice) -> ScoreGrid:
        return ScoreGrid(self.probabilities[rows])

    @cached_property
    def _flat(self) -> FloatArray:
        return np.asarray(self.probabilities.reshape(len(self), -1), dtype=np.float64)

    def _by(self, values: npt.NDArray[np.int64], first: int, size: int) -> FloatArray:
        """pmf of an integer function of the score (value per cell), as one matrix product over all matches."""
        onehot = np.zeros((values.size, size))
        onehot[np.arange(values.size), values.reshape(-1) - first] = 1.0
        return np.asarray(self._flat @ onehot, dtype=np.float64)

    @cached_property
    def total_goals(self) -> FloatArray:
        """(N, 2G-1) P(home + away = t), t = 0..2G-2 (the censored cells count as G-1 goals)."""
        g = self.max_goals + 1
        i, j = np.indices((g, g))
        return self._by(i + j, 0, 2 * g - 1)

    @cached_property
    def goal_difference(self) -> FloatArray:
        """(N, 2G-1) P(home - away = d), d = -(G-1)..G-1."""
        g = self.max_goals + 1
        i, j = np.indices((g, g))
        return self._by(i - j, -(g - 1), 2 * g - 1)

    def _cdf(self, of: str) -> FloatArray:
        """Cached padded cdf of total, -total, difference or -difference (every line of a market reuses it)."""
        cache: dict[str, FloatArray] = self.__dict__.setdefault("_cdfs", {})
        if of not in cache:
            pmf = self.total_goals if of.endswith("total") else self.goal_difference
            cache[of] = _padded_cdf(np.ascontiguousarray(pmf[:, ::-1] if of.startswith("minus") else pmf))
        return cache[of]

    @property
    def home_goals(self) -> FloatArray:
        return np.asarray(self.probabilities.sum(axis=2), dtype=np.float64)

    @property
    def away_goals(self) -> FloatArray:
        return np.asarray(self.probabilities.sum(axis=1), dtype=np.float64)

    # ------------------------------------------------------------------ markets

    def one_x_two(self) -> FloatArray:
        """(N, 3) home, draw, away: ``predict_proba``'s column order."""
        d = self.goal_difference
        g = self.max_goals
        return np.column_stack([d[:, g + 1 :].sum(axis=1), d[:, g], d[:, :g].sum(axis=1)])

    def totals(self, line: npt.ArrayLike, selection: str = "over") -> LineProbabilities:
        """Over/under ``line`` (scalar or one per match), graded as ``grade_selection("total", ...)`` does."""
        lines = _line_array(line, len(self))
        if selection == "over":
            return _grades(self._cdf("total"), 0, -lines)
        if selection == "under":
            return _grades(self._cdf("minus_total"), -2 * self.max_goals, lines)
        raise ValueError(f"selection {selection!r} is not 'over' or 'under'")

    def asian_handicap(self, line: npt.ArrayLike, selection: str = "home") -> LineProbabilities:
        """Asian handicap at the home side's ``line`` (scalar or one per match); away carries the opposite line."""
        lines = _line_array(line, len(self))
        g = self.max_goals
        if selection == "home":
            return _grades(self._cdf("difference"), -g, lines)
        if selection == "away":
            return _grades(self._cdf("minus_difference"), -g, -lines)
        raise ValueError(f"selection {selection!r} is not 'home' or 'away'")

    def btts(self) -> FloatArray:
        """P(both teams score): the complement of a clean sheet on either side."""
        p = self.probabilities
        return np.asarray(1.0 - p[:, 0, :].sum(axis=1) - p[:, :, 0].sum(axis=1) + p[:, 0, 0], dtype=np.float64)

    def double_chance(self) -> FloatArray:
        """(N, 3) 1X, X2, 12."""
        h, d, a = self.one_x_two().T
        return np.column_stack([h + d, d + a, h + a])

    def draw_no_bet(self) -> FloatArray:
        """(N, 2) home, away given no draw (the draw voids the bet): the AH 0 line's no-push probabilities."""
        h, _, a = self.one_x_two().T
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.column_stack([h / (h + a), a / (h + a)])

    def win_to_nil(self) -> FloatArray:
        """(N, 2) home wins to nil, away wins to nil."""
        p = self.probabilities
        return np.column_stack([p[:, 1:, 0].sum(axis=1), p[:, 0, 1:].sum(axis=1)])

    def correct_score(self, home: int, away: int) -> FloatArray:
        """P(exactly home-away); a score at the censored edge (G-1) means "G-1 or more" there."""
        if not (0 <= home <= self.max_goals and 0 <= away <= self.max_goals):
            return np.zeros(len(self))
        return np.asarray(self.probabilities[:, home, away], dtype=np.float64)

    def expected_goals(self) -> tuple[FloatArray, FloatArray]:
        """Means of the (censored) marginals: a lower bound by the tail beyond G-1, negligible at G = 16."""
        k = np.arange(self.max_goals + 1, dtype=np.float64)
        return self.home_goals @ k, self.away_goals @ k
