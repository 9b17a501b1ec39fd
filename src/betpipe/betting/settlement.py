"""Settlement: grade open bets from final scores, book exact Decimal P&L, and score each bet's closing-line value.

``settle_bets`` takes its inputs as plain mappings so the backtest can pass history from memory while the live
pipeline reads the store with ``load_settlement_inputs``; both then settle with the same code. It never guesses: a
bet without a result stays open, a postponed or cancelled event is void with its reason, and a bet without a
closing price gets no CLV (NULL, with the reason) rather than an invented one.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import polars as pl
from sqlalchemy import Engine, RowMapping, bindparam, insert, select, update

from betpipe.betting.accounts import MAX_PAYOUT, MAX_PRICE, PRICE_SCALE, account_transaction, cents, from_cents
from betpipe.clock import Clock, as_utc_instant
from betpipe.db.schema import bookmakers, events, odds_snapshots, results
from betpipe.db.schema_betting import bet_transitions, bets
from betpipe.sports import Grade, UnknownMarketError, grade_selection, market_rules, profit_per_unit

__all__ = [
    "VOID_STATUSES",
    "ClosingKey",
    "EventResult",
    "SettledBet",
    "SettlementReport",
    "closing_line_value",
    "load_settlement_inputs",
    "settle_bets",
]

ClosingKey = tuple[int, str, str, float]  # (event_id, market, selection, line)
VOID_STATUSES = frozenset({"postponed", "cancelled", "abandoned"})
CENT = Decimal("0.01")


@dataclass(frozen=True)
class EventResult:
    """An event's outcome as settlement needs it; scores only matter for a finished event."""

    status: str
    home_score: int | None = None
    away_score: int | None = None


@dataclass(frozen=True)
class SettledBet:
    bet_id: int
    event_id: int
    grade: str
    pnl: Decimal
    clv: float | None
    clv_reason: str | None
    reason: str | None


@dataclass(frozen=True)
class SettlementReport:
    """What one settlement run did; ``still_open`` maps a bet id to why it could not be settled yet."""

    settled: tuple[SettledBet, ...]
    still_open: dict[int, str]

    @property
    def pnl(self) -> Decimal:
        return sum((bet.pnl for bet in self.settled), Decimal("0.00"))

    @property
    def by_grade(self) -> dict[str, int]:
        return dict(Counter(bet.grade for bet in self.settled))

    @property
    def clv_missing(self) -> int:
        return sum(bet.clv is None for bet in self.settled)


def closing_line_value(price: Decimal | float, fair_close_probability: float) -> float:
    """CLV = price taken x margin-free closing probability - 1: the expected return the close says the bet had.

    >>> round(closing_line_value(Decimal("2.10"), 0.5), 4)
    0.05
    """
    if not 0.0 < fair_close_probability <= 1.0 or not math.isfinite(fair_close_probability):
        raise ValueError(f"fair closing probability {fair_close_probability} is not in (0, 1]")
    if not float(price) > 1.0:
        raise ValueError(f"price {price} is not a price (must be > 1)")
    return float(price) * fair_close_probability - 1.0


def _clv(price: Decimal, key: ClosingKey, closing: Mapping[ClosingKey, float]) -> tuple[float | None, str | None]:
    probability = closing.get(key)
    if probability is None:
        return None, "no closing price for this selection and line"
    try:
        return closing_line_value(price, probability), None
    except ValueError as error:
        return None, str(error)


def _grade(row: RowMapping, result: EventResult | None) -> tuple[Grade | None, str | None]:
    """(grade, reason) for a settleable bet, or (None, why it stays open)."""
    if result is None:
        return None, "no result yet"
    if result.status in VOID_STATUSES:
        return Grade.VOID, f"event {result.status}: stake returned"
    if result.status != "finished":
        return None, f"event {result.status}, not finished"
    if result.home_score is None or result.away_score is None:
        return None, "finished without a score"
    try:
        grade = grade_selection(
            row["market"], row["selection"], float(row["line"]), result.home_score, result.away_score
        )
    except UnknownMarketError as error:
        return None, f"cannot grade: {error}"
    return grade, None


def _beyond_bounds(price: Decimal, stake: Decimal) -> str | None:
    """A bet recorded before the ledger had bounds (or written around it) is not paid automatically."""
    if price > MAX_PRICE:
        return f"price {price.normalize():f} above the ledger's maximum price {MAX_PRICE}: not settled automatically"
    if stake * price > MAX_PAYOUT:
        return f"payout {stake * price} above the ledger's maximum {MAX_PAYOUT}: not settled automatically"
    return None


# Statements built once (the backtest settles at hundreds of steps): a bound statement is compiled once and cached.
_OPEN_BETS = select(bets).where(bets.c.account == bindparam("account"), bets.c.state == "placed").order_by(bets.c.id)
_SETTLE = (
    update(bets)
    .where(bets.c.id == bindparam("b_id"))
    .values(
        state=bindparam("b_state"),
        pnl_cents=bindparam("b_pnl"),
        clv=bindparam("b_clv"),
        clv_reason=bindparam("b_clv_reason"),
        reason=bindparam("b_reason"),
        settled_at=bindparam("b_at"),
    )
)
_STEPS = insert(bet_transitions)


def settle_bets(
    engine: Engine,
    *,
    account: str,
    results: Mapping[int, EventResult],
    closing: Mapping[ClosingKey, float],
    clock: Clock,
) -> SettlementReport:
    """Settle every placed bet of ``account`` whose event has a result, in one transaction under the risk lock.

    P&L is stake x ``profit_per_unit`` in Decimal, rounded half-even to the cent; the settlement date (for the daily
    loss limit) is the clock's now. Re-running settles nothing twice: only bets still in state ``placed`` are read.
    """
    settled: list[SettledBet] = []
    still_open: dict[int, str] = {}
    with account_transaction(engine, account, clock) as (conn, _row):
        now = as_utc_instant(clock.now())
        updates: list[dict[str, Any]] = []
        steps: list[dict[str, Any]] = []
        for row in conn.execute(_OPEN_BETS, {"account": account}).mappings():
            bet_id, event_id = int(row["id"]), int(row["event_id"])
            result = results.get(event_id)
            grade, reason = _grade(row, result)
            if grade is None:
                still_open[bet_id] = reason or "not settleable"
                continue
            price = Decimal(row["price_e4"]) / PRICE_SCALE  # exact: a whole number of ten-thousandths
            stake = from_cents(row["stake_cents"])
            beyond = _beyond_bounds(price, stake)
            if beyond is not None:
                still_open[bet_id] = beyond
                continue
            pnl = (stake * profit_per_unit(grade, price)).quantize(CENT, rounding=ROUND_HALF_EVEN)
            clv: float | None = None
            clv_reason: str | None
            if result is not None and result.status in VOID_STATUSES:
                clv_reason = f"event {result.status}: no closing line to compare with"
            else:
                clv, clv_reason = _clv(price, (event_id, row["market"], row["selection"], float(row["line"])), closing)
            settled.append(SettledBet(bet_id, event_id, grade.value, pnl, clv, clv_reason, reason))
            updates.append(
                {"b_id": bet_id, "b_state": grade.value, "b_pnl": cents(pnl), "b_clv": clv, "b_clv_reason": clv_reason}
                | {"b_reason": reason, "b_at": now}
            )
            details: dict[str, Any] = {"pnl": str(pnl), "clv": clv}
            if result is not None and result.home_score is not None:
                details["score"] = [result.home_score, result.away_score]
            steps.append(
                {"bet_id": bet_id, "from_state": "placed", "to_state": grade.value, "at": now}
                | {"reason": reason, "details": details}
            )
        if updates:
            conn.execute(_SETTLE, updates)
            conn.execute(_STEPS, steps)
    return SettlementReport(tuple(settled), still_open)


def _chunks(values: list[int], size: int = 1000) -> Iterable[list[int]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def load_settlement_inputs(
    store_engine: Engine, event_ids: Iterable[int], *, reference_book: str = "pinnacle"
) -> tuple[dict[int, EventResult], dict[ClosingKey, float]]:
    """Results and margin-free closing probabilities from the store: the live provider of ``settle_bets``' inputs.

    The closing probability of a selection is the multiplicative margin-free share of ``reference_book``'s last
    closing snapshot, within the complete market (every selection at the same line); an incomplete market gives none.
    """
    ids = sorted({int(event_id) for event_id in event_ids})
    outcomes: dict[int, EventResult] = {}
    rows: list[tuple[int, str, str, float, float, Any]] = []
    with store_engine.connect() as conn:
        for chunk in _chunks(ids):
            query = (
                select(events.c.id, events.c.status, results.c.home_score, results.c.away_score)
                .select_from(events.outerjoin(results, results.c.event_id == events.c.id))
                .where(events.c.id.in_(chunk))
            )
            for event_id, status, home, away in conn.execute(query):
                if status in VOID_STATUSES:
                    outcomes[int(event_id)] = EventResult(status)
                elif home is not None and away is not None:
                    outcomes[int(event_id)] = EventResult("finished", int(home), int(away))
            prices = (
                select(
                    odds_snapshots.c.event_id,
                    odds_snapshots.c.market,
                    odds_snapshots.c.selection,
                    odds_snapshots.c.line,
                    odds_snapshots.c.price,
                    odds_snapshots.c.captured_at,
                )
                .join(bookmakers, bookmakers.c.id == odds_snapshots.c.bookmaker_id)
                .where(
                    odds_snapshots.c.event_id.in_(chunk),
                    odds_snapshots.c.kind == "closing",
                    bookmakers.c.key == reference_book,
                )
            )
            rows.extend(tuple(row) for row in conn.execute(prices))  # type: ignore[misc]
    return outcomes, _fair_closing(rows)


def _fair_closing(rows: list[tuple[int, str, str, float, float, Any]]) -> dict[ClosingKey, float]:
    if not rows:
        return {}
    frame = pl.DataFrame(
        rows, schema=["event_id", "market", "selection", "line", "price", "captured_at"], orient="row"
    ).filter(pl.col("price") > 1.0)
    sizes = {key: len(rules.selections) for key in frame["market"].unique().to_list() if (rules := _rules(key))}
    latest = (
        frame.sort("captured_at")
        .group_by(["event_id", "market", "selection", "line"], maintain_order=True)
        .last()
        .with_columns(
            (1.0 / pl.col("price")).alias("implied"),
            pl.col("market").replace_strict(sizes, default=0, return_dtype=pl.Int64).alias("needed"),
        )
    )
    group = ["event_id", "market", "line"]
    fair = latest.with_columns(
        (pl.col("implied") / pl.col("implied").sum().over(group)).alias("fair"),
        pl.len().over(group).alias("present"),
    ).filter(pl.col("present") == pl.col("needed"))
    return {
        (int(event_id), market, selection, float(line)): float(probability)
        for event_id, market, selection, line, probability in fair.select(
            "event_id", "market", "selection", "line", "fair"
        ).iter_rows()
    }


def _rules(market: str) -> Any:
    try:
        return market_rules(market)
    except UnknownMarketError:
        return None
