"""Account restriction, as soft books do it: after a book has lost N bets to us by closing-line value, its maximum
stake falls. The count is read from the ledger inside the placing transaction, so the live path (``place_at_books``)
and the backtest (which places through it) restrict a book at the same bet, and never touch another book."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Engine, text

from betpipe.backtest import UNCAPPED_LIMITS, BacktestSpec, run
from betpipe.betting import EventResult, RiskLimits, settle_bets
from betpipe.betting.placing import paper_books, place_at_books
from betpipe.betting.restriction import book_summary
from betpipe.betting.strategy import strategy_limits
from betpipe.betting.strategy_spec import DEFAULT_STRATEGY, StrategySpec
from betpipe.clock import SimulatedClock
from betpipe.config import Settings
from betpipe.db import make_engine, upgrade
from betpipe.ingest.sample_league import ingest_sample
from betpipe.ingest.sample_league_model import SHARP, SOFT, SampleLeagueConfig
from fakes.betting import DECIDED, KICKOFF, candidate

LIMITS = RiskLimits(
    max_open_exposure=Decimal("1000.00"),
    max_competition_exposure=Decimal("1000.00"),
    restrict_after_clv_wins=2,
    restricted_max_stake=Decimal("2.50"),
)


def _place(engine: Engine, clock: SimulatedClock, bets: list[tuple[int, str]], limits: RiskLimits = LIMITS) -> list:
    candidates = [candidate(event_id, book=book, competition=f"C{event_id}") for event_id, book in bets]
    return place_at_books(engine, candidates, account="paper", clock=clock, limits=limits, book_for=paper_books())


def _settle(engine: Engine, clock: SimulatedClock, events: dict[int, float]) -> None:
    """Home wins each event; the fair closing probability of home is ``events[id]`` (CLV = 2.10 x p - 1)."""
    results = {e: EventResult("finished", 1, 0) for e in events}
    closing = {(e, "1x2", "home", 0.0): p for e, p in events.items()}
    settle_bets(engine, account="paper", results=results, closing=closing, clock=clock)


def test_a_book_that_lost_n_bets_by_clv_takes_only_the_restricted_stake_and_other_books_are_untouched(
    engine: Engine,
) -> None:
    clock = SimulatedClock(DECIDED + timedelta(minutes=1))
    _place(engine, clock, [(1, "bet365"), (2, "bet365"), (3, "vcbet"), (4, "vcbet")])
    clock.advance_to(KICKOFF + timedelta(hours=3))
    # bet365 loses two bets by CLV (0.6 x 2.10 = 1.26); vcbet one (the other closes against us: 0.4 x 2.10 < 1).
    _settle(engine, clock, {1: 0.6, 2: 0.6, 3: 0.6, 4: 0.4})
    later = replace(candidate(), decision_time=KICKOFF + timedelta(days=1), kickoff=KICKOFF + timedelta(days=2))
    clock.advance_to(later.decision_time + timedelta(minutes=1))
    placed = place_at_books(
        engine,
        [replace(later, event_id=5, book="bet365", competition="C5"), replace(later, event_id=6, book="vcbet")],
        account="paper",
        clock=clock,
        limits=LIMITS,
        book_for=paper_books(),
    )
    restricted, untouched = placed
    assert (restricted.state, restricted.stake, restricted.control) == ("placed", Decimal("2.50"), "book_restriction")
    assert restricted.reason is not None
    assert "bet365 restricted after losing 2 bets by CLV" in restricted.reason
    assert (untouched.state, untouched.stake, untouched.control) == ("placed", Decimal("10.00"), None)
    summary = {row["book"]: row for row in book_summary(engine, "paper", LIMITS)}
    assert summary["bet365"]["restricted_at"] is not None
    assert (summary["bet365"]["bets_restricted"], summary["bet365"]["stake_asked_restricted"]) == (1, "10.00")
    assert summary["bet365"]["stake_restricted"] == "2.50"
    assert summary["vcbet"]["restricted_at"] is None
    assert summary["vcbet"]["bets_restricted"] == 0


def test_without_the_setting_no_book_is_ever_restricted(engine: Engine) -> None:
    clock = SimulatedClock(DECIDED + timedelta(minutes=1))
    off = replace(LIMITS, restrict_after_clv_wins=0)
    _place(engine, clock, [(1, "bet365"), (2, "bet365")], off)
    clock.advance_to(KICKOFF + timedelta(hours=3))
    _settle(engine, clock, {1: 0.6, 2: 0.6})
    later = replace(candidate(event_id=5, book="bet365"), decision_time=KICKOFF + timedelta(days=1))
    later = replace(later, kickoff=KICKOFF + timedelta(days=2), competition="C5")
    clock.advance_to(later.decision_time)
    [result] = place_at_books(engine, [later], account="paper", clock=clock, limits=off, book_for=paper_books())
    assert (result.stake, result.control) == (Decimal("10.00"), None)


def test_a_fraction_restriction_takes_that_share_of_the_stake_asked(engine: Engine) -> None:
    clock = SimulatedClock(DECIDED + timedelta(minutes=1))
    limits = replace(LIMITS, restrict_after_clv_wins=1, restricted_max_stake=Decimal(0))
    limits = replace(limits, restricted_stake_fraction=Decimal("0.15"))
    _place(engine, clock, [(1, "bet365")], limits)
    clock.advance_to(KICKOFF + timedelta(hours=3))
    _settle(engine, clock, {1: 0.6})
    later = replace(candidate(event_id=5, book="bet365"), decision_time=KICKOFF + timedelta(days=1))
    later = replace(later, kickoff=KICKOFF + timedelta(days=2), competition="C5")
    clock.advance_to(later.decision_time)
    [result] = place_at_books(engine, [later], account="paper", clock=clock, limits=limits, book_for=paper_books())
    assert (result.stake, result.control) == (Decimal("1.50"), "book_restriction")


def test_the_restriction_is_a_strategy_setting_that_leaves_other_strategies_names_and_versions_alone() -> None:
    restricted = StrategySpec(limits={"restrict_after_clv_wins": "20", "restricted_max_stake": "5"})
    assert restricted.restriction == (20, Decimal(5), Decimal(0))
    assert restricted.version != DEFAULT_STRATEGY.version
    assert restricted.name == DEFAULT_STRATEGY.name + "|restricted@20:5"
    assert StrategySpec.from_json(restricted.to_json()) == restricted
    assert DEFAULT_STRATEGY.version == StrategySpec.from_json(DEFAULT_STRATEGY.to_json()).version
    limits = strategy_limits(RiskLimits(), restricted.limits)
    assert (limits.restrict_after_clv_wins, limits.restricted_max_stake) == (20, Decimal(5))


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"restrict_after_clv_wins": "3"}, "needs restricted_max_stake or restricted_stake_fraction"),
        ({"restrict_after_clv_wins": "x"}, "must be numbers"),
        ({"restrict_after_clv_wins": "3", "restricted_stake_fraction": "1.5"}, "fraction in [0, 1]"),
    ],
)
def test_a_bad_restriction_is_a_one_line_error(limits: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")) as error:
        StrategySpec(limits=limits)
    assert "\n" not in str(error.value)


def test_the_backtest_restricts_each_book_from_its_own_nth_clv_win_on(tmp_path: Path) -> None:
    """The same rule in a backtest: per book, every bet before its restriction is at the full stake, every bet from
    the instant its N-th CLV win settled on is cut, and one book's restriction never cuts the other's stakes."""
    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'store.sqlite'}")
    store = make_engine(settings.effective_database_url)
    upgrade(store)
    other = replace(SOFT, key="sample_soft_b", opening_noise=0.2)
    ingest_sample(
        store, SampleLeagueConfig(n_teams=10, n_seasons=2, n_upcoming_matchdays=0, bookmakers=(SHARP, SOFT, other))
    )
    with store.connect() as conn:
        season = sorted(str(r[0]) for r in conn.execute(text("SELECT name FROM seasons")))[-1]
    restriction = {"restrict_after_clv_wins": "5", "restricted_max_stake": "0.40"}
    spec = BacktestSpec(
        competitions=("SAMPLE",), first_season=season, last_season=season, books=("sample_soft", "sample_soft_b"),
        sharp_book="sample_sharp", strategy="market", staking="flat:1,simultaneous", min_edge=0.0,
        limits=UNCAPPED_LIMITS | restriction,
    )  # fmt: skip
    result = run(spec, engine=store, settings=settings, ledger_path=tmp_path / "ledger.sqlite")
    placed = result.bets.filter(pl.col("state") != "rejected")
    summary = {row["book"]: row for row in result.books}
    assert set(summary) == {"sample_soft", "sample_soft_b"}
    restricted_at = {book: row["restricted_at"] for book, row in summary.items()}
    assert all(restricted_at.values()), "both books lose five bets by CLV over a season"
    assert restricted_at["sample_soft"] != restricted_at["sample_soft_b"]
    for book, at in restricted_at.items():
        mine = placed.filter(pl.col("book") == book)
        since = pl.col("decided_at") >= datetime.fromisoformat(at)
        before, after = mine.filter(~since), mine.filter(since)
        assert before.height
        assert after.height
        assert before.get_column("stake").unique().to_list() == [1.0]
        assert after.get_column("stake").unique().to_list() == [0.4]
        assert summary[book]["bets_restricted"] == after.height
        assert summary[book]["bets"] == mine.height
    store.dispose()
