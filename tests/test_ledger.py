"""The ledger records each decision exactly once, with every state change, whatever fails around it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, func, select

from betpipe.betting import (
    BetNotFoundError,
    OrderStatus,
    PaperBook,
    RiskLimits,
    get_bet,
    list_bets,
    place_bets,
)
from betpipe.betting.books import BookOrder, BookReply, ticks_down
from betpipe.clock import SimulatedClock
from betpipe.db.schema import metadata
from betpipe.db.schema_betting import bet_transitions, bets
from fakes.betting import DECIDED, CountingBook, CrashAfterFill, candidate

LIMITS = RiskLimits(max_open_exposure=Decimal("1000.00"), max_competition_exposure=Decimal("1000.00"))
BETTING_TABLES = {"bets", "bet_transitions", "risk_state", "risk_events"}


def _clock() -> SimulatedClock:
    return SimulatedClock(DECIDED + timedelta(minutes=1))


def _count(engine: Engine, table: object = bets) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_a_placed_bet_keeps_exact_money_and_every_transition_stamped_by_the_clock(engine: Engine) -> None:
    clock = _clock()
    book = PaperBook(slippage_ticks=2)
    [result] = place_bets(
        engine, [candidate(price=Decimal("2.10"))], account="paper", book=book, clock=clock, limits=LIMITS
    )
    assert result.state == "placed"
    assert not result.duplicate
    assert result.price == Decimal("2.06")  # two ticks of 0.02 below 2.10: slippage never improves a price
    bet = get_bet(engine, result.bet_id)
    assert (bet.requested_price, bet.price, bet.stake) == (Decimal("2.1000"), Decimal("2.0600"), Decimal("10.00"))
    assert bet.placed_at == clock.now()
    assert bet.kickoff.tzinfo is not None
    assert [(t.from_state, t.to_state) for t in bet.transitions] == [(None, "proposed"), ("proposed", "placed")]
    assert all(t.at == clock.now() for t in bet.transitions)
    assert bet.transitions[1].details is not None
    assert bet.transitions[1].details["price"] == "2.06"


def test_the_same_decision_twice_is_one_bet_and_one_order_at_the_book(engine: Engine) -> None:
    """A retry (a scheduler re-running the job) must never place a second bet."""
    book = CountingBook()
    first = place_bets(engine, [candidate()], account="paper", book=book, clock=_clock(), limits=LIMITS)
    again = place_bets(engine, [candidate(), candidate()], account="paper", book=book, clock=_clock(), limits=LIMITS)
    assert [r.duplicate for r in again] == [True, True]
    assert {r.bet_id for r in first + again} == {first[0].bet_id}
    assert _count(engine) == 1
    assert book.calls == 1


def test_the_same_decision_in_another_account_is_another_bet(engine: Engine) -> None:
    """A backtest ("backtest:<run>") shares the database without colliding with the live account."""
    book = PaperBook()
    live = place_bets(engine, [candidate()], account="paper", book=book, clock=_clock(), limits=LIMITS)
    backtest = place_bets(engine, [candidate()], account="backtest:7", book=book, clock=_clock(), limits=LIMITS)
    assert live[0].idempotency_key == candidate().idempotency_key
    assert backtest[0].idempotency_key == candidate().key_for("backtest:7") != live[0].idempotency_key
    assert not backtest[0].duplicate
    assert _count(engine) == 2


def test_a_crash_after_the_fill_and_before_the_commit_then_a_rerun_leaves_exactly_one_bet(engine: Engine) -> None:
    exchange = PaperBook()
    batch = [candidate(event_id=1), candidate(event_id=2)]
    with pytest.raises(ConnectionError):
        place_bets(engine, batch, account="paper", book=CrashAfterFill(exchange), clock=_clock(), limits=LIMITS)
    assert _count(engine) == 0
    assert _count(engine, bet_transitions) == 0
    assert len(exchange.orders) == 1  # ... but the book did fill the first order
    rerun = place_bets(engine, batch, account="paper", book=exchange, clock=_clock(), limits=LIMITS)
    assert [r.state for r in rerun] == ["placed", "placed"]
    assert _count(engine) == 2
    assert len(exchange.orders) == 2
    first_ref = batch[0].key_for("paper")
    assert get_bet(engine, rerun[0].bet_id).book_ref == exchange.orders[first_ref].book_ref


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"price": Decimal("1.00")}, "is not a price"),
        ({"price": Decimal("0.5")}, "is not a price"),
        ({"price": Decimal("NaN")}, "missing price"),
        ({"stake": Decimal("-5")}, "positive amount"),
        ({"stake": Decimal("1.234")}, "at most two decimals"),
        ({"probability": float("nan")}, "not in (0, 1)"),
        ({"market": "corners"}, "unknown market"),
        ({"selection": "draw", "market": "moneyline"}, "not one of moneyline"),
        ({"market": "total", "selection": "over", "line": 2.3}, "multiple of 0.25"),
        ({"decision_time": DECIDED + timedelta(days=2)}, "not before kickoff"),
        ({"price_time": DECIDED - timedelta(days=1)}, "stale price"),
        ({"price_time": DECIDED + timedelta(minutes=5)}, "after the decision time"),
        ({"decision_time": datetime(2024, 3, 1, 12, 0)}, "has no timezone"),
    ],
)
def test_bad_input_is_a_stored_rejection_never_a_crash_and_never_reaches_the_book(
    sqlite_engine: Engine, changes: dict[str, object], reason: str
) -> None:
    book = CountingBook()
    [result] = place_bets(
        sqlite_engine, [candidate(**changes)], account="paper", book=book, clock=_clock(), limits=LIMITS
    )
    assert result.state == "rejected"
    assert result.control == "input"
    assert result.reason is not None
    assert reason in result.reason
    bet = get_bet(sqlite_engine, result.bet_id)
    assert bet.state == "rejected"
    assert bet.reason == result.reason
    assert [(t.from_state, t.to_state) for t in bet.transitions] == [(None, "proposed"), ("proposed", "rejected")]
    assert book.calls == 0


def test_the_books_refusals_are_rejections_with_the_books_reason(engine: Engine) -> None:
    quotes = {(1, "1x2", "home", 0.0): Decimal("2.10"), (3, "1x2", "home", 0.0): Decimal("2.00")}
    book = PaperBook(prices=quotes, max_stake=Decimal("20.00"))
    results = place_bets(
        engine,
        [candidate(1, stake=Decimal("25.00")), candidate(2), candidate(3), candidate(1, strategy="other")],
        account="paper",
        book=book,
        clock=_clock(),
        limits=LIMITS,
    )
    reasons = [r.reason or "" for r in results]
    assert [r.state for r in results] == ["rejected", "rejected", "rejected", "placed"]
    assert "above the book's limit 20.00" in reasons[0]
    assert "no price offered" in reasons[1]  # a missing price: no bet
    assert "price moved to 2.00" in reasons[2]
    assert {r.control for r in results[:3]} == {"book"}
    stored = {bet.id: bet.reason for bet in list_bets(engine, state="rejected")}
    assert stored == {r.bet_id: r.reason for r in results[:3]}


def test_seeded_random_rejections_do_not_depend_on_the_order_orders_arrive() -> None:
    orders = [
        BookOrder(candidate(i).idempotency_key, i, "1x2", "home", 0.0, Decimal("2.0"), Decimal("5.00"))
        for i in range(200)
    ]
    forward = PaperBook(rejection_rate=0.3, seed=11)
    backward = PaperBook(rejection_rate=0.3, seed=11)
    other_seed = PaperBook(rejection_rate=0.3, seed=12)
    a = {o.client_ref: forward.place(o).status for o in orders}
    b = {o.client_ref: backward.place(o).status for o in reversed(orders)}
    c = {o.client_ref: other_seed.place(o).status for o in orders}
    assert a == b
    assert a != c
    assert 30 < sum(status is OrderStatus.REJECTED for status in a.values()) < 90


def test_slippage_never_makes_a_price_better() -> None:
    assert ticks_down(Decimal("2.00"), 1) == Decimal("1.99")
    assert ticks_down(Decimal("3.10"), 3) == Decimal("2.98")  # 3.05, 3.00, then the finer band below 3
    order = BookOrder("ab" * 32, 1, "1x2", "home", 0.0, Decimal("3.00"), Decimal("5.00"))
    reply = PaperBook(slippage_fraction=Decimal("0.05")).place(order)
    assert reply.price == Decimal("2.9000")  # 1 + (3 - 1) x 0.95
    with pytest.raises(ValueError, match="never improves"):
        ticks_down(Decimal("2.0"), -1)
    with pytest.raises(ValueError, match="never makes a price better"):
        PaperBook(slippage_fraction=Decimal("-0.01"))


def test_listing_filters_and_an_unknown_bet_is_a_clear_error(engine: Engine) -> None:
    book = PaperBook()
    place_bets(
        engine,
        [candidate(1), candidate(2, price=Decimal("1"))],
        account="paper",
        book=book,
        clock=_clock(),
        limits=LIMITS,
    )
    place_bets(engine, [candidate(3)], account="backtest:1", book=book, clock=_clock(), limits=LIMITS)
    assert [b.event_id for b in list_bets(engine, account="paper")] == [2, 1]
    assert [b.event_id for b in list_bets(engine, state="open")] == [3, 1]
    assert [b.event_id for b in list_bets(engine, account="paper", state="rejected")] == [2]
    with pytest.raises(BetNotFoundError, match="no bet with id 99"):
        get_bet(engine, 99)


def test_decision_times_in_other_zones_give_the_same_key() -> None:
    """A key must not change with the zone the caller happened to format its instant in."""
    from zoneinfo import ZoneInfo

    local = DECIDED.astimezone(ZoneInfo("Europe/London"))
    assert candidate(decision_time=local).idempotency_key == candidate().idempotency_key
    assert replace(candidate(), model_version=None).idempotency_key != candidate().idempotency_key
    assert candidate(decision_time=DECIDED + timedelta(seconds=1)).idempotency_key != candidate().idempotency_key
    assert candidate().decision_time.tzinfo is UTC


def test_the_migration_creates_exactly_the_betting_tables_of_the_schema(engine: Engine) -> None:
    def mine(name: str | None, type_: str) -> bool:
        return type_ != "table" or name in BETTING_TABLES

    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "include_name": lambda name, type_, _parent: mine(name, type_),
                "include_object": lambda _obj, name, type_, _reflected, _other: mine(name, type_),
            },
        )
        assert compare_metadata(context, metadata) == []


# Issue 14, defects 2 and 12: the ledger records and pays exactly the price it is given, within sane bounds.
ROOMY = RiskLimits(
    max_stake=Decimal("1000000.00"),
    max_open_exposure=Decimal("100000000.00"),
    max_event_exposure=Decimal("100000000.00"),
    max_competition_exposure=Decimal("100000000.00"),
    starting_bankroll=Decimal("100000000.00"),
    bankroll_floor=Decimal("0.00"),
)
AMERICAN_MINUS_110 = Decimal(1) + Decimal(100) / Decimal(110)  # 1.90909..., not exact at any number of places


@pytest.mark.parametrize(
    "price",
    [Decimal("1.83335"), AMERICAN_MINUS_110, Decimal(str(float(AMERICAN_MINUS_110))), Decimal("2.00001")],
    ids=["five-places", "american-110-exact", "american-110-float", "2.00001"],
)
def test_a_price_with_more_than_four_decimals_is_refused_never_rounded(engine: Engine, price: Decimal) -> None:
    book = CountingBook()
    [result] = place_bets(
        engine,
        [candidate(price=price, stake=Decimal("1000.00"))],
        account="paper",
        book=book,
        clock=_clock(),
        limits=ROOMY,
    )
    assert (result.state, result.control) == ("rejected", "input")
    assert "more than 4 decimal places" in str(result.reason)
    assert book.calls == 0
    bet = get_bet(engine, result.bet_id)
    assert bet.price == bet.requested_price == Decimal(0)  # no rounded price stands in for the one given
    assert bet.transitions[0].details == {"price": str(price), "stake": "1000.00"}


def test_a_four_decimal_price_with_trailing_zeros_is_exact_and_kept(engine: Engine) -> None:
    [result] = place_bets(
        engine, [candidate(price=Decimal("1.833500"))], account="paper", book=PaperBook(), clock=_clock(), limits=ROOMY
    )
    assert result.state == "placed"
    assert get_bet(engine, result.bet_id).price == Decimal("1.8335")


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"price": Decimal("1000000000"), "stake": Decimal("20.00")}, "above the ledger's maximum price 1000"),
        ({"price": Decimal("1000.0001")}, "above the ledger's maximum price 1000"),
        ({"price": Decimal("1e30")}, "above the ledger's maximum price 1000"),
        ({"stake": Decimal("1000000.01")}, "above the ledger's maximum stake 1000000.00"),
        ({"stake": Decimal("1e40")}, "above the ledger's maximum stake 1000000.00"),
        ({"stake": Decimal("20000.00"), "price": Decimal("600")}, "payout 12000000.00 above the ledger's maximum"),
    ],
    ids=["price-1e9", "price-just-over", "price-1e30", "stake-just-over", "stake-1e40", "payout"],
)
def test_prices_stakes_and_payouts_beyond_the_ledgers_bounds_are_rejections_not_tracebacks(
    engine: Engine, changes: dict[str, object], reason: str
) -> None:
    """The ledger is shared by every path and any future book adapter: its bounds do not rely on ingest's."""
    book = CountingBook()
    [result] = place_bets(engine, [candidate(**changes)], account="paper", book=book, clock=_clock(), limits=ROOMY)
    assert (result.state, result.control) == ("rejected", "input")
    assert reason in str(result.reason)
    assert book.calls == 0
    bet = get_bet(engine, result.bet_id)
    assert (bet.state, bet.reason) == ("rejected", result.reason)


def test_the_ledgers_bounds_themselves_are_accepted(engine: Engine) -> None:
    cands = [candidate(1, price=Decimal("1000"), stake=Decimal("10000.00")), candidate(2, stake=Decimal("1000000.00"))]
    results = place_bets(engine, cands, account="paper", book=PaperBook(), clock=_clock(), limits=ROOMY)
    assert [r.state for r in results] == ["placed", "placed"], [r.reason for r in results]


def test_the_ledgers_price_cap_is_ingests_cap() -> None:
    """One bound for a price, wherever it enters: ingest quarantines above it, the ledger rejects above it."""
    from betpipe.betting.accounts import MAX_PRICE
    from betpipe.ingest import football_data_odds, nflverse, odds_api_reader

    caps = {football_data_odds.MAX_DECIMAL_ODDS, nflverse.MAX_DECIMAL_ODDS, odds_api_reader.MAX_DECIMAL_PRICE}
    assert {Decimal(str(cap)) for cap in caps} == {MAX_PRICE}


class _OddReplyBook(PaperBook):
    """A book adapter that fills at a price (or a stake) the ledger cannot record exactly."""

    def __init__(self, price: Decimal, stake: Decimal | None = None) -> None:
        super().__init__()
        self.fill_price, self.fill_stake = price, stake

    def place(self, order: BookOrder) -> BookReply:
        reply = super().place(order)
        return replace(reply, price=self.fill_price, stake=self.fill_stake or order.stake)


@pytest.mark.parametrize(
    ("price", "stake", "message"),
    [
        (Decimal("1.90909"), None, "more than 4 decimal places"),
        (Decimal("5000"), None, "above the ledger's maximum price"),
        (Decimal("2.10"), Decimal("10.001"), "stake 10.001"),
        (Decimal("2.10"), Decimal("11.00"), "more than the 10.00 asked"),
    ],
)
def test_a_fill_the_ledger_cannot_record_exactly_is_an_error_not_a_rounded_bet(
    sqlite_engine: Engine, price: Decimal, stake: Decimal | None, message: str
) -> None:
    """The book did something the ledger cannot vouch for: nothing is committed, and the error says what."""
    from betpipe.betting.ledger import BookReplyError

    with pytest.raises(BookReplyError, match=message):
        place_bets(
            sqlite_engine,
            [candidate()],
            account="paper",
            book=_OddReplyBook(price, stake),
            clock=_clock(),
            limits=LIMITS,
        )
    assert _count(sqlite_engine) == 0
