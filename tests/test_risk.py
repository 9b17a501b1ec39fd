"""Risk limits hold inside the recording transaction, under concurrency, and the kill switch survives restarts."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, select

from betpipe.betting import (
    EventResult,
    NotHaltedError,
    PaperBook,
    RiskLimits,
    account_status,
    halt_account,
    list_bets,
    place_bets,
    resume_account,
    settle_bets,
)
from betpipe.clock import FixedClock
from betpipe.config import load_settings
from betpipe.db import make_engine
from betpipe.db.schema_betting import bets, risk_events
from fakes.betting import DECIDED, KICKOFF, CountingBook, candidate

ROOMY = RiskLimits(
    max_stake=Decimal("100.00"),
    max_open_exposure=Decimal("10000.00"),
    max_event_exposure=Decimal("10000.00"),
    max_competition_exposure=Decimal("10000.00"),
    max_bets_per_day=1000,
    max_bets_per_event=1000,
    bankroll_floor=Decimal("0.00"),
)
CLOCK = FixedClock(DECIDED)


@pytest.mark.parametrize(
    ("limits", "stakes", "control", "message"),
    [
        ({"max_stake": Decimal("20.00")}, ["20.00", "20.01"], "single_stake", "stake 20.01 above the limit 20.00"),
        ({"max_open_exposure": Decimal("25.00")}, ["10.00", "10.00", "10.00"], "open_exposure", "would be 30.00"),
        ({"max_bets_per_day": 2}, ["1.00", "1.00", "1.00"], "bets_per_day", "2 bets placed today, limit 2"),
        ({"max_competition_exposure": Decimal("15.00")}, ["10.00", "10.00"], "competition_exposure", "on E0"),
        ({"bankroll_floor": Decimal("980.00")}, ["10.00", "10.00", "0.01"], "bankroll_floor", "979.99 below"),
    ],
)
def test_each_limit_rejects_the_candidate_that_would_breach_it_within_one_call(
    engine: Engine, limits: dict[str, object], stakes: list[str], control: str, message: str
) -> None:
    """The running exposure includes the bets accepted earlier in the same call."""
    cands = [candidate(i, stake=Decimal(stake)) for i, stake in enumerate(stakes, start=1)]
    results = place_bets(engine, cands, account="paper", book=PaperBook(), clock=CLOCK, limits=replace(ROOMY, **limits))
    assert [r.state for r in results[:-1]] == ["placed"] * (len(stakes) - 1)
    last = results[-1]
    assert last.state == "rejected"
    assert last.control == control
    assert last.reason is not None
    assert message in last.reason
    assert [b.reason for b in list_bets(engine, state="rejected")] == [last.reason]


def test_per_event_limits_count_bets_and_stake_on_one_game(engine: Engine) -> None:
    limits = replace(ROOMY, max_bets_per_event=2, max_event_exposure=Decimal("25.00"))
    cands = [
        candidate(1, selection="home"),
        candidate(1, selection="draw", stake=Decimal("16.00")),
        candidate(1, selection="away"),
        candidate(2, selection="home"),
    ]
    first = place_bets(engine, cands[:2], account="paper", book=PaperBook(), clock=CLOCK, limits=limits)
    assert [r.state for r in first] == ["placed", "rejected"]
    assert "exposure on event 1 would be 26.00" in str(first[1].reason)
    later = place_bets(engine, cands[2:], account="paper", book=PaperBook(), clock=CLOCK, limits=limits)
    assert [r.state for r in later] == ["placed", "placed"]
    third = place_bets(
        engine, [candidate(1, strategy="x")], account="paper", book=PaperBook(), clock=CLOCK, limits=limits
    )
    assert "already has 2 bet(s)" in str(third[0].reason)


def test_the_daily_loss_limit_counts_losses_by_settlement_date(engine: Engine) -> None:
    limits = replace(ROOMY, daily_loss_limit=Decimal("20.00"))
    place_bets(
        engine, [candidate(1, stake=Decimal("20.00"))], account="paper", book=PaperBook(), clock=CLOCK, limits=limits
    )
    settle_day = KICKOFF + timedelta(hours=3)
    settle_bets(
        engine, account="paper", results={1: EventResult("finished", 0, 1)}, closing={}, clock=FixedClock(settle_day)
    )
    later_kickoff = KICKOFF + timedelta(days=3)
    same_day = candidate(2, decision_time=settle_day + timedelta(hours=1), kickoff=later_kickoff)
    next_day = candidate(3, decision_time=settle_day + timedelta(days=1), kickoff=later_kickoff)
    [blocked] = place_bets(
        engine, [same_day], account="paper", book=PaperBook(), clock=FixedClock(same_day.decision_time), limits=limits
    )
    assert blocked.control == "daily_loss"
    assert "loss today 20.00" in str(blocked.reason)
    [allowed] = place_bets(
        engine, [next_day], account="paper", book=PaperBook(), clock=FixedClock(next_day.decision_time), limits=limits
    )
    assert allowed.state == "placed"
    status = account_status(engine, "paper", limits=limits, clock=FixedClock(next_day.decision_time))
    assert (status.settled_pnl, status.bankroll, status.open_exposure) == (
        Decimal("-20.00"),
        Decimal("980.00"),
        Decimal("10.00"),
    )


def test_a_halted_account_places_nothing_even_after_a_restart(database_url: str) -> None:
    from betpipe.db import upgrade

    first = make_engine(database_url)
    upgrade(first)
    halt_account(first, "paper", reason="feed looks wrong", actor="ops", clock=CLOCK)
    first.dispose()

    restarted = make_engine(database_url)  # a new engine: nothing survives but what is in the database
    book = CountingBook()
    results = place_bets(restarted, [candidate(1), candidate(2)], account="paper", book=book, clock=CLOCK, limits=ROOMY)
    assert [r.control for r in results] == ["halt", "halt"]
    assert book.calls == 0
    assert "feed looks wrong" in str(results[0].reason)
    other = place_bets(restarted, [candidate(1)], account="backtest:1", book=book, clock=CLOCK, limits=ROOMY)
    assert other[0].state == "placed"  # the kill switch is per account

    with pytest.raises(NotHaltedError):
        resume_account(restarted, "backtest:1", reason="nothing to lift", actor="ops", clock=CLOCK)
    with pytest.raises(ValueError, match="needs a reason"):
        resume_account(restarted, "paper", reason=" ", actor="ops", clock=CLOCK)
    resume_account(restarted, "paper", reason="feed fixed", actor="ops", clock=CLOCK)
    [placed] = place_bets(restarted, [candidate(3)], account="paper", book=book, clock=CLOCK, limits=ROOMY)
    assert placed.state == "placed"
    status = account_status(restarted, "paper", limits=ROOMY, clock=CLOCK)
    assert not status.halted
    assert [(e.action, e.reason, e.actor, e.at) for e in status.events] == [
        ("resume", "feed fixed", "ops", DECIDED),
        ("halt", "feed looks wrong", "ops", DECIDED),
    ]
    with restarted.connect() as conn:
        assert conn.execute(select(func.count()).select_from(risk_events)).scalar_one() == 2
    restarted.dispose()


@pytest.mark.parametrize(
    ("limits", "expected"),
    [
        (replace(ROOMY, max_open_exposure=Decimal("100.00"), max_bets_per_event=1), 10),
        (replace(ROOMY, max_bets_per_day=7, max_bets_per_event=1), 7),
        (replace(ROOMY, max_bets_per_event=1), 20),
    ],
    ids=["open_exposure", "bets_per_day", "per_event"],
)
def test_eight_workers_placing_at_once_never_breach_a_limit(
    database_url: str, engine: Engine, limits: RiskLimits, expected: int
) -> None:
    """Each worker has its own engine (its own connections), as separate processes would; the lock serialises them."""
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def worker(number: int) -> None:
        own = make_engine(database_url)
        try:
            barrier.wait()
            for round_ in range(5):  # every worker tries every event, in a different order, in small batches
                batch = [candidate((number * 7 + round_ * 4 + k) % 20 + 1, strategy=f"w{number}") for k in range(4)]
                place_bets(own, batch, account="paper", book=PaperBook(), clock=CLOCK, limits=limits)
        except BaseException as error:  # pragma: no cover - surfaced by the assertion below
            errors.append(error)
        finally:
            own.dispose()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with engine.connect() as conn:
        placed = conn.execute(select(bets.c.event_id, bets.c.stake_cents).where(bets.c.state == "placed")).all()
        total = conn.execute(select(func.count()).select_from(bets)).scalar_one()
    per_event = {event_id: sum(1 for e, _ in placed if e == event_id) for event_id, _ in placed}
    assert len(placed) == expected  # the binding limit is reached exactly, never passed
    assert max(per_event.values()) <= limits.max_bets_per_event
    assert sum(stake for _, stake in placed) <= limits.max_open_exposure * 100
    assert len(placed) <= limits.max_bets_per_day
    assert total == len(_tried())  # every decision recorded once: placed or rejected with its reason


def _tried() -> set[tuple[int, int]]:
    return {
        (number, (number * 7 + round_ * 4 + k) % 20 + 1) for number in range(8) for round_ in range(5) for k in range(4)
    }


def test_limits_come_from_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BETPIPE_RISK__MAX_BETS_PER_EVENT", "3")
    monkeypatch.setenv("BETPIPE_BANKROLL__MAX_OPEN_EXPOSURE", "321.50")
    limits = RiskLimits.from_settings(load_settings())
    assert limits.max_bets_per_event == 3
    assert limits.max_open_exposure == Decimal("321.50")
    assert limits.starting_bankroll == Decimal("1000.00")
