"""Line markets (over/under and Asian handicap at any line) priced and sized from one score grid per event: the part
of ``betting.strategy.decide`` that is not the sport's result market.

Fair probabilities come from a score grid (by default the market-implied grid of the sharp book's pre-match 1X2 and
O/U 2.5, ``implied_grid``), graded exactly as settlement grades the bet: a quarter line's half win and half loss are
outcomes of their own, so the edge of a unit stake is the sum over outcomes of probability x payoff, and the Kelly
stake maximises the expected log of the five-outcome bet (not the two-way formula with a push folded in). Line
shopping here takes the best price per (event, market, line, selection) among the strategy's books. Pure and
vectorised: never reads a database or a clock, never takes an aggregate book (callers refuse them) and never prices
a row whose grid could not be fitted (NaN: refused with a reason).

>>> from betpipe.modeling.score_grid import dixon_coles_grid
>>> grid = dixon_coles_grid([1.5], [1.1])
>>> lp = line_probabilities(grid, "total", "over", np.array([2.25]))
>>> round(float(lp.expected_profit(2.0)[0]), 4), round(float(line_kelly(lp, np.array([2.0]))[0]), 4)
(0.0887, 0.1107)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import numpy as np
import numpy.typing as npt
import polars as pl
from numpy.typing import NDArray

from betpipe.betting.policy import StakingPolicy
from betpipe.betting.pricing import market_fair_probabilities
from betpipe.betting.sizing import NoBetReason, has_edge
from betpipe.clock import as_utc_instant
from betpipe.modeling.market_implied import fit_market_grid
from betpipe.modeling.score_grid import LineProbabilities, ScoreGrid

__all__ = [
    "LINE_COLUMNS",
    "LINE_MARKETS",
    "RESULT_MARKETS",
    "SizedLines",
    "best_line_prices",
    "bet_payoffs",
    "implied_grid",
    "joint_kelly",
    "line_kelly",
    "line_probabilities",
    "size_lines",
    "two_way_fair",
]

FloatArray = NDArray[np.float64]
LINE_MARKETS: tuple[str, ...] = ("total", "asian_handicap")
"""Markets ``decide`` prices from a score grid (soccer's O/U and AH; quarter lines included)."""
RESULT_MARKETS: tuple[str, ...] = ("1x2", "moneyline")
"""The sports' result markets: priced from the strategy's fair probabilities, as before markets were listed."""
LINE_COLUMNS: tuple[str, ...] = (
    "event_id",
    "competition",
    "kickoff_utc",
    "decided_at",
    "market",
    "line",
    "selection",
    "price",
    "book",
)
"""One row per quoted (event, market, line, selection): the long frame ``best_line_prices`` returns."""


def line_probabilities(grid: ScoreGrid, market: str, selection: str, lines: npt.ArrayLike) -> LineProbabilities:
    """Settlement-grade probabilities of one selection at ``lines`` (one per grid row)."""
    if market == "total":
        return grid.totals(lines, selection)
    if market == "asian_handicap":
        return grid.asian_handicap(lines, selection)
    raise ValueError(f"market {market!r} is not priced from a score grid; line markets: {', '.join(LINE_MARKETS)}")


def line_kelly(lp: LineProbabilities, price: npt.ArrayLike, *, iterations: int = 60) -> FloatArray:
    """Growth-optimal fraction of a unit stake whose payoffs are o-1, (o-1)/2, 0, -1/2, -1 (won ... lost).

    The derivative of the expected log growth is decreasing in f, so bisection on [0, f_max) finds its root
    (vectorised over rows); 0 where the edge at f = 0 is not positive or the inputs are not finite. Equals
    (p o - 1) / (o - 1) for a plain two-way bet and (w(o-1) - l) / ((o-1)(w+l)) with a push.
    """
    o = np.asarray(price, dtype=np.float64)
    p = np.stack([lp.won, lp.half_won, lp.void, lp.half_lost, lp.lost])
    with np.errstate(invalid="ignore"):
        r = np.stack([o - 1.0, (o - 1.0) / 2.0, np.zeros_like(o), np.full_like(o, -0.5), np.full_like(o, -1.0)])
        ok = np.isfinite(p).all(axis=0) & np.isfinite(o) & (o > 1.0)
    p, r = np.where(ok, p, 0.0), np.where(ok, r, 0.0)
    upper = np.where(p[4] > 0, 1.0, np.where(p[3] > 0, 2.0, 1.0))
    low, high = np.zeros_like(upper), upper.copy()
    for _ in range(iterations):
        mid = (low + high) / 2.0
        slope = (p * r / (1.0 + mid * r)).sum(axis=0)
        low, high = np.where(slope > 0, mid, low), np.where(slope > 0, high, mid)
    start = (p * r).sum(axis=0)
    return np.asarray(np.where(ok & (start > 0), np.minimum(low, 1.0), 0.0), dtype=np.float64)


def two_way_fair(prices: npt.ArrayLike, method: str = "multiplicative") -> FloatArray:
    """(n, 2) margin-free probabilities of a two-way line (over/under, home/away); NaN where a price is missing."""
    return market_fair_probabilities(np.asarray(prices, dtype=np.float64).reshape(-1, 2), method=method)


implied_grid = fit_market_grid
"""The market-implied score grid per event (``modeling.market_implied.fit_market_grid``, the one fit, under the name
the betting code uses): goal expectations and rho that reproduce the fair 1X2 and P(over), and the sharp book's main
AH line where given; three prices exactly, four by least squares; an event without an O/U or AH price is fitted from
its 1X2 alone with rho = 0, one without a usable 1X2 prices as NaN."""


def best_line_prices(
    quotes: pl.DataFrame, books: Sequence[str], *, now: datetime | None = None, max_age: timedelta | None = None
) -> pl.DataFrame:
    """Per (event, market, line, selection): the best price among ``books`` and the book it came from.

    ``quotes`` is long (``LINE_COLUMNS``, ``book`` naming the quoting book). Ties go to the earlier book of ``books``;
    with ``now``/``max_age``, a stale quote is dropped where the same selection has a fresh one (where all are
    stale, the freshest is kept so that ``decide`` counts it as stale instead of losing it silently).
    """
    rank = {b: i for i, b in enumerate(books)}
    frame = quotes.filter(pl.col("book").is_in(list(books)), pl.col("price") > 1.0)
    key = ["event_id", "market", "line", "selection"]
    if max_age is not None and now is not None and frame.height:
        limit = pl.lit(as_utc_instant(now)).cast(frame.schema["decided_at"]) - pl.duration(
            microseconds=int(max_age.total_seconds() * 1e6)
        )
        fresh = pl.col("decided_at") >= limit
        frame = frame.filter(fresh | ~fresh.any().over(key))
    ranked = frame.with_columns(pl.col("book").replace_strict(rank, return_dtype=pl.Int64).alias("_rank"))
    best = (
        ranked.sort([*key, "price", "_rank"], descending=[False, False, False, False, True, False])
        .group_by(key, maintain_order=True)
        .first()
    )
    return best.select(*LINE_COLUMNS).sort("event_id", "market", "line", "selection")


@dataclass(frozen=True)
class SizedLines:
    """Per line row: stake in increments, the no-push fair probability, the exact edge and the reason for no bet."""

    units: NDArray[np.int64]
    increment: Decimal
    probabilities: FloatArray  # no-push win probability (what a fair two-way book quotes; CLV compares it)
    edges: FloatArray  # expected profit of a unit stake under settlement's grades
    reasons: NDArray[np.int8]  # 0 = a bet, else NoBetReason.code

    def decimal_stakes(self) -> list[Decimal]:
        return [int(u) * self.increment for u in self.units]


def size_lines(
    probabilities: LineProbabilities,
    prices: npt.ArrayLike,
    groups: npt.ArrayLike,
    bankroll: Decimal,
    policy: StakingPolicy,
) -> SizedLines:
    """Stakes for line rows: at most one bet per group (an event's market: its lines and sides exclude each other
    as bets worth holding together), the largest edge; Kelly per selection (``line_kelly`` x the policy's fraction,
    capped by ``max_fraction`` and ``max_stake``) or flat. An event's bets across markets are not sized jointly here:
    the ledger's ``correlated_exposure`` limit caps their sum."""
    o = np.asarray(prices, dtype=np.float64).reshape(-1)
    group = np.asarray(groups, dtype=np.int64).reshape(-1)
    n = o.size
    reasons = np.zeros(n, dtype=np.int8)

    def mark(where: npt.NDArray[np.bool_], reason: NoBetReason) -> None:
        reasons[(reasons == 0) & where] = reason.code

    edges = probabilities.expected_profit(o)
    fair = probabilities.no_push_probability
    mark(~np.isfinite(edges) | ~np.isfinite(fair), NoBetReason.INVALID_PROBABILITY)
    mark(~(np.isfinite(o) & (o > 1.0)), NoBetReason.INVALID_PRICE)
    mark(~has_edge(edges, policy.min_edge), NoBetReason.NO_EDGE)
    eligible = reasons == 0
    if n:
        score = np.where(eligible, edges, -np.inf)
        order = np.lexsort((-score, group))  # per group, the largest edge first (stable on ties: first row)
        first = np.r_[True, group[order][1:] != group[order][:-1]]
        best = np.zeros(n, dtype=bool)
        best[order[first]] = True
        mark(eligible & ~best, NoBetReason.NOT_BEST_EDGE)
    bet = reasons == 0
    inc = policy.stake_increment
    if not (bankroll.is_finite() and bankroll > 0):
        reasons[:] = NoBetReason.NO_BANKROLL.code
        return SizedLines(np.zeros(n, dtype=np.int64), inc, fair, edges, reasons)
    cap = bankroll * policy.max_fraction
    if policy.max_stake is not None:
        cap = min(cap, policy.max_stake)
    cap_units = int((cap / inc).to_integral_value(rounding=ROUND_FLOOR))
    if policy.kind == "kelly":
        fractions = np.minimum(line_kelly(probabilities, o) * float(policy.kelly_fraction), float(policy.max_fraction))
        units = np.floor(np.where(bet, fractions, 0.0) * float(bankroll / inc) * (1.0 + 1e-12)).astype(np.int64)
    else:
        flat = int((policy.flat_stake / inc).to_integral_value(rounding=ROUND_FLOOR))
        units = np.where(bet, flat, 0).astype(np.int64)
    units = np.minimum(units, cap_units)
    min_units = max(1, int((policy.min_stake / inc).to_integral_value(rounding=ROUND_CEILING)))
    small = bet & (units < min_units)
    reasons[small] = NoBetReason.STAKE_TOO_SMALL.code
    return SizedLines(np.where(small | ~bet, 0, units).astype(np.int64), inc, fair, edges, reasons)


def bet_payoffs(max_goals: int, bets: Sequence[tuple[str, str, float, float]]) -> FloatArray:
    """(k, G*G) profit of a unit stake on each bet (market, selection, line, price) in every score cell, graded as
    settlement grades it: the same pricing code run on one-cell grids, so each cell is a certain score."""
    g = max_goals + 1
    cells = ScoreGrid(np.eye(g * g).reshape(g * g, g, g))
    out = np.zeros((len(bets), g * g))
    for i, (market, selection, line, price) in enumerate(bets):
        if market in LINE_MARKETS:
            lp = line_probabilities(cells, market, selection, np.full(g * g, line))
            out[i] = lp.won * (price - 1.0) + lp.half_won * (price - 1.0) / 2.0 - lp.half_lost / 2.0 - lp.lost
        else:
            won = cells.one_x_two()[:, ("home", "draw", "away").index(selection)]
            out[i] = won * price - 1.0
    return out


def joint_kelly(payoffs: npt.ArrayLike, probabilities: npt.ArrayLike, *, iterations: int = 50) -> FloatArray:
    """Growth-optimal fractions of several bets settled by one score: maximise sum_c p_c log(1 + sum_i f_i r_ic)
    over f >= 0 (projected Newton with a step that keeps every cell's wealth positive).

    Two bets that are the same bet (1X2 home and AH home -0.5 at one price) share what one alone would stake; bets
    that lose together stake less than alone, and a hedge may stake more."""
    r = np.asarray(payoffs, dtype=np.float64)
    p = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    k = r.shape[0]
    f = np.zeros(k)
    for _ in range(iterations):
        wealth = 1.0 + f @ r
        grad = r @ (p / wealth)
        hess = -(r * (p / wealth**2)) @ r.T - 1e-12 * np.eye(k)
        free = (f > 0) | (grad > 0)
        step = np.zeros(k)
        if free.any():
            step[free] = np.linalg.solve(hess[np.ix_(free, free)], -grad[free])
        t = 1.0
        while t > 1e-9:
            trial = np.maximum(f + t * step, 0.0)
            if (1.0 + trial @ r > 1e-12).all() and p @ np.log(1.0 + trial @ r) >= p @ np.log(wealth) - 1e-15:
                break
            t /= 2.0
        if np.abs(trial - f).max() < 1e-12:
            f = trial
            break
        f = trial
    return f
