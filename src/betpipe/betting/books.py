"""Book adapters: where an accepted bet is sent. ``PaperBook`` (the default) fills on paper; a real exchange plugs in
behind the same ``Book`` protocol.

An adapter must be idempotent on ``BookOrder.client_ref`` (the bet's idempotency key): placing a reference it has
seen returns the first reply and never a second order. That is what makes a crash between the book's fill and the
ledger's commit safe to rerun. Adapters never write the ledger and never decide whether to bet; they only answer.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import ROUND_DOWN, Decimal
from enum import StrEnum
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = [
    "Book",
    "BookOrder",
    "BookReply",
    "OrderStatus",
    "PaperBook",
    "SelectionKey",
    "ticks_down",
]

SelectionKey = tuple[int, str, str, float]  # (event_id, market, selection, line)


class OrderStatus(StrEnum):
    PLACED = "placed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class BookOrder:
    """A back bet as sent to a book: the price asked for is a minimum, the stake a maximum."""

    client_ref: str
    event_id: int
    market: str
    selection: str
    line: float
    price: Decimal
    stake: Decimal

    @property
    def selection_key(self) -> SelectionKey:
        return (self.event_id, self.market, self.selection, self.line)


@dataclass(frozen=True)
class BookReply:
    """The book's answer. A placed reply carries the price and stake actually matched; a rejection its reason."""

    client_ref: str
    status: OrderStatus
    price: Decimal | None = None
    stake: Decimal | None = None
    book_ref: str | None = None
    reason: str | None = None


@runtime_checkable
class Book(Protocol):
    """What the ledger needs of a bookmaker or an exchange."""

    @property
    def name(self) -> str: ...

    def quote(self, event_id: int, market: str, selection: str, line: float) -> Decimal | None:
        """The price on offer now, or None when the book offers none."""
        ...

    def place(self, order: BookOrder) -> BookReply:
        """Place (or, for a known ``client_ref``, return the earlier reply); raise only when the outcome is unknown."""
        ...

    def cancel(self, client_ref: str) -> BookReply: ...

    def status(self, client_ref: str) -> BookReply | None: ...


# Betfair's price ladder: (upper bound, increment). A tick is the smallest move a real exchange allows.
_LADDER = (
    (Decimal(2), Decimal("0.01")),
    (Decimal(3), Decimal("0.02")),
    (Decimal(4), Decimal("0.05")),
    (Decimal(6), Decimal("0.1")),
    (Decimal(10), Decimal("0.2")),
    (Decimal(20), Decimal("0.5")),
    (Decimal(30), Decimal(1)),
    (Decimal(50), Decimal(2)),
    (Decimal(100), Decimal(5)),
    (Decimal(1000), Decimal(10)),
)


def _increment_below(price: Decimal) -> Decimal:
    for upper, step in _LADDER:
        if price <= upper:
            return step
    return _LADDER[-1][1]


def ticks_down(price: Decimal, ticks: int) -> Decimal:
    """``price`` moved ``ticks`` steps down the exchange ladder (a price off the ladder first snaps down onto it).

    >>> ticks_down(Decimal("2.00"), 1), ticks_down(Decimal("2.02"), 2), ticks_down(Decimal("2.03"), 0)
    (Decimal('1.99'), Decimal('1.99'), Decimal('2.02'))
    """
    if ticks < 0:
        raise ValueError("slippage ticks cannot be negative: slippage never improves a price")
    step = _increment_below(price)
    current = (price / step).to_integral_value(rounding=ROUND_DOWN) * step
    for _ in range(ticks):
        current -= _increment_below(current)
    return current


class PaperBook:
    """Fills on paper at the quoted price, less slippage; stake limits; seeded random rejections.

    ``prices`` maps a selection to its quote; without it the quote is the price the order asks for. Random
    rejections are drawn from a numpy Generator seeded by (``seed``, the order's reference), so whether an order is
    rejected does not depend on which worker or in which order orders arrive.
    """

    def __init__(
        self,
        *,
        name: str = "paper",
        prices: Mapping[SelectionKey, Decimal] | None = None,
        slippage_ticks: int = 0,
        slippage_fraction: Decimal = Decimal(0),
        min_stake: Decimal = Decimal("0.01"),
        max_stake: Decimal | None = None,
        rejection_rate: float = 0.0,
        seed: int = 0,
    ) -> None:
        if slippage_ticks < 0 or slippage_fraction < 0 or slippage_fraction >= 1:
            raise ValueError("slippage must be >= 0 (and a fraction below 1): it never makes a price better")
        if not 0.0 <= rejection_rate <= 1.0:
            raise ValueError(f"rejection_rate must be in [0, 1], got {rejection_rate}")
        self._name = name
        self._prices = prices
        self.slippage_ticks = slippage_ticks
        self.slippage_fraction = slippage_fraction
        self.min_stake = min_stake
        self.max_stake = max_stake
        self.rejection_rate = rejection_rate
        self.seed = seed
        self._orders: dict[str, BookReply] = {}
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self._name

    @property
    def orders(self) -> dict[str, BookReply]:
        """Every reply given, by client reference (a copy): what the 'exchange' believes happened."""
        with self._lock:
            return dict(self._orders)

    def quote(self, event_id: int, market: str, selection: str, line: float) -> Decimal | None:
        if self._prices is None:
            return None
        return self._prices.get((event_id, market, selection, line))

    def _fill_price(self, quoted: Decimal) -> Decimal:
        price = ticks_down(quoted, self.slippage_ticks) if self.slippage_ticks else quoted
        if self.slippage_fraction:
            slipped = 1 + (price - 1) * (1 - self.slippage_fraction)
            price = slipped.quantize(Decimal("0.0001"), rounding=ROUND_DOWN)
        return price

    def _decide(self, order: BookOrder) -> BookReply:
        rejected = BookReply(order.client_ref, OrderStatus.REJECTED)
        quoted = order.price if self._prices is None else self.quote(*order.selection_key)
        if quoted is None:
            return replace(rejected, reason=f"{self.name}: no price offered for {order.selection_key}")
        if not quoted.is_finite() or quoted <= 1:
            return replace(rejected, reason=f"{self.name}: quoted price {quoted} is not a price (must be > 1)")
        if order.stake < self.min_stake:
            return replace(rejected, reason=f"{self.name}: stake {order.stake} below the minimum {self.min_stake}")
        if self.max_stake is not None and order.stake > self.max_stake:
            return replace(rejected, reason=f"{self.name}: stake {order.stake} above the book's limit {self.max_stake}")
        if quoted < order.price:
            return replace(rejected, reason=f"{self.name}: price moved to {quoted}, below the {order.price} asked")
        price = self._fill_price(quoted)
        if price <= 1:
            return replace(rejected, reason=f"{self.name}: price slipped to {price}, not filled")
        if self.rejection_rate > 0:
            draw = np.random.default_rng([self.seed, int(order.client_ref[:15], 16)]).random()
            if draw < self.rejection_rate:
                return replace(rejected, reason=f"{self.name}: order refused by the book (simulated)")
        ref = f"{self.name}-{order.client_ref[:12]}"
        return BookReply(order.client_ref, OrderStatus.PLACED, price=price, stake=order.stake, book_ref=ref)

    def place(self, order: BookOrder) -> BookReply:
        with self._lock:
            known = self._orders.get(order.client_ref)
            if known is not None:
                return known
            reply = self._decide(order)
            self._orders[order.client_ref] = reply
            return reply

    def cancel(self, client_ref: str) -> BookReply:
        """Paper fills are immediate and final before kickoff only in name: a cancel of a placed order succeeds."""
        with self._lock:
            known = self._orders.get(client_ref)
            if known is None:
                return BookReply(client_ref, OrderStatus.REJECTED, reason=f"{self.name}: unknown order {client_ref}")
            if known.status is OrderStatus.PLACED:
                known = replace(known, status=OrderStatus.CANCELLED)
                self._orders[client_ref] = known
            return known

    def status(self, client_ref: str) -> BookReply | None:
        with self._lock:
            return self._orders.get(client_ref)
