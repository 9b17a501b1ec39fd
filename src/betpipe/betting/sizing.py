"""Stakes from probabilities and prices: full, fractional, capped and exact simultaneous Kelly, or flat stakes.

Live betting and the backtest call the same functions here; the backtest sizes thousands of events at once through
``size_events`` (numpy, no Python loop over events), live sizes one through ``size_event``, and both give the same
stakes. Pure: no database, no clock. Bad data never raises and is never guessed around: a price <= 1, a NaN, a row
that is not a distribution or a bankroll <= 0 gives a stake of 0 with a ``NoBetReason`` (``*_explained``).

>>> policy = StakingPolicy.parse("kelly:0.5")
>>> size_event(np.array([0.55, 0.45]), np.array([2.0, 2.0]), Decimal("1000"), policy)
[Decimal('50.00'), Decimal('0.00')]
>>> simultaneous_kelly(np.array([0.5, 0.3, 0.2]), np.array([2.5, 3.0, 3.5])).round(4).tolist()
[0.2, 0.05, 0.0]

(the 0.05 is a hedge on an outcome with edge -10 %: optimal if p is the truth; ``size_events`` only bets edges.)
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from enum import StrEnum
from fractions import Fraction

import numpy as np
import numpy.typing as npt
from numpy.typing import NDArray

from betpipe.betting.policy import StakingPolicy
from betpipe.betting.pricing import edge, is_distribution, shrink_toward_market

__all__ = [
    "EDGE_TOLERANCE",
    "EventSizing",
    "NoBetReason",
    "SizedEvents",
    "StakingPolicy",
    "bet_fractions",
    "has_edge",
    "kelly_fraction",
    "simultaneous_kelly",
    "size_event",
    "size_event_explained",
    "size_events",
    "size_events_explained",
]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.int64]

EDGE_TOLERANCE = 1e-12
"""An edge ``p * price - 1`` must exceed ``min_edge`` by more than this to be an edge (``has_edge``): a fair price
computes as 1 +- 2e-16 in floats, and that noise is not a reason to bet. The same margin makes a tie with the reserve
rate in simultaneous Kelly. Far below any real edge: a price of 1000 moves p * price by 1e-3 per 1e-6 of p."""
_ROUNDING_SLACK = 1e-12  # float noise in f * bankroll / increment must not cost a whole increment


class NoBetReason(StrEnum):
    """Why a selection got no stake; stored with the rejection. Code ``i + 1`` in ``SizedEvents.reasons``."""

    NO_BANKROLL = "no_bankroll"  # bankroll <= 0 or not finite
    INVALID_PROBABILITY = "invalid_probability"  # NaN, negative, or the event's row does not sum to 1
    INVALID_MARKET_PROBABILITY = "invalid_market_probability"  # shrinkage asked for, market row unusable
    INVALID_PRICE = "invalid_price"  # missing, non-finite or <= 1
    NO_EDGE = "no_edge"  # edge <= min_edge
    NOT_BEST_EDGE = "not_best_edge"  # one bet per event: another selection has the larger edge
    STAKE_TOO_SMALL = "stake_too_small"  # rounds below min_stake or to zero

    @property
    def code(self) -> int:
        return _CODES[self]

    @classmethod
    def from_code(cls, code: int) -> NoBetReason | None:
        """Decode an entry of ``SizedEvents.reasons`` (0 = a bet, so no reason)."""
        return None if int(code) == 0 else _REASONS[int(code) - 1]


_REASONS = tuple(NoBetReason)
_CODES = {reason: i + 1 for i, reason in enumerate(_REASONS)}


def _rows(values: npt.ArrayLike) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64)
    return arr.reshape(1, -1) if arr.ndim == 1 else arr


def has_edge(edges: npt.ArrayLike, min_edge: float = 0.0) -> BoolArray:
    """The one rule for "this selection has an edge": ``edge > min_edge + EDGE_TOLERANCE`` (NaN: no edge).

    Every sizing path asks this (single Kelly, simultaneous Kelly, flat stakes, the ``no_edge`` reason), so a
    selection is never an edge to one of them and float noise to another.
    """
    e = np.asarray(edges, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.asarray(e > float(min_edge) + EDGE_TOLERANCE)


def kelly_fraction(p: npt.ArrayLike, price: npt.ArrayLike) -> FloatArray:
    """Full Kelly for one bet alone, ``(p * price - 1) / (price - 1)``; 0 without an edge (``has_edge``) and for
    invalid inputs.

    >>> kelly_fraction([0.55, 0.40, 0.5], [2.0, 2.0, 1.0]).round(3).tolist()
    [0.1, 0.0, 0.0]
    """
    d = np.asarray(price, dtype=np.float64)
    e = edge(p, d)
    with np.errstate(invalid="ignore", divide="ignore"):
        f = e / (d - 1.0)
    return np.where(np.isfinite(f) & has_edge(e), f, 0.0)


def _simultaneous_rows(p: FloatArray, prices: FloatArray, allowed: BoolArray) -> FloatArray:
    """Exact growth-optimal fractions for mutually exclusive outcomes (Smoczynski & Tomkins 2010; Thorp).

    Sort by ``p * price``; add outcomes while ``p * price`` exceeds the reserve rate
    ``R = (1 - sum p) / (1 - sum 1/price)`` of those already in; then ``f = p - R / price`` on the set. Outcomes not
    ``allowed`` are never bet but keep their probability of making every bet lose, so the result is the optimum over
    the allowed bets. Vectorised over rows: the set is the prefix of the sorted row where the test holds throughout.
    """
    n = p.shape[0]
    pc = np.where(allowed, p, 0.0)
    inv = np.where(allowed, 1.0 / np.where(allowed, prices, 2.0), 0.0)
    er = np.where(allowed, pc * np.where(allowed, prices, 0.0), -np.inf)
    order = np.argsort(-er, axis=1, kind="stable")
    ps, qs, ers = (np.take_along_axis(a, order, axis=1) for a in (pc, inv, er))
    zero = np.zeros((n, 1))
    num = 1.0 - np.concatenate([zero, np.cumsum(ps, axis=1)[:, :-1]], axis=1)
    den = 1.0 - np.concatenate([zero, np.cumsum(qs, axis=1)[:, :-1]], axis=1)
    reserve_before = _reserve(num, den)
    # A tie (p * price within EDGE_TOLERANCE of R, e.g. a fair two-way book) changes no outcome's wealth: leave it
    # out, bet less. The first outcome meets R = 1, so this is has_edge(edge) exactly as single Kelly and flat ask it.
    with np.errstate(invalid="ignore"):
        included = np.cumprod(has_edge(ers - reserve_before), axis=1).astype(bool)
    reserve = _reserve(1.0 - np.sum(ps * included, axis=1), 1.0 - np.sum(qs * included, axis=1))
    f_sorted = np.where(included, np.maximum(ps - reserve[:, None] * qs, 0.0), 0.0)
    out = np.empty_like(f_sorted)
    np.put_along_axis(out, order, f_sorted, axis=1)
    return out


def _reserve(num: FloatArray, den: FloatArray) -> FloatArray:
    """R = num/den; all probability already covered (num ~ 0) means bet it all (R = 0); den <= 0 with mass left
    cannot happen for a distribution and is made to stop the greedy set (R = inf)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.maximum(num, 0.0) / den
    return np.where(num <= 1e-12, 0.0, np.where(den <= 1e-12, np.inf, r))


def simultaneous_kelly(p: npt.ArrayLike, prices: npt.ArrayLike, *, allowed: npt.ArrayLike | None = None) -> FloatArray:
    """Growth-optimal fractions of bankroll on an event's mutually exclusive outcomes, bet at the same time.

    ``p`` must be a distribution over all k outcomes (else all zeros). Outcomes with an invalid price or
    ``allowed`` False are never bet. Unrestricted, the optimum may include a small *negative*-edge hedge in a
    3-way market (see the module example); ``size_events`` passes
    ``allowed = has_edge(edge, min_edge)`` so it never does.
    Works on ``(k,)`` or ``(n, k)``; the sum of each row is <= 1.
    """
    p_arr, d_arr = _rows(p), _rows(prices)
    ok = np.isfinite(d_arr) & (d_arr > 1.0) & is_distribution(p_arr)[:, None]
    if allowed is not None:
        ok &= _rows(allowed).astype(bool)
    f = _simultaneous_rows(np.where(ok, p_arr, 0.0), d_arr, ok)
    return f.reshape(np.shape(p)) if np.ndim(p) == 1 else f


@dataclass(frozen=True)
class _Plan:
    probabilities: FloatArray  # after shrinkage; NaN rows where invalid
    edges: FloatArray
    fractions: FloatArray  # Kelly fractions of bankroll after policy fraction and max_fraction; 0 = no bet
    bet: BoolArray  # selections chosen (flat or Kelly) before money rounding
    reasons: NDArray[np.int8]


def _plan(p: npt.ArrayLike, prices: npt.ArrayLike, policy: StakingPolicy, market_p: npt.ArrayLike | None) -> _Plan:
    p_arr, d_arr = _rows(p), _rows(prices)
    if p_arr.shape != d_arr.shape or p_arr.ndim != 2:
        raise ValueError(f"probabilities {p_arr.shape} and prices {d_arr.shape} must both be (k,) or (n, k)")
    reasons = np.zeros(p_arr.shape, dtype=np.int8)

    def mark(where: npt.ArrayLike, reason: NoBetReason) -> None:
        reasons[(reasons == 0) & np.broadcast_to(where, reasons.shape)] = reason.code

    p_ok = is_distribution(p_arr)
    mark(~p_ok[:, None], NoBetReason.INVALID_PROBABILITY)
    q = np.where(p_ok[:, None], p_arr / np.where(p_ok, p_arr.sum(axis=1), 1.0)[:, None], np.nan)
    if market_p is not None and policy.shrink > 0.0:
        m_arr = _rows(market_p)
        if m_arr.shape != p_arr.shape:
            raise ValueError(f"market probabilities {m_arr.shape} must match probabilities {p_arr.shape}")
        mark(~is_distribution(m_arr)[:, None], NoBetReason.INVALID_MARKET_PROBABILITY)
        q = shrink_toward_market(q, m_arr, policy.shrink)
    mark(~(np.isfinite(d_arr) & (d_arr > 1.0)), NoBetReason.INVALID_PRICE)
    e = edge(q, d_arr)
    mark(~has_edge(e, policy.min_edge), NoBetReason.NO_EDGE)
    eligible = reasons == 0
    if not policy.simultaneous:
        best = np.argmax(np.where(eligible, e, -np.inf), axis=1)
        is_best = np.arange(p_arr.shape[1])[None, :] == best[:, None]
        mark(eligible & ~is_best, NoBetReason.NOT_BEST_EDGE)
        eligible = reasons == 0
    if policy.kind == "kelly":
        if policy.simultaneous:
            full = _simultaneous_rows(np.where(eligible, q, 0.0), d_arr, eligible)
        else:
            full = np.where(eligible, kelly_fraction(np.where(eligible, q, 0.0), d_arr), 0.0)
        fractions = np.minimum(full * float(policy.kelly_fraction), float(policy.max_fraction))
        mark(eligible & ~(fractions > 0.0), NoBetReason.STAKE_TOO_SMALL)
    else:
        fractions = np.zeros_like(p_arr)
    return _Plan(q, e, fractions, reasons == 0, reasons)


def bet_fractions(
    p: npt.ArrayLike, prices: npt.ArrayLike, policy: StakingPolicy, market_p: npt.ArrayLike | None = None
) -> FloatArray:
    """Fractions of bankroll a Kelly policy stakes, before money rounding and min/max stake (for simulations).

    Flat stakes are amounts, not fractions: asking for them is a wiring error (``ValueError``).
    """
    if policy.kind != "kelly":
        raise ValueError("bet_fractions needs a Kelly policy; flat stakes do not scale with the bankroll")
    plan = _plan(p, prices, policy, market_p)
    return plan.fractions.reshape(np.shape(p)) if np.ndim(p) == 1 else plan.fractions


@dataclass(frozen=True)
class SizedEvents:
    """Stakes of n events as integer multiples of the stake increment, with everything that decided them."""

    units: IntArray  # (n, k) stake / stake_increment
    increment: Decimal
    probabilities: FloatArray  # the fair probabilities sized on (after shrinkage)
    edges: FloatArray
    reasons: NDArray[np.int8]  # 0 = a bet, else NoBetReason.code

    def stakes(self) -> FloatArray:
        """Float stakes equal to ``float(Decimal stake)`` exactly (units * a / b for increment a/b)."""
        frac = Fraction(self.increment)
        return (self.units * frac.numerator) / float(frac.denominator)

    def decimal_stakes(self) -> NDArray[np.object_]:
        out = np.empty(self.units.shape, dtype=object)
        out.flat[:] = [int(u) * self.increment for u in self.units.flat]
        return out

    def reason(self, row: int, col: int) -> NoBetReason | None:
        return NoBetReason.from_code(int(self.reasons[row, col]))


def _units(plan: _Plan, bankroll: Decimal, policy: StakingPolicy) -> tuple[IntArray, NDArray[np.int8]]:
    reasons = plan.reasons.copy()
    n_k = plan.fractions.shape
    if isinstance(bankroll, bool) or not isinstance(bankroll, Decimal | int):
        raise TypeError(f"bankroll is money: pass a Decimal, not {type(bankroll).__name__}")
    bankroll = Decimal(bankroll)
    if not (bankroll.is_finite() and bankroll > 0):
        reasons[:] = NoBetReason.NO_BANKROLL.code
        return np.zeros(n_k, dtype=np.int64), reasons
    inc = policy.stake_increment
    cap = bankroll * policy.max_fraction
    if policy.max_stake is not None:
        cap = min(cap, policy.max_stake)
    cap_units = int((cap / inc).to_integral_value(rounding=ROUND_FLOOR))
    bank_units = int((bankroll / inc).to_integral_value(rounding=ROUND_FLOOR))
    min_units = max(1, int((policy.min_stake / inc).to_integral_value(rounding=ROUND_CEILING)))
    if policy.kind == "kelly":
        scale = float(bankroll / inc)
        units = np.floor(plan.fractions * scale * (1.0 + _ROUNDING_SLACK)).astype(np.int64)
    else:
        flat_units = int((policy.flat_stake / inc).to_integral_value(rounding=ROUND_FLOOR))
        units = np.where(plan.bet, flat_units, 0).astype(np.int64)
    units = np.minimum(units, cap_units)
    # Several flat bets on one event must not stake more than the bankroll: scale down, rounding down.
    total = units.sum(axis=1, keepdims=True)
    over = total > bank_units
    if np.any(over):
        scaled = (units * bank_units) // np.maximum(total, 1)
        units = np.where(over, scaled, units)
    small = plan.bet & (units < min_units)
    reasons[small & (reasons == 0)] = NoBetReason.STAKE_TOO_SMALL.code
    return np.where(small | ~plan.bet, 0, units), reasons


def size_events_explained(
    p: npt.ArrayLike,
    prices: npt.ArrayLike,
    bankroll: Decimal,
    policy: StakingPolicy,
    market_p: npt.ArrayLike | None = None,
) -> SizedEvents:
    """Size n events at once (the backtest's path) and keep the reason for every selection left unbet."""
    plan = _plan(p, prices, policy, market_p)
    units, reasons = _units(plan, bankroll, policy)
    return SizedEvents(units, policy.stake_increment, plan.probabilities, plan.edges, reasons)


def size_events(
    p: npt.ArrayLike,
    prices: npt.ArrayLike,
    bankroll: Decimal,
    policy: StakingPolicy,
    market_p: npt.ArrayLike | None = None,
    *,
    as_decimal: bool = False,
) -> FloatArray | NDArray[np.object_]:
    """(n, k) stakes: floats by default, a Decimal object array with ``as_decimal``; equal to ``size_event`` per row."""
    sized = size_events_explained(p, prices, bankroll, policy, market_p)
    return sized.decimal_stakes() if as_decimal else sized.stakes()


@dataclass(frozen=True)
class EventSizing:
    """One event's stakes and, for every selection without a stake, why not."""

    stakes: list[Decimal]
    reasons: list[NoBetReason | None]
    probabilities: list[float]
    edges: list[float]


def size_event_explained(
    p: npt.ArrayLike,
    prices: npt.ArrayLike,
    bankroll: Decimal,
    policy: StakingPolicy,
    market_p: npt.ArrayLike | None = None,
) -> EventSizing:
    """One event (k outcomes) through exactly the code path of ``size_events``."""
    sized = size_events_explained(_rows(p)[:1] if np.ndim(p) == 1 else p, prices, bankroll, policy, market_p)
    if sized.units.shape[0] != 1:
        raise ValueError(f"size_event takes one event (k,); got {sized.units.shape[0]} rows")
    k = sized.units.shape[1]
    return EventSizing(
        stakes=list(sized.decimal_stakes()[0]),
        reasons=[sized.reason(0, j) for j in range(k)],
        probabilities=sized.probabilities[0].tolist(),
        edges=sized.edges[0].tolist(),
    )


def size_event(
    p: npt.ArrayLike,
    prices: npt.ArrayLike,
    bankroll: Decimal,
    policy: StakingPolicy,
    market_p: npt.ArrayLike | None = None,
) -> list[Decimal]:
    """Stakes per outcome of one event, 0 where no bet (reasons: ``size_event_explained``)."""
    return size_event_explained(p, prices, bankroll, policy, market_p).stakes
