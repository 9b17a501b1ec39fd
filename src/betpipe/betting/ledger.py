"""The ledger: every bet the strategy decides on, exactly once, with every state change it goes through.

``place_bets`` is the one way a bet enters the ledger, live and in the backtest alike: one transaction per call that
holds the account's risk lock, checks each candidate's input and the risk controls against the running exposure,
asks the book, and records proposed -> rejected (with the reason) or proposed -> placed (with the book's reply). A
candidate whose idempotency key is already recorded returns the recorded bet: a retry or a crash-and-rerun never
places twice (the book is asked with the same key as its client reference, so it cannot fill twice either). This
module never guesses a number: a bad price, stake or probability is a rejection with its reason, not a default.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, insert, select, update

from betpipe.betting.accounts import PRICE_SCALE, account_transaction, cents, load_exposure
from betpipe.betting.books import Book, BookOrder, OrderStatus
from betpipe.betting.records import BetNotFoundError, BetRecord, Transition, bet_record, get_bet, list_bets, transitions
from betpipe.betting.risk import CONTROLS, RiskControl, RiskLimits, RiskViolation, check_market, first_violation
from betpipe.clock import Clock, as_utc_instant
from betpipe.db.schema_betting import bet_transitions, bets

__all__ = [
    "DEFAULT_ACCOUNT",
    "BetCandidate",
    "BetNotFoundError",
    "BetRecord",
    "PlacementResult",
    "Transition",
    "get_bet",
    "input_violation",
    "list_bets",
    "place_bets",
    "record_transition",
    "transitions",
]

DEFAULT_ACCOUNT = "paper"


def _instant_text(value: datetime) -> str:
    return (value.astimezone(UTC) if value.tzinfo else value).isoformat()


@dataclass(frozen=True)
class BetCandidate:
    """What the strategy decided: one back bet, already priced and sized. Money is Decimal.

    ``price_time`` (optional) is when the price was observed; a price older than the limits' ``max_price_age`` at
    the decision time is stale and is not bet. ``edge`` defaults to probability x price - 1.
    """

    event_id: int
    market: str
    selection: str
    line: float
    price: Decimal
    probability: float
    stake: Decimal
    book: str
    strategy: str
    model_version: int | None
    decision_time: datetime
    competition: str
    kickoff: datetime
    edge: float | None = None
    price_time: datetime | None = None

    def key_for(self, account: str) -> str:
        """sha256 of what makes a decision unique: the same decision retried in the same account has the same key."""
        parts = (
            str(self.event_id),
            self.market,
            self.selection,
            repr(float(self.line)),
            self.strategy,
            "none" if self.model_version is None else str(self.model_version),
            _instant_text(self.decision_time),
            account,
        )
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()

    @property
    def idempotency_key(self) -> str:
        """The key in the default live account ("paper"); ``key_for(account)`` for any other account."""
        return self.key_for(DEFAULT_ACCOUNT)


@dataclass(frozen=True)
class PlacementResult:
    """The ledger's answer for one candidate; ``duplicate`` when the key was recorded before (nothing new happened)."""

    bet_id: int
    idempotency_key: str
    state: str
    reason: str | None
    price: Decimal | None
    stake: Decimal
    duplicate: bool = False
    control: str | None = None

    @property
    def placed(self) -> bool:
        return self.state not in ("rejected", "proposed")


def _price_e4(price: Decimal) -> int:
    return int((price * PRICE_SCALE).to_integral_value()) if price.is_finite() else 0


def record_transition(
    conn: Connection,
    bet_id: int,
    from_state: str | None,
    to_state: str,
    at: datetime,
    *,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Move a bet to ``to_state`` and keep the step: the bet row and its transition change together or not at all."""
    if from_state is not None:
        conn.execute(_SET_STATE, {"b_id": bet_id, "b_state": to_state})
    conn.execute(
        _INSERT_TRANSITION,
        {
            "bet_id": bet_id,
            "from_state": from_state,
            "to_state": to_state,
            "at": at,
            "reason": reason,
            "details": details,
        },
    )


# Statements built once and executed with parameters: SQLAlchemy caches their compiled form (the backtest records
# tens of thousands of transitions; inline ``.values(...)`` would rebuild a cache key for every one).
_SET_STATE = update(bets).where(bets.c.id == bindparam("b_id")).values(state=bindparam("b_state"))
_INSERT_TRANSITION = insert(bet_transitions)
_INSERT_BET = insert(bets).returning(bets.c.id)


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
    stake = candidate.stake
    if (
        not isinstance(stake, Decimal)
        or not stake.is_finite()
        or stake <= 0
        or stake != stake.quantize(Decimal("0.01"))
    ):
        return bad(f"stake {stake!r} must be a positive amount with at most two decimals")
    if not (isinstance(candidate.probability, float | int) and 0.0 < candidate.probability < 1.0):
        return bad(f"probability {candidate.probability!r} is not in (0, 1)")
    market_problem = check_market(candidate.market, candidate.selection, candidate.line)
    if market_problem is not None:
        return bad(market_problem)
    if candidate.decision_time >= candidate.kickoff:
        return bad(f"decided at {_instant_text(candidate.decision_time)}, not before kickoff")
    if candidate.price_time is not None:
        if candidate.price_time > candidate.decision_time:
            return bad("price observed after the decision time")
        age = candidate.decision_time - candidate.price_time
        if age > timedelta(seconds=limits.max_price_age_seconds):
            return bad(f"stale price: observed {age} before the decision, limit {limits.max_price_age_seconds:.0f} s")
    return None


def _finite_or_zero(value: float) -> float:
    return float(value) if isinstance(value, float | int) and math.isfinite(value) else 0.0


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _propose(conn: Connection, candidate: BetCandidate, key: str, account: str, now: datetime) -> int:
    price_ok = isinstance(candidate.price, Decimal) and candidate.price.is_finite()
    stake_ok = isinstance(candidate.stake, Decimal) and candidate.stake.is_finite()
    probability = _finite_or_zero(candidate.probability)
    edge = candidate.edge
    if edge is None and price_ok:
        edge = probability * float(candidate.price) - 1
    price_e4 = _price_e4(candidate.price) if price_ok else 0
    bet_id = conn.execute(
        _INSERT_BET,
        {
            "idempotency_key": key,
            "account": account,
            "event_id": candidate.event_id,
            "market": candidate.market,
            "selection": candidate.selection,
            "line": _finite_or_zero(candidate.line),
            "requested_price_e4": price_e4,
            "price_e4": price_e4,
            "stake_cents": int((candidate.stake * 100).to_integral_value()) if stake_ok else 0,
            "probability": probability,
            "edge": None if edge is None or not math.isfinite(edge) else edge,
            "book": candidate.book,
            "strategy": candidate.strategy,
            "model_version": candidate.model_version,
            "competition": candidate.competition,
            "kickoff": _aware(candidate.kickoff),
            "decision_time": _aware(candidate.decision_time),
            "state": "proposed",
            "created_at": now,
        },
    ).scalar_one()
    record_transition(conn, bet_id, None, "proposed", now, details={"price": str(candidate.price)})
    return int(bet_id)


def _existing(conn: Connection, keys: Sequence[str]) -> dict[str, PlacementResult]:
    found: dict[str, PlacementResult] = {}
    for start in range(0, len(keys), 500):
        rows = conn.execute(select(bets).where(bets.c.idempotency_key.in_(keys[start : start + 500]))).mappings()
        for row in rows:
            record = bet_record(row)
            found[record.idempotency_key] = PlacementResult(
                record.id, record.idempotency_key, record.state, record.reason, record.price, record.stake, True
            )
    return found


def place_bets(
    engine: Engine,
    candidates: Iterable[BetCandidate],
    *,
    account: str,
    book: Book,
    clock: Clock,
    limits: RiskLimits,
    controls: Sequence[RiskControl] = CONTROLS,
) -> list[PlacementResult]:
    """Record and place ``candidates`` in order, in one transaction under the account's risk lock.

    An exception from the book (an outcome it cannot vouch for) rolls the whole call back and propagates: rerunning
    the same candidates asks the book again with the same client references, and it answers with the first fill.
    """
    candidates = list(candidates)
    keys = [candidate.key_for(account) for candidate in candidates]
    results: list[PlacementResult] = []
    with account_transaction(engine, account, clock) as (conn, row):
        state = load_exposure(conn, row, as_utc_instant(clock.now()))
        known = _existing(conn, keys)
        for candidate, key in zip(candidates, keys, strict=True):
            if key in known:
                results.append(known[key])
                continue
            now = as_utc_instant(clock.now())
            bet_id = _propose(conn, candidate, key, account, now)
            violation = input_violation(candidate, limits) or first_violation(candidate, state, limits, controls)
            if violation is None:
                result = _send(conn, bet_id, key, candidate, book, clock)
                if result.placed:
                    state.add(candidate.event_id, candidate.competition, result.stake)
            else:
                record_transition(
                    conn,
                    bet_id,
                    "proposed",
                    "rejected",
                    now,
                    reason=violation.reason,
                    details={"control": violation.control},
                )
                conn.execute(update(bets).where(bets.c.id == bet_id).values(reason=violation.reason))
                stake = candidate.stake if isinstance(candidate.stake, Decimal) else Decimal(0)
                result = PlacementResult(
                    bet_id, key, "rejected", violation.reason, None, stake, False, violation.control
                )
            known[key] = PlacementResult(
                result.bet_id, key, result.state, result.reason, result.price, result.stake, True, result.control
            )
            results.append(result)
    return results


def _send(
    conn: Connection, bet_id: int, key: str, candidate: BetCandidate, book: Book, clock: Clock
) -> PlacementResult:
    order = BookOrder(
        key, candidate.event_id, candidate.market, candidate.selection, candidate.line, candidate.price, candidate.stake
    )
    reply = book.place(order)
    now = as_utc_instant(clock.now())
    if reply.status is not OrderStatus.PLACED or reply.price is None or reply.stake is None:
        reason = reply.reason or f"{book.name}: order not placed ({reply.status})"
        record_transition(conn, bet_id, "proposed", "rejected", now, reason=reason, details={"control": "book"})
        conn.execute(update(bets).where(bets.c.id == bet_id).values(reason=reason))
        return PlacementResult(bet_id, key, "rejected", reason, None, candidate.stake, False, "book")
    conn.execute(
        update(bets)
        .where(bets.c.id == bet_id)
        .values(price_e4=_price_e4(reply.price), stake_cents=cents(reply.stake), book_ref=reply.book_ref, placed_at=now)
    )
    details = {"book": book.name, "book_ref": reply.book_ref, "price": str(reply.price), "stake": str(reply.stake)}
    record_transition(conn, bet_id, "proposed", "placed", now, details=details)
    return PlacementResult(bet_id, key, "placed", None, reply.price, reply.stake)


# The settlement half of the ledger's public surface lives in its own module; importable from here too.
from betpipe.betting.settlement import (  # noqa: E402
    EventResult,
    SettlementReport,
    closing_line_value,
    load_settlement_inputs,
    settle_bets,
)

__all__ += ["EventResult", "SettlementReport", "closing_line_value", "load_settlement_inputs", "settle_bets"]
