"""The ledger: every bet the strategy decides on, exactly once, with every state change it goes through.

``place_bets`` (``place_groups`` for several books at once) is the one way a bet enters the ledger, live and in the
backtest alike: one transaction per call that holds the account's risk lock, checks each candidate's input and the
risk controls against the running exposure (cutting a stake to fit a limit's headroom), asks the book, and records
proposed -> rejected (with the reason) or proposed -> placed (with the book's reply and any cut). A candidate whose
idempotency key is already recorded returns the recorded bet: a retry or a crash-and-rerun never places twice (the
book is asked with the same key as its client reference, so it cannot fill twice either). The one exception is a
rejection by a risk control, which can be lifted (a resume, a new day, settled bets freeing exposure): the same
decision is checked again, under the same lock, and moves rejected -> proposed -> placed at most once. This module
never guesses a number: a bad price, stake or probability is a rejection with its reason, not a default, and a price
is recorded and paid exactly as given (to 0.0001) or not at all.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, select

from betpipe.betting.accounts import (
    account_transaction,
    cents,
    load_exposure,
)
from betpipe.betting.books import Book, BookOrder, OrderStatus
from betpipe.betting.checks import BookReplyError, fill_problem, input_violation, price_e4, stake_cents
from betpipe.betting.ledger_writes import PendingBet, PendingWrites
from betpipe.betting.records import BetNotFoundError, BetRecord, Transition, bet_record, get_bet, list_bets, transitions
from betpipe.betting.restriction import restricted_books
from betpipe.betting.risk import (
    CONTROLS,
    Assessment,
    ExposureState,
    RiskControl,
    RiskLimits,
    RiskViolation,
    StakeCut,
    assess,
)
from betpipe.clock import Clock, as_utc_instant
from betpipe.db.schema_betting import bet_transitions, bets

__all__ = [
    "DEFAULT_ACCOUNT",
    "BetCandidate",
    "BetNotFoundError",
    "BetRecord",
    "BookReplyError",
    "PlacementResult",
    "Transition",
    "get_bet",
    "input_violation",
    "list_bets",
    "place_bets",
    "place_groups",
    "precheck",
    "recorded_decisions",
    "transitions",
]

DEFAULT_ACCOUNT = "paper"
# Rejections that are final for a decision: its own input, and the book's answer (a book remembers its reply to a
# client reference). Any other control's rejection (halt, limits) can be lifted, so the decision is checked again.
FINAL_CONTROLS = frozenset({"input", "book"})


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

    @property
    def retryable(self) -> bool:
        """A rejection by a control that can be lifted: the same decision may be placed later."""
        return self.state == "rejected" and self.control is not None and self.control not in FINAL_CONTROLS


def _finite_or_zero(value: float) -> float:
    return float(value) if isinstance(value, float | int) and math.isfinite(value) else 0.0


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _row_values(candidate: BetCandidate) -> dict[str, Any]:
    """The candidate's numbers as the row stores them (exact, or 0 where the input was rejected as not exact)."""
    price_ok = isinstance(candidate.price, Decimal) and candidate.price.is_finite()
    probability = _finite_or_zero(candidate.probability)
    edge = candidate.edge
    if edge is None and price_ok:
        edge = probability * float(candidate.price) - 1
    exact_e4 = price_e4(candidate.price)
    return {
        "requested_price_e4": exact_e4,
        "price_e4": exact_e4,
        "stake_cents": stake_cents(candidate.stake),
        "probability": probability,
        "edge": None if edge is None or not math.isfinite(edge) else edge,
    }


def _asked(candidate: BetCandidate) -> dict[str, Any]:
    return {"price": str(candidate.price), "stake": str(candidate.stake)}


def _proposal(candidate: BetCandidate, key: str, account: str, now: datetime) -> dict[str, Any]:
    """The row of a new bet as first recorded (state ``proposed``)."""
    return {
        "idempotency_key": key,
        "account": account,
        "event_id": candidate.event_id,
        "market": candidate.market,
        "selection": candidate.selection,
        "line": _finite_or_zero(candidate.line),
        **_row_values(candidate),
        "book": candidate.book,
        "strategy": candidate.strategy,
        "model_version": candidate.model_version,
        "competition": candidate.competition,
        "kickoff": _aware(candidate.kickoff),
        "decision_time": _aware(candidate.decision_time),
        "state": "proposed",
        "created_at": now,
    }


_RECORDED = select(bets).where(bets.c.idempotency_key.in_(bindparam("keys", expanding=True)))
_REJECTIONS = (
    select(bet_transitions.c.bet_id, bet_transitions.c.details)
    .where(bet_transitions.c.bet_id.in_(bindparam("ids", expanding=True)), bet_transitions.c.to_state == "rejected")
    .order_by(bet_transitions.c.id)
)


def recorded_decisions(conn: Connection, keys: Sequence[str]) -> dict[str, PlacementResult]:
    """The recorded bets among ``keys``; a rejected one carries the control that rejected it (from its transition)."""
    found: dict[str, PlacementResult] = {}
    rejected: dict[int, str] = {}
    for start in range(0, len(keys), 500):
        rows = conn.execute(_RECORDED, {"keys": list(keys[start : start + 500])}).mappings()
        for row in rows:
            record = bet_record(row)
            found[record.idempotency_key] = PlacementResult(
                record.id, record.idempotency_key, record.state, record.reason, record.price, record.stake, True
            )
            if record.state == "rejected":
                rejected[record.id] = record.idempotency_key
    ids = list(rejected)
    for start in range(0, len(ids), 500):
        steps = conn.execute(_REJECTIONS, {"ids": ids[start : start + 500]})
        for bet_id, details in steps:  # the last rejection of a bet wins
            control = details.get("control") if isinstance(details, dict) else None
            key = rejected[int(bet_id)]
            found[key] = replace(found[key], control=control if isinstance(control, str) else None)
    return found


def precheck(
    candidate: BetCandidate,
    state: ExposureState,
    limits: RiskLimits,
    controls: Sequence[RiskControl] = CONTROLS,
) -> Assessment:
    """The input check, then the risk controls (which may cut the stake): what ``place_bets`` decides for a
    candidate it has not placed before. Pure; a dry run can call it on the same running state."""
    violation = input_violation(candidate, limits)
    if violation is not None:
        stake = candidate.stake if isinstance(candidate.stake, Decimal) else Decimal(0)
        return Assessment(stake, violation)
    return assess(candidate, state, limits, controls)


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
    """Record and place ``candidates`` in order at ``book``, in one transaction under the account's risk lock.

    An exception from the book (an outcome it cannot vouch for) rolls the whole call back and propagates: rerunning
    the same candidates asks the book again with the same client references, and it answers with the first fill.
    A recorded decision is returned as it stands (``duplicate=True``), unless a lifted control rejected it: then it
    is checked again, and written again only when it now passes.
    """
    (results,) = place_groups(
        engine, [(book, list(candidates))], account=account, clock=clock, limits=limits, controls=controls
    )
    return results


def place_groups(
    engine: Engine,
    groups: Sequence[tuple[Book, Sequence[BetCandidate]]],
    *,
    account: str,
    clock: Clock,
    limits: RiskLimits,
    controls: Sequence[RiskControl] = CONTROLS,
) -> list[list[PlacementResult]]:
    """``place_bets`` for several books in one transaction: each group at its book, groups in the order given, every
    candidate checked against the exposure of all the ones accepted before it (whichever book took them).

    The exposure (and any book restriction, ``betting.restriction``) is read once, inside the lock; the rows are
    written together before the commit (``ledger_writes``), exactly as one statement per row would leave them.
    """
    keyed = [[(candidate, candidate.key_for(account)) for candidate in group] for _, group in groups]
    placed: list[list[tuple[PlacementResult, PendingBet | None]]] = []
    with account_transaction(engine, account, clock) as (conn, row):
        now = as_utc_instant(clock.now())
        state = load_exposure(conn, row, now)
        state.restricted = restricted_books(conn, account, limits)
        known = recorded_decisions(conn, [key for group in keyed for _, key in group])
        call = _Call(account, known, {}, PendingWrites(), state, clock, limits, controls)
        for (book, _), group in zip(groups, keyed, strict=True):
            placed.append([_place_one(call, candidate, key, book) for candidate, key in group])
        call.writes.write(conn)
    return [[_with_id(result, bet) for result, bet in group] for group in placed]


def _with_id(result: PlacementResult, bet: PendingBet | None) -> PlacementResult:
    return result if bet is None or bet.id is None or bet.id == result.bet_id else replace(result, bet_id=bet.id)


@dataclass(frozen=True)
class _Call:
    """What one ``place_groups`` call holds while it decides: the running exposure, the decisions recorded before and
    in this call (``known``; ``pending``: the bet each key wrote in this call), and the rows to write."""

    account: str
    known: dict[str, PlacementResult]
    pending: dict[str, PendingBet]
    writes: PendingWrites
    state: ExposureState
    clock: Clock
    limits: RiskLimits
    controls: Sequence[RiskControl]


def _place_one(call: _Call, candidate: BetCandidate, key: str, book: Book) -> tuple[PlacementResult, PendingBet | None]:
    """One candidate of ``place_groups``: the result, and the bet it wrote (its id is known once the rows are)."""
    known, pending, writes, state, clock = call.known, call.pending, call.writes, call.state, call.clock
    prior = known.get(key)
    if prior is not None and not prior.retryable:
        return prior, pending.get(key)
    now = as_utc_instant(clock.now())
    verdict = precheck(candidate, state, call.limits, call.controls)
    violation = verdict.violation
    if prior is not None and violation is None and now >= _aware(candidate.kickoff):
        violation = RiskViolation("input", "input: checked again after kickoff: a decision is not placed late")
    if prior is not None:
        if violation is not None:  # still rejected: nothing new to record
            return replace(prior, reason=violation.reason, control=violation.control), pending.get(key)
        bet = pending.get(key) or writes.recorded(prior.bet_id)
        writes.set(bet, **_row_values(candidate), reason=None)
        writes.transition(
            bet,
            "rejected",
            "proposed",
            now,
            reason=f"checked again: the {prior.control} rejection may no longer hold",
            details=_asked(candidate) | {"retry_of": prior.control},
        )
    else:
        bet = writes.propose(_proposal(candidate, key, call.account, now))
        writes.transition(bet, None, "proposed", now, details=_asked(candidate))
    bet_id = prior.bet_id if prior is not None else -1
    if violation is None:
        result = _send(writes, bet, bet_id, key, candidate, verdict, book, clock)
        if result.placed:
            state.add(candidate.event_id, candidate.competition, result.stake)
    else:
        reason, control = violation.reason, violation.control
        writes.transition(bet, "proposed", "rejected", now, reason=reason, details={"control": control})
        writes.set(bet, reason=reason)
        result = PlacementResult(bet_id, key, "rejected", reason, None, verdict.stake, False, control)
    pending[key] = bet
    known[key] = replace(result, duplicate=True)
    return result, bet


def _send(
    writes: PendingWrites,
    bet: PendingBet,
    bet_id: int,
    key: str,
    candidate: BetCandidate,
    verdict: Assessment,
    book: Book,
    clock: Clock,
) -> PlacementResult:
    cut: StakeCut | None = verdict.cut
    order = BookOrder(
        key, candidate.event_id, candidate.market, candidate.selection, candidate.line, candidate.price, verdict.stake
    )
    reply = book.place(order)
    now = as_utc_instant(clock.now())
    noted: dict[str, Any] = {"cut": cut.details()} if cut is not None else {}
    if reply.status is not OrderStatus.PLACED or reply.price is None or reply.stake is None:
        reason = reply.reason or f"{book.name}: order not placed ({reply.status})"
        writes.transition(bet, "proposed", "rejected", now, reason=reason, details={"control": "book"} | noted)
        writes.set(bet, reason=reason)
        return PlacementResult(bet_id, key, "rejected", reason, None, verdict.stake, False, "book")
    problem = fill_problem(reply, order)
    if problem is not None:
        raise BookReplyError(
            f"{book.name} filled order {key[:12]} but its reply cannot be recorded exactly ({problem}); nothing was "
            "committed: check the order at the book"
        )
    writes.set(
        bet, price_e4=price_e4(reply.price), stake_cents=cents(reply.stake), book_ref=reply.book_ref, placed_at=now
    )
    filled: dict[str, Any] = {"book": book.name, "book_ref": reply.book_ref}
    filled |= {"price": str(reply.price), "stake": str(reply.stake)}
    cut_reason = cut.reason if cut is not None else None
    writes.transition(bet, "proposed", "placed", now, reason=cut_reason, details=filled | noted)
    return PlacementResult(
        bet_id, key, "placed", cut_reason, reply.price, reply.stake, control=cut.control if cut is not None else None
    )


# The settlement half of the ledger's public surface lives in its own module; importable from here too.
from betpipe.betting.settlement import (  # noqa: E402
    EventResult,
    SettlementReport,
    closing_line_value,
    load_settlement_inputs,
    settle_bets,
)

__all__ += ["EventResult", "SettlementReport", "closing_line_value", "load_settlement_inputs", "settle_bets"]
