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
    get_bet,
    halt_account,
    list_bets,
    place_bets,
    resume_account,
    settle_bets,
)
from betpipe.clock import FixedClock
from betpipe.config import load_settings
from betpipe.db import make_engine
from betpipe.db.schema_betting import bet_transitions, bets, risk_events
from fakes.betting import DECIDED, KICKOFF, ROOMY, CountingBook, candidate

CLOCK = FixedClock(DECIDED)


@pytest.mark.parametrize(
    ("limits", "stakes", "rule", "cut_to"),
    [
        ({"max_stake": Decimal("20.00")}, ["20.00", "25.00"], "single_stake", "20.00"),
        ({"max_open_exposure": Decimal("25.00")}, ["10.00", "10.00", "10.00"], "open_exposure", "5.00"),
        ({"max_competition_exposure": Decimal("15.00")}, ["10.00", "10.00"], "competition_exposure", "5.00"),
        ({"bankroll_floor": Decimal("980.00")}, ["10.00", "15.00"], "bankroll_floor", "10.00"),
        (
            {"max_open_exposure": Decimal("17.30"), "stake_increment": Decimal("0.50")},
            ["10.00", "10.00"],
            "open_exposure",
            "7.00",
        ),
    ],
    ids=["single_stake", "open_exposure", "competition_exposure", "bankroll_floor", "increment"],
)
def test_a_stake_above_a_limits_headroom_is_cut_to_fit_and_the_cut_is_recorded(
    engine: Engine, limits: dict[str, object], stakes: list[str], rule: str, cut_to: str
) -> None:
    """Issue 14, defect 5: the running exposure includes the bets accepted earlier in the same call; the last
    candidate gets what is left of the binding limit, rounded down to the increment, in the recording transaction."""
    cands = [candidate(i, stake=Decimal(stake)) for i, stake in enumerate(stakes, start=1)]
    results = place_bets(engine, cands, account="paper", book=PaperBook(), clock=CLOCK, limits=replace(ROOMY, **limits))
    assert [r.state for r in results] == ["placed"] * len(stakes), [r.reason for r in results]
    last = results[-1]
    assert (last.stake, last.control) == (Decimal(cut_to), rule)
    assert f"cut {stakes[-1]} -> {cut_to} to fit {rule}" in str(last.reason)
    bet = get_bet(engine, last.bet_id)
    assert bet.stake == Decimal(cut_to)
    assert bet.transitions[0].details == {"price": "2.10", "stake": stakes[-1]}  # what was asked, as proposed
    placed = bet.transitions[-1]
    assert placed.to_state == "placed"
    assert placed.details is not None
    assert placed.details["cut"] == {"from": stakes[-1], "to": cut_to, "rule": rule}
    assert placed.reason == last.reason
    status = account_status(engine, "paper", limits=ROOMY, clock=CLOCK)
    assert status.open_exposure == sum((Decimal(s) for s in stakes[:-1]), Decimal(cut_to))


def test_the_event_limit_cuts_the_stake_but_rejects_a_bet_too_many(engine: Engine) -> None:
    limits = replace(ROOMY, max_bets_per_event=2, max_event_exposure=Decimal("25.00"))
    cands = [candidate(1, selection="home"), candidate(1, selection="draw", stake=Decimal("20.00"))]
    first = place_bets(engine, cands, account="paper", book=PaperBook(), clock=CLOCK, limits=limits)
    assert [(r.state, r.stake, r.control) for r in first] == [
        ("placed", Decimal("10.00"), None),
        ("placed", Decimal("15.00"), "event"),
    ]
    [third] = place_bets(
        engine, [candidate(1, selection="away")], account="paper", book=PaperBook(), clock=CLOCK, limits=limits
    )
    assert (third.state, third.control) == ("rejected", "event")
    assert "already has 2 bet(s)" in str(third.reason)


def test_a_cut_below_the_minimum_stake_is_a_rejection_naming_the_rule(engine: Engine) -> None:
    limits = replace(ROOMY, max_open_exposure=Decimal("14.00"), min_stake=Decimal("5.00"))
    cands = [candidate(1), candidate(2), candidate(3, stake=Decimal("0.50"))]
    results = place_bets(engine, cands, account="paper", book=PaperBook(), clock=CLOCK, limits=limits)
    assert [(r.state, r.control) for r in results] == [
        ("placed", None),
        ("rejected", "open_exposure"),
        ("placed", None),  # the rule only cuts: a stake that fits is placed as sized, even below min_stake
    ]
    assert "cut to 4.00 to fit, below the minimum stake 5.00" in str(results[1].reason)
    assert "open exposure would be 20.00, limit 14.00" in str(results[1].reason)


@pytest.mark.parametrize(
    ("limits", "stakes", "control", "message"),
    [
        ({"max_bets_per_day": 2}, ["1.00", "1.00", "1.00"], "bets_per_day", "2 bets placed today, limit 2"),
        ({"max_open_exposure": Decimal("20.00")}, ["10.00", "10.00", "10.00"], "open_exposure", "would be 30.00"),
        ({"bankroll_floor": Decimal("980.00")}, ["10.00", "10.00", "0.01"], "bankroll_floor", "979.99 below"),
    ],
)
def test_a_rule_that_is_not_about_size_or_has_no_room_left_rejects(
    engine: Engine, limits: dict[str, object], stakes: list[str], control: str, message: str
) -> None:
    cands = [candidate(i, stake=Decimal(stake)) for i, stake in enumerate(stakes, start=1)]
    results = place_bets(engine, cands, account="paper", book=PaperBook(), clock=CLOCK, limits=replace(ROOMY, **limits))
    assert [r.state for r in results[:-1]] == ["placed"] * (len(stakes) - 1)
    last = results[-1]
    assert (last.state, last.control) == ("rejected", control)
    assert message in str(last.reason)
    assert [b.reason for b in list_bets(engine, state="rejected")] == [last.reason]


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


def test_the_daily_loss_limit_cuts_a_stake_to_the_loss_still_allowed_today(engine: Engine) -> None:
    limits = replace(ROOMY, daily_loss_limit=Decimal("20.00"))
    place_bets(
        engine, [candidate(1, stake=Decimal("15.00"))], account="paper", book=PaperBook(), clock=CLOCK, limits=limits
    )
    settle_day = KICKOFF + timedelta(hours=3)
    settle_bets(
        engine, account="paper", results={1: EventResult("finished", 0, 1)}, closing={}, clock=FixedClock(settle_day)
    )
    later = candidate(2, decision_time=settle_day + timedelta(hours=1), kickoff=KICKOFF + timedelta(days=3))
    [cut] = place_bets(
        engine, [later], account="paper", book=PaperBook(), clock=FixedClock(later.decision_time), limits=limits
    )
    assert (cut.state, cut.stake, cut.control) == ("placed", Decimal("5.00"), "daily_loss")
    assert "loss today 15.00, limit 20.00" in str(cut.reason)


# Issue 14, defect 15: a rejection by a control that can be lifted does not consume the decision.


def _steps(engine: Engine, bet_id: int) -> list[tuple[str | None, str]]:
    return [(t.from_state, t.to_state) for t in get_bet(engine, bet_id).transitions]


def test_after_a_resume_the_decision_a_halt_rejected_is_placed_once(engine: Engine) -> None:
    book = CountingBook()
    halt_account(engine, "paper", reason="feed looks wrong", actor="ops", clock=CLOCK)
    [halted] = place_bets(engine, [candidate(1)], account="paper", book=book, clock=CLOCK, limits=ROOMY)
    assert (halted.state, halted.control, halted.duplicate) == ("rejected", "halt", False)
    [still] = place_bets(engine, [candidate(1)], account="paper", book=book, clock=CLOCK, limits=ROOMY)
    assert (still.state, still.control, still.duplicate) == ("rejected", "halt", True)
    assert _steps(engine, halted.bet_id) == [(None, "proposed"), ("proposed", "rejected")]  # nothing new written

    resume_account(engine, "paper", reason="feed fixed", actor="ops", clock=CLOCK)
    [placed] = place_bets(engine, [candidate(1)], account="paper", book=book, clock=CLOCK, limits=ROOMY)
    assert (placed.state, placed.bet_id, placed.duplicate) == ("placed", halted.bet_id, False)
    [again] = place_bets(engine, [candidate(1)], account="paper", book=book, clock=CLOCK, limits=ROOMY)
    assert (again.state, again.bet_id, again.duplicate) == ("placed", halted.bet_id, True)
    assert book.calls == 1
    assert _steps(engine, halted.bet_id) == [
        (None, "proposed"),
        ("proposed", "rejected"),
        ("rejected", "proposed"),
        ("proposed", "placed"),
    ]
    bet = get_bet(engine, halted.bet_id)
    assert (bet.state, bet.reason) == ("placed", None)
    assert bet.transitions[2].details == {"price": "2.10", "stake": "10.00", "retry_of": "halt"}
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(bets)).scalar_one() == 1


def test_a_decision_rejected_for_exposure_is_placed_once_settlement_frees_the_room(engine: Engine) -> None:
    limits = replace(ROOMY, max_open_exposure=Decimal("10.00"))
    first = place_bets(
        engine, [candidate(1), candidate(2)], account="paper", book=PaperBook(), clock=CLOCK, limits=limits
    )
    assert [(r.state, r.control) for r in first] == [("placed", None), ("rejected", "open_exposure")]
    settle_bets(
        engine, account="paper", results={1: EventResult("finished", 1, 0)}, closing={}, clock=FixedClock(DECIDED)
    )
    [later] = place_bets(engine, [candidate(2)], account="paper", book=PaperBook(), clock=CLOCK, limits=limits)
    assert (later.state, later.bet_id, later.stake) == ("placed", first[1].bet_id, Decimal("10.00"))


def test_rejections_for_bad_input_or_by_the_book_stay_final(engine: Engine) -> None:
    book = CountingBook(max_stake=Decimal("5.00"))
    cands = [candidate(1, price=Decimal("1.00")), candidate(2)]
    first = place_bets(engine, cands, account="paper", book=book, clock=CLOCK, limits=ROOMY)
    assert [r.control for r in first] == ["input", "book"]
    again = place_bets(engine, cands, account="paper", book=book, clock=CLOCK, limits=ROOMY)
    assert [(r.state, r.duplicate, r.reason) for r in again] == [("rejected", True, r.reason) for r in first]
    assert book.calls == 1
    assert all(len(_steps(engine, r.bet_id)) == 2 for r in first)


def test_eight_workers_retrying_halt_rejected_decisions_at_once_place_each_once(
    database_url: str, engine: Engine
) -> None:
    """The retry happens under the account lock: concurrent reruns after a resume never place a decision twice."""
    batch = [candidate(event_id) for event_id in range(1, 11)]
    halt_account(engine, "paper", reason="maintenance", actor="ops", clock=CLOCK)
    assert {
        r.control for r in place_bets(engine, batch, account="paper", book=PaperBook(), clock=CLOCK, limits=ROOMY)
    } == {"halt"}
    resume_account(engine, "paper", reason="done", actor="ops", clock=CLOCK)
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []
    placed_here: list[int] = []

    def worker(number: int) -> None:
        own = make_engine(database_url)
        try:
            barrier.wait()
            order = batch[number % 10 :] + batch[: number % 10]
            results = place_bets(own, order, account="paper", book=PaperBook(), clock=CLOCK, limits=ROOMY)
            placed_here.extend(r.bet_id for r in results if r.placed and not r.duplicate)
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
    assert sorted(placed_here) == sorted({b.id for b in list_bets(engine, state="open", limit=None)})
    assert len(placed_here) == 10
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(bets)).scalar_one() == 10
        steps = (
            conn.execute(select(bet_transitions.c.bet_id).where(bet_transitions.c.to_state == "placed")).scalars().all()
        )
    assert sorted(steps) == sorted(placed_here)


def test_the_dry_run_answers_as_place_bets_would_after_a_resume_and_for_a_cut(engine: Engine) -> None:
    from betpipe.live.opportunities import dry_run_checks

    halt_account(engine, "paper", reason="feed looks wrong", actor="ops", clock=CLOCK)
    place_bets(engine, [candidate(1)], account="paper", book=PaperBook(), clock=CLOCK, limits=ROOMY)
    cut = replace(ROOMY, max_stake=Decimal("4.00"))
    halted = dry_run_checks(engine, [candidate(1)], account="paper", limits=cut, clock=CLOCK)
    assert str(halted[0]).startswith("halt: account is halted")
    resume_account(engine, "paper", reason="feed fixed", actor="ops", clock=CLOCK)
    cands = [candidate(1), candidate(2)]
    assert dry_run_checks(engine, cands, account="paper", limits=cut, clock=CLOCK) == [None, None]
    [placed, _] = place_bets(engine, cands, account="paper", book=PaperBook(), clock=CLOCK, limits=cut)
    assert (placed.state, placed.stake) == ("placed", Decimal("4.00"))
    assert (
        dry_run_checks(engine, cands, account="paper", limits=cut, clock=CLOCK)
        == ["already in the ledger (same decision)"] * 2
    )


def test_a_halt_rejected_decision_is_not_placed_after_kickoff(engine: Engine) -> None:
    halt_account(engine, "paper", reason="maintenance", actor="ops", clock=CLOCK)
    [first] = place_bets(engine, [candidate(1)], account="paper", book=PaperBook(), clock=CLOCK, limits=ROOMY)
    resume_account(engine, "paper", reason="done", actor="ops", clock=CLOCK)
    late = FixedClock(KICKOFF + timedelta(minutes=5))
    [again] = place_bets(engine, [candidate(1)], account="paper", book=PaperBook(), clock=late, limits=ROOMY)
    assert (again.state, again.bet_id, again.duplicate) == ("rejected", first.bet_id, True)
    assert "after kickoff" in str(again.reason)
    assert _steps(engine, first.bet_id) == [(None, "proposed"), ("proposed", "rejected")]
