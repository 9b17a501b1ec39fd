"""Settlement grades from final scores with exact Decimal P&L, voids with reasons, and scores CLV against the close."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, insert

from betpipe.betting import (
    EventResult,
    PaperBook,
    RiskLimits,
    closing_line_value,
    get_bet,
    list_bets,
    load_settlement_inputs,
    place_bets,
    settle_bets,
)
from betpipe.clock import FixedClock, SimulatedClock
from betpipe.db.schema import bookmakers, competitions, events, odds_snapshots, results, teams
from fakes.betting import DECIDED, KICKOFF, candidate

LIMITS = RiskLimits(
    max_open_exposure=Decimal("10000.00"),
    max_event_exposure=Decimal("10000.00"),
    max_competition_exposure=Decimal("10000.00"),
    max_bets_per_event=100,
    max_stake=Decimal("1000.00"),
    daily_loss_limit=Decimal("1000.00"),
    bankroll_floor=Decimal("0.00"),
)
SETTLED_AT = KICKOFF + timedelta(hours=3)

# market, selection, line, price, stake, home, away, state, pnl: worked examples incl. Asian quarter lines
WORKED = [
    ("1x2", "home", 0.0, "2.10", "10.00", 2, 1, "won", "11.00"),
    ("1x2", "draw", 0.0, "3.40", "10.00", 2, 1, "lost", "-10.00"),
    ("moneyline", "home", 0.0, "1.91", "10.00", 20, 20, "void", "0.00"),  # a tie is void in a two-way market
    ("moneyline", "away", 0.0, "2.50", "4.00", 17, 24, "won", "6.00"),
    ("spread", "home", -3.0, "1.91", "10.00", 24, 21, "void", "0.00"),  # push on a whole line
    ("spread", "away", -3.5, "1.95", "10.00", 24, 21, "won", "9.50"),  # home -3.5 fails, away +3.5 covers
    ("total", "over", 2.5, "1.80", "10.00", 2, 1, "won", "8.00"),
    ("total", "under", 2.75, "2.00", "10.00", 2, 1, "half_lost", "-5.00"),
    ("asian_handicap", "home", -0.25, "1.90", "10.00", 1, 1, "half_lost", "-5.00"),
    ("asian_handicap", "home", -0.75, "1.90", "10.00", 2, 1, "half_won", "4.50"),
    ("asian_handicap", "home", 0.25, "1.90", "10.00", 0, 0, "half_won", "4.50"),
    ("asian_handicap", "away", -0.25, "2.05", "10.00", 0, 0, "half_won", "5.25"),  # away +0.25 at 0-0
    ("asian_handicap", "home", -1.0, "1.95", "10.00", 2, 1, "void", "0.00"),
    ("asian_handicap", "home", -0.75, "1.925", "10.00", 2, 1, "half_won", "4.62"),  # 4.625 rounds half-even
]


def _place(engine: Engine, *cands: object, account: str = "paper") -> list[int]:
    clock = FixedClock(DECIDED)
    placed = place_bets(engine, cands, account=account, book=PaperBook(), clock=clock, limits=LIMITS)  # type: ignore[arg-type]
    assert all(p.state == "placed" for p in placed), [p.reason for p in placed]
    return [p.bet_id for p in placed]


@pytest.mark.parametrize(("market", "selection", "line", "price", "stake", "home", "away", "state", "pnl"), WORKED)
def test_settlement_matches_worked_examples_to_the_cent(
    sqlite_engine: Engine,
    market: str,
    selection: str,
    line: float,
    price: str,
    stake: str,
    home: int,
    away: int,
    state: str,
    pnl: str,
) -> None:
    bet = candidate(market=market, selection=selection, line=line, price=Decimal(price), stake=Decimal(stake))
    [bet_id] = _place(sqlite_engine, bet)
    report = settle_bets(
        sqlite_engine,
        account="paper",
        results={1: EventResult("finished", home, away)},
        closing={},
        clock=FixedClock(SETTLED_AT),
    )
    stored = get_bet(sqlite_engine, bet_id)
    assert (stored.state, stored.pnl) == (state, Decimal(pnl))
    assert report.pnl == Decimal(pnl)
    assert report.by_grade == {state: 1}


def test_every_grade_and_pnl_round_trips_on_each_backend(engine: Engine) -> None:
    cands = [
        candidate(i, market=m, selection=s, line=ln, price=Decimal(p), stake=Decimal(st))
        for i, (m, s, ln, p, st, *_rest) in enumerate(WORKED, start=1)
    ]
    ids = _place(engine, *cands)
    scores = {i: EventResult("finished", row[5], row[6]) for i, row in enumerate(WORKED, start=1)}
    report = settle_bets(engine, account="paper", results=scores, closing={}, clock=FixedClock(SETTLED_AT))
    assert report.pnl == sum((Decimal(row[8]) for row in WORKED), Decimal(0))
    got = {bet.id: (bet.state, bet.pnl) for bet in list_bets(engine, limit=None)}
    assert got == {bet_id: (row[7], Decimal(row[8])) for bet_id, row in zip(ids, WORKED, strict=True)}


def test_clv_is_price_times_fair_close_minus_one_and_missing_close_is_null_with_reason(engine: Engine) -> None:
    first, second = _place(engine, candidate(1, price=Decimal("2.10")), candidate(2, price=Decimal("3.00")))
    closing = {(1, "1x2", "home", 0.0): 0.5}
    clock = SimulatedClock(SETTLED_AT)
    report = settle_bets(
        engine,
        account="paper",
        results={1: EventResult("finished", 1, 0), 2: EventResult("finished", 0, 0)},
        closing=closing,
        clock=clock,
    )
    assert report.clv_missing == 1
    won, lost = get_bet(engine, first), get_bet(engine, second)
    assert won.clv == pytest.approx(0.05)
    assert won.clv_reason is None
    assert lost.clv is None
    assert lost.clv_reason == "no closing price for this selection and line"
    assert [(t.from_state, t.to_state, t.at) for t in won.transitions][-1] == ("placed", "won", SETTLED_AT)
    assert won.settled_at == SETTLED_AT
    assert closing_line_value(Decimal("1.90"), 0.55) == pytest.approx(0.045)
    with pytest.raises(ValueError, match="not a price"):
        closing_line_value(Decimal("1"), 0.5)


def test_missing_results_stay_open_and_postponed_events_are_void_with_a_reason(engine: Engine) -> None:
    waiting, postponed, scoreless, running = _place(engine, candidate(1), candidate(2), candidate(3), candidate(4))
    report = settle_bets(
        engine,
        account="paper",
        results={2: EventResult("postponed"), 3: EventResult("finished"), 4: EventResult("in_play")},
        closing={(2, "1x2", "home", 0.0): 0.5},
        clock=FixedClock(SETTLED_AT),
    )
    assert report.still_open == {
        waiting: "no result yet",
        scoreless: "finished without a score",
        running: "event in_play, not finished",
    }
    void = get_bet(engine, postponed)
    assert (void.state, void.pnl, void.reason) == ("void", Decimal("0.00"), "event postponed: stake returned")
    assert void.clv is None
    assert "postponed" in (void.clv_reason or "")
    assert get_bet(engine, waiting).state == "placed"


def test_settling_twice_books_nothing_twice(engine: Engine) -> None:
    _place(engine, candidate(1))
    done = {1: EventResult("finished", 2, 0)}
    first = settle_bets(engine, account="paper", results=done, closing={}, clock=FixedClock(SETTLED_AT))
    again = settle_bets(engine, account="paper", results=done, closing={}, clock=FixedClock(SETTLED_AT))
    assert len(first.settled) == 1
    assert again.settled == ()
    assert again.pnl == Decimal(0)
    assert len(get_bet(engine, first.settled[0].bet_id).transitions) == 3


def test_settlement_touches_only_its_own_account(engine: Engine) -> None:
    _place(engine, candidate(1), account="backtest:1")
    report = settle_bets(
        engine, account="paper", results={1: EventResult("finished", 1, 0)}, closing={}, clock=FixedClock(SETTLED_AT)
    )
    assert report.settled == ()
    assert [bet.state for bet in list_bets(engine, account="backtest:1")] == ["placed"]


def _store(engine: Engine) -> None:
    at = KICKOFF
    with engine.begin() as conn:
        conn.execute(insert(competitions), [{"id": 1, "sport": "soccer", "code": "E0", "name": "Premier League"}])
        conn.execute(insert(teams), [{"id": i, "sport": "soccer", "name": f"T{i}"} for i in (1, 2)])
        common = {"sport": "soccer", "competition_id": 1, "kickoff_utc": at, "kickoff_time_known": True}
        common |= {"home_team_id": 1, "away_team_id": 2, "neutral_site": False, "source": "test"}
        conn.execute(
            insert(events),
            [
                common | {"id": 1, "natural_key": "a", "status": "finished"},
                common | {"id": 2, "natural_key": "b", "status": "postponed"},
                common | {"id": 3, "natural_key": "c", "status": "finished"},  # finished, no result row yet
                common | {"id": 4, "natural_key": "d", "status": "scheduled"},
            ],
        )
        conn.execute(insert(results), [{"event_id": 1, "home_score": 2, "away_score": 1, "source": "test"}])
        conn.execute(
            insert(bookmakers),
            [
                {"id": 1, "key": "pinnacle", "name": "Pinnacle", "is_aggregate": False},
                {"id": 2, "key": "bet365", "name": "Bet365", "is_aggregate": False},
            ],
        )
        snap = {"market": "1x2", "line": 0.0, "source": "test"}
        early = at - timedelta(hours=2)
        rows = [
            snap | {"event_id": 1, "bookmaker_id": 1, "selection": s, "price": p, "kind": "closing", "captured_at": at}
            for s, p in (("home", 2.0), ("draw", 4.0), ("away", 4.0))
        ]
        rows.append(
            snap
            | {"event_id": 1, "bookmaker_id": 1, "selection": "home", "price": 9.0, "kind": "closing"}
            | {"captured_at": early}  # an older closing snapshot: the latest one counts
        )
        rows += [
            snap
            | {"event_id": 1, "bookmaker_id": 2, "selection": s, "price": 1.5, "kind": "closing", "captured_at": at}
            for s in ("home", "draw", "away")
        ]
        rows += [  # an incomplete market (no under): no fair price can be derived
            snap
            | {"event_id": 1, "bookmaker_id": 1, "market": "total", "selection": "over", "line": 2.5, "price": 1.9}
            | {"kind": "closing", "captured_at": at}
        ]
        conn.execute(insert(odds_snapshots), rows)


def test_the_store_provides_results_and_margin_free_pinnacle_closing_probabilities(engine: Engine) -> None:
    _store(engine)
    outcomes, closing = load_settlement_inputs(engine, [1, 2, 3, 4, 5])
    assert outcomes == {1: EventResult("finished", 2, 1), 2: EventResult("postponed")}
    # implied 0.5 + 0.25 + 0.25 = 1.0 -> already fair; the 9.0 snapshot is older and ignored
    assert closing == pytest.approx(
        {(1, "1x2", "home", 0.0): 0.5, (1, "1x2", "draw", 0.0): 0.25, (1, "1x2", "away", 0.0): 0.25}
    )
    _, bet365 = load_settlement_inputs(engine, [1], reference_book="bet365")
    assert bet365[(1, "1x2", "home", 0.0)] == pytest.approx(1 / 3)
    assert load_settlement_inputs(engine, []) == ({}, {})


def test_live_settlement_from_the_store_end_to_end(engine: Engine) -> None:
    _store(engine)
    won, postponed, waiting = _place(engine, candidate(1, price=Decimal("2.20")), candidate(2), candidate(3))
    outcomes, closing = load_settlement_inputs(engine, [1, 2, 3])
    report = settle_bets(engine, account="paper", results=outcomes, closing=closing, clock=FixedClock(SETTLED_AT))
    assert report.still_open == {waiting: "no result yet"}
    assert get_bet(engine, won).clv == pytest.approx(0.10)
    assert get_bet(engine, won).pnl == Decimal("12.00")
    assert get_bet(engine, postponed).state == "void"


def test_kickoff_instants_come_back_aware_in_utc(sqlite_engine: Engine) -> None:
    [bet_id] = _place(sqlite_engine, candidate(1))
    assert get_bet(sqlite_engine, bet_id).kickoff == datetime(2024, 3, 2, 15, 0, tzinfo=UTC)


def test_a_won_bet_pays_exactly_the_price_recorded_and_a_price_it_cannot_record_is_refused(engine: Engine) -> None:
    """Issue 14, defect 2: 1.83335 used to be stored as 1.8334 and paid 833.40 on 1000.00; it is now refused."""
    refused = place_bets(
        engine,
        [candidate(1, price=Decimal("1.83335"), stake=Decimal("1000.00"))],
        account="paper",
        book=PaperBook(),
        clock=FixedClock(DECIDED),
        limits=LIMITS,
    )
    assert (refused[0].state, refused[0].control) == ("rejected", "input")
    [bet_id] = _place(engine, candidate(2, price=Decimal("1.8335"), stake=Decimal("1000.00")))
    report = settle_bets(
        engine,
        account="paper",
        results={1: EventResult("finished", 1, 0), 2: EventResult("finished", 1, 0)},
        closing={},
        clock=FixedClock(SETTLED_AT),
    )
    assert [(bet.bet_id, bet.pnl) for bet in report.settled] == [(bet_id, Decimal("833.50"))]
    stored = get_bet(engine, bet_id)
    assert stored.pnl == (stored.price - 1) * stored.stake  # paid at the very price recorded, no rounding
    assert get_bet(engine, refused[0].bet_id).state == "rejected"


def test_a_recorded_bet_beyond_the_ledgers_bounds_is_not_settled_automatically(engine: Engine) -> None:
    """Issue 14, defect 12: a bet recorded before the bounds existed (20.00 at 1e9) must not book +19,999,999,980."""
    from sqlalchemy import update

    from betpipe.db.schema_betting import bets

    [bet_id] = _place(engine, candidate(1, stake=Decimal("20.00")))
    with engine.begin() as conn:
        conn.execute(update(bets).where(bets.c.id == bet_id).values(price_e4=1_000_000_000 * 10_000))
    report = settle_bets(
        engine, account="paper", results={1: EventResult("finished", 1, 0)}, closing={}, clock=FixedClock(SETTLED_AT)
    )
    assert report.settled == ()
    assert "above the ledger's maximum price 1000" in report.still_open[bet_id]
    assert get_bet(engine, bet_id).state == "placed"
