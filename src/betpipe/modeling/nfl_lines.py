"""NFL margin and total distributions that carry the key numbers, and the spread and total priced from them (issue 18).

A game's home margin (or total points) is a discrete distribution on the integers: a discretised normal around a
mean (the walk-forward points ratings here, or a closing line), reweighted value by value by the *key-number shape*
w(k) = (games that ended on k + c) / (games a smooth normal expected on k + c), learnt from earlier games only. Scoring
in 3s and 7s piles margins on 3, 7, 10, 6, 4 and 14 and totals on 37, 41, 44, 47 and 51; the shape carries that to any
mean, so a whole line's push and an alternative line's price come out right where a plain normal smears them.

Point-in-time by construction: every quantity for a game (ratings, sigma, shape) uses only results known (kickoff +
the sport's ``ResultTiming``, computed by the caller) by its kickoff; a later result can never move an earlier price.
This module never reads files or prices.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt
from scipy.special import ndtr

from betpipe.modeling._base import FloatArray, IntArray
from betpipe.modeling.score_grid import LineProbabilities

__all__ = [
    "MARGIN_FIRST",
    "MARGIN_SIZE",
    "TOTAL_FIRST",
    "TOTAL_SIZE",
    "LineDistribution",
    "RatingParams",
    "key_number_distribution",
    "walk_forward_means",
]

MARGIN_FIRST, MARGIN_SIZE = -90, 181  # margins -90..90 (the record is 59); the edges hold the tails
TOTAL_FIRST, TOTAL_SIZE = 0, 161  # totals 0..160 (the record is 113)
_EPS = 1e-9


@dataclass(frozen=True)
class LineDistribution:
    """pmf of an integer quantity (home margin or total points) for N games: ``pmf[i, j]`` = P(X_i = first + j).

    Every price is one vectorised read of the cumulative distribution, lines may differ per game. Lines are whole or
    half points (NFL books quote no quarter lines): a whole line pushes when X lands on it, a half line never does.
    """

    pmf: FloatArray
    first: int

    def __len__(self) -> int:
        return int(self.pmf.shape[0])

    def __getitem__(self, rows: npt.NDArray[np.bool_] | IntArray | slice) -> LineDistribution:
        return LineDistribution(np.asarray(self.pmf[rows], dtype=np.float64), self.first)

    @property
    def values(self) -> IntArray:
        return np.arange(self.first, self.first + self.pmf.shape[1], dtype=np.int64)

    def mean(self) -> FloatArray:
        return np.asarray(self.pmf @ self.values.astype(np.float64), dtype=np.float64)

    @cached_property
    def _cdf(self) -> FloatArray:
        """(N, S + 1): column 0 is P(X < first) = 0, column j + 1 is P(X <= first + j)."""
        out = np.zeros((self.pmf.shape[0], self.pmf.shape[1] + 1))
        np.cumsum(self.pmf, axis=1, out=out[:, 1:])
        return out

    def _at_most(self, value: FloatArray) -> FloatArray:
        """P(X <= value) per game, value an integer (as float) per game."""
        column = np.clip(value - self.first + 1, 0, self.pmf.shape[1]).astype(np.int64)
        return np.asarray(np.take_along_axis(self._cdf, column[:, None], axis=1)[:, 0], dtype=np.float64)

    def _split(self, threshold: npt.ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(P(X > t), P(X = t), P(X < t)) per game; t a whole or half number (scalar or one per game)."""
        t = np.broadcast_to(np.asarray(threshold, dtype=np.float64), (len(self),))
        if not np.all(np.isfinite(t)) or np.any(np.abs(t * 2.0 - np.round(t * 2.0)) > _EPS):
            bad = t[~np.isfinite(t) | (np.abs(t * 2.0 - np.round(t * 2.0)) > _EPS)][0]
            raise ValueError(f"line {bad} is not a whole or half point")
        below = self._at_most(np.ceil(t - _EPS) - 1.0)
        at_most = self._at_most(np.floor(t + _EPS))
        return self._cdf[:, -1] - at_most, at_most - below, below

    def mass_at(self, value: npt.ArrayLike) -> FloatArray:
        """P(X = value) per game: a whole line's push probability."""
        return self._split(np.round(np.asarray(value, dtype=np.float64)))[1]

    def spread(self, line: npt.ArrayLike, selection: str = "home") -> LineProbabilities:
        """Home margin X bet at the home side's handicap ``line`` (``-spread_line`` in nflverse's terms): home wins
        when X + line > 0, pushes when X + line = 0; the away side carries the opposite line."""
        above, push, below = self._split(-np.asarray(line, dtype=np.float64))
        if selection == "home":
            return _grades(above, push, below)
        if selection == "away":
            return _grades(below, push, above)
        raise ValueError(f"selection {selection!r} is not 'home' or 'away'")

    def total(self, line: npt.ArrayLike, selection: str = "over") -> LineProbabilities:
        """Total points X over/under ``line``: over wins when X > line, a whole line pushes when X = line."""
        above, push, below = self._split(line)
        if selection == "over":
            return _grades(above, push, below)
        if selection == "under":
            return _grades(below, push, above)
        raise ValueError(f"selection {selection!r} is not 'over' or 'under'")


def _grades(won: FloatArray, push: FloatArray, lost: FloatArray) -> LineProbabilities:
    zero = np.zeros_like(won)
    return LineProbabilities(won, zero, push, zero.copy(), lost)


def discretised_normal(mean: FloatArray, sigma: FloatArray, first: int, size: int) -> FloatArray:
    """(N, size) P(round(Normal(mean, sigma)) = first + j); the two edge values keep the tails, so rows sum to 1."""
    edges = np.arange(first, first + size + 1, dtype=np.float64) - 0.5
    cdf = ndtr((edges[None, :] - mean[:, None]) / sigma[:, None])
    cdf[:, 0], cdf[:, -1] = 0.0, 1.0
    return np.asarray(np.diff(cdf, axis=1), dtype=np.float64)


def key_number_distribution(
    mean: npt.ArrayLike,
    outcome: npt.ArrayLike,
    kickoff: npt.ArrayLike,
    known_at: npt.ArrayLike,
    *,
    first: int,
    size: int,
    sigma_prior: float = 13.5,
    prior_games: float = 50.0,
    shape_prior: float = 5.0,
    symmetric: bool = False,
) -> LineDistribution:
    """Walk-forward key-number distribution of every game's ``outcome`` (NaN = not played yet) around ``mean``.

    For game i only games with ``known_at <= kickoff[i]`` count: sigma is their residual RMS shrunk towards
    ``sigma_prior`` by ``prior_games`` pseudo-games; the shape w(k) is (observed count of k + ``shape_prior``) /
    (count the discretised normals of those games expected on k + ``shape_prior``), so a value seen rarely keeps
    w near 1. ``symmetric`` pools k with -k (margins: a 3-point win is as "key" for either side). A game whose mean
    is NaN gets a NaN row and teaches nothing.
    """
    mu = np.asarray(mean, dtype=np.float64)
    x = np.asarray(outcome, dtype=np.float64)
    start = np.asarray(kickoff, dtype=np.float64)
    known = np.asarray(known_at, dtype=np.float64)
    if symmetric and first != -(size - 1) // 2:
        raise ValueError("a symmetric shape needs values centred on 0")
    usable = np.isfinite(mu)
    teaches = usable & np.isfinite(x)
    order = np.flatnonzero(teaches)
    order = order[np.argsort(known[order], kind="stable")]
    seen = np.searchsorted(known[order], start, side="right")  # results known by each kickoff
    squares = np.concatenate([[0.0], np.cumsum((x[order] - mu[order]) ** 2)])
    sigma = np.sqrt((squares[seen] + prior_games * sigma_prior**2) / (seen + prior_games))
    base = discretised_normal(np.where(usable, mu, 0.0), sigma, first, size)
    cells = np.clip(np.round(x[order]).astype(np.int64) - first, 0, size - 1)
    observed = np.zeros((order.size + 1, size))
    observed[np.arange(1, order.size + 1), cells] = 1.0
    np.cumsum(observed, axis=0, out=observed)
    expected = np.zeros((order.size + 1, size))
    np.cumsum(base[order], axis=0, out=expected[1:])
    obs, exp = observed[seen], expected[seen]
    if symmetric:
        obs, exp = obs + obs[:, ::-1], exp + exp[:, ::-1]
    pmf = base * (obs + shape_prior) / (exp + shape_prior)
    pmf /= pmf.sum(axis=1, keepdims=True)
    pmf[~usable] = np.nan
    return LineDistribution(pmf, first)


@dataclass(frozen=True)
class RatingParams:
    """Points ratings: each team an offence and a defence (points above the league's per-team base), moved by
    ``k`` times the capped scoring error after each result and pulled back by ``reversion`` at each new season;
    the base and the home edge follow slow averages. Defaults chosen on seasons 1999-2005 (docs/results.md)."""

    k: float = 0.06
    reversion: float = 0.33
    base: float = 20.5
    home_edge: float = 2.8
    k_base: float = 0.004
    k_home_edge: float = 0.004
    cap: float = 24.0


def walk_forward_means(
    home: npt.ArrayLike,
    away: npt.ArrayLike,
    season: npt.ArrayLike,
    home_score: npt.ArrayLike,
    away_score: npt.ArrayLike,
    kickoff: npt.ArrayLike,
    known_at: npt.ArrayLike,
    neutral: npt.ArrayLike | None = None,
    params: RatingParams | None = None,
) -> tuple[FloatArray, FloatArray]:
    """(expected home margin, expected total) of every game from the ratings as they stood at its kickoff: only
    results with ``known_at <= kickoff`` have been applied (in the order they became known). Team ids are indices
    0..T-1; a NaN score is a game not played yet (priced, teaches nothing); a ``neutral`` site has no home edge."""
    p = params or RatingParams()
    h, a = np.asarray(home, dtype=np.int64), np.asarray(away, dtype=np.int64)
    yr = np.asarray(season, dtype=np.int64)
    hs, as_ = np.asarray(home_score, dtype=np.float64), np.asarray(away_score, dtype=np.float64)
    start, known = np.asarray(kickoff, dtype=np.float64), np.asarray(known_at, dtype=np.float64)
    home_side = np.ones(h.size) if neutral is None else 1.0 - np.asarray(neutral, dtype=np.float64)
    teams = int(max(h.max(initial=-1), a.max(initial=-1))) + 1
    offence, defence = np.zeros(teams), np.zeros(teams)
    team_season = np.full(teams, np.iinfo(np.int64).min)
    base, edge = p.base, p.home_edge
    margin, total = np.full(h.size, np.nan), np.full(h.size, np.nan)
    updates = np.flatnonzero(np.isfinite(hs) & np.isfinite(as_))
    updates = updates[np.argsort(known[updates], kind="stable")]
    done = 0

    def new_season(team: int, year: int) -> None:
        if year > team_season[team]:
            if team_season[team] != np.iinfo(np.int64).min:
                offence[team] *= 1.0 - p.reversion
                defence[team] *= 1.0 - p.reversion
            team_season[team] = year

    for i in np.argsort(start, kind="stable"):
        while done < updates.size and known[updates[done]] <= start[i]:
            j = int(updates[done])
            done += 1
            new_season(int(h[j]), int(yr[j]))
            new_season(int(a[j]), int(yr[j]))
            exp_h = base + home_side[j] * edge / 2 + offence[h[j]] - defence[a[j]]
            exp_a = base - home_side[j] * edge / 2 + offence[a[j]] - defence[h[j]]
            err_h = float(np.clip(hs[j] - exp_h, -p.cap, p.cap))
            err_a = float(np.clip(as_[j] - exp_a, -p.cap, p.cap))
            offence[h[j]] += p.k * err_h
            defence[a[j]] -= p.k * err_h
            offence[a[j]] += p.k * err_a
            defence[h[j]] -= p.k * err_a
            base += p.k_base * (err_h + err_a) / 2
            edge += p.k_home_edge * home_side[j] * (err_h - err_a)
        hi, ai = int(h[i]), int(a[i])
        new_season(hi, int(yr[i]))
        new_season(ai, int(yr[i]))
        exp_h = base + home_side[i] * edge / 2 + offence[hi] - defence[ai]
        exp_a = base - home_side[i] * edge / 2 + offence[ai] - defence[hi]
        margin[i], total[i] = exp_h - exp_a, exp_h + exp_a
    return margin, total
