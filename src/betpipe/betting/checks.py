"""What the ledger accepts as a number: a price it can record and pay exactly, a stake in cents, both within the
ledger's sanity bounds, and a candidate's other input; and whether a book's fill can be recorded as made.

Shared by every path into the ledger (live run, service, backtest, any book adapter), so the bounds hold whatever
configuration says: ``RiskLimits`` may be lifted, these may not. Bad input is a reason string, never an exception
and never a repaired number; only a fill the book has already made and the ledger cannot record raises.
"""

from __future__ import annotations

from datetime import UTC, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from betpipe.betting.accounts import MAX_PAYOUT, MAX_PRICE, MAX_STAKE, PRICE_SCALE, PRICE_STEP
from betpipe.betting.books import BookOrder, BookReply
from betpipe.betting.risk import RiskLimits, RiskViolation, check_market

if TYPE_CHECKING:
    from betpipe.betting.ledger import BetCandidate

__all__ = [
    "BookReplyError",
    "fill_problem",
    "input_violation",
    "price_e4",
    "price_problem",
    "stake_cents",
    "stake_problem",
]


class BookReplyError(ValueError):
    """A book filled at a price or stake the ledger cannot record exactly: nothing is committed, the caller is told.

    Rounding the fill would pay a different price than the book's; storing it as rejected would lose a real bet.
    """


def price_problem(price: Decimal) -> str | None:
    """Why ``price`` cannot be recorded and paid exactly, or None. Checked in this order, so nothing overflows."""
    if price > MAX_PRICE:
        return f"price {price} above the ledger's maximum price {MAX_PRICE}"
    if price != price.quantize(PRICE_STEP):
        return (
            f"price {price} has more than 4 decimal places: the ledger records and pays a price to {PRICE_STEP} "
            "exactly and never rounds one (give the price the book pays)"
        )
    return None


def stake_problem(stake: Decimal) -> str | None:
    if stake > MAX_STAKE:
        return f"stake {stake} above the ledger's maximum stake {MAX_STAKE}"
    if stake != stake.quantize(Decimal("0.01")):
        return f"stake {stake} must be a positive amount with at most two decimals"
    return None


def price_e4(price: object) -> int:
    """Ten-thousandths of a price that is exact and in bounds; 0 (with the text in the transition) for any other."""
    if not isinstance(price, Decimal) or not price.is_finite() or price <= 1 or price_problem(price):
        return 0
    return int(price * PRICE_SCALE)


def stake_cents(stake: object) -> int:
    if not isinstance(stake, Decimal) or not stake.is_finite() or stake <= 0 or stake_problem(stake):
        return 0
    return int(stake * 100)


def input_violation(candidate: BetCandidate, limits: RiskLimits) -> RiskViolation | None:
    """Bad input is a rejection with its reason, never a crash and never a repaired number."""

    def bad(reason: str) -> RiskViolation:
        return RiskViolation("input", f"input: {reason}")

    for name in ("decision_time", "kickoff", "price_time"):
        value = getattr(candidate, name)
        if value is not None and (value.tzinfo is None or value.utcoffset() is None):
            return bad(f"{name} {value.isoformat()} has no timezone")
    if not isinstance(candidate.price, Decimal) or not candidate.price.is_finite():
        return bad(f"missing price ({candidate.price!r})")
    if candidate.price <= 1:
        return bad(f"price {candidate.price} is not a price (must be > 1)")
    problem = price_problem(candidate.price)
    if problem is not None:
        return bad(problem)
    stake = candidate.stake
    if not isinstance(stake, Decimal) or not stake.is_finite() or stake <= 0:
        return bad(f"stake {stake!r} must be a positive amount with at most two decimals")
    problem = stake_problem(stake)
    if problem is not None:
        return bad(problem)
    if stake * candidate.price > MAX_PAYOUT:
        return bad(f"payout {stake * candidate.price} above the ledger's maximum {MAX_PAYOUT} (stake x price)")
    if not (isinstance(candidate.probability, float | int) and 0.0 < candidate.probability < 1.0):
        return bad(f"probability {candidate.probability!r} is not in (0, 1)")
    market_problem = check_market(candidate.market, candidate.selection, candidate.line)
    if market_problem is not None:
        return bad(market_problem)
    if candidate.decision_time >= candidate.kickoff:
        return bad(f"decided at {candidate.decision_time.astimezone(UTC).isoformat()}, not before kickoff")
    if candidate.price_time is not None:
        if candidate.price_time > candidate.decision_time:
            return bad("price observed after the decision time")
        age = candidate.decision_time - candidate.price_time
        if age > timedelta(seconds=limits.max_price_age_seconds):
            return bad(f"stale price: observed {age} before the decision, limit {limits.max_price_age_seconds:.0f} s")
    return None


def fill_problem(reply: BookReply, order: BookOrder) -> str | None:
    """Why a fill cannot be recorded exactly as the book made it, or None."""
    price, stake = reply.price, reply.stake
    if not isinstance(price, Decimal) or not price.is_finite() or price <= 1:
        return f"price {price!r} is not a price"
    if not isinstance(stake, Decimal) or not stake.is_finite() or stake <= 0:
        return f"stake {stake!r} is not a positive amount"
    problem = price_problem(price) or stake_problem(stake)
    if problem is not None:
        return problem
    if stake > order.stake:
        return f"stake {stake} is more than the {order.stake} asked"
    if stake * price > MAX_PAYOUT:
        return f"payout {stake * price} above the ledger's maximum {MAX_PAYOUT}"
    return None
