"""A paper bet on an O/U line from the live run to settlement (issue 18, "Done when"), on SQLite and PostgreSQL: a
promoted strategy that lists the totals market takes the soft book's over/under 2.5 where the market-implied grid
(the sharp 1X2 + O/U 2.5) says it has value, the ledger records it at that line and book, and the results job grades
it exactly as ``grade_selection`` does with CLV against the sharp book's margin-free close of that line."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, select

from betpipe.betting import list_bets
from betpipe.betting.strategy_spec import StrategySpec
from betpipe.clock import FixedClock
from betpipe.db.schema import bookmakers, events, odds_snapshots, results
from betpipe.live.betting_run import betting_run
from betpipe.live.opportunities import opportunities
from betpipe.live.scheduler import run_once
from betpipe.registry.strategies import promote_strategy, store_strategy
from betpipe.sports import grade_selection, profit_per_unit
from pipeline_store import AFTER_MATCHDAY, live_settings, prepare_store

TOTALS = StrategySpec(
    books=("sample_soft",),
    sharp_book="sample_sharp",
    markets=("1x2", "total"),
    min_edge=0.0,
    max_price_age_hours=96.0,
    limits={"max_bets_per_event": "2", "max_correlated_exposure": "0.05"},
)


def _soft_totals(engine: Engine) -> int:
    """The sample's soft book quotes no totals: copy the sharp book's pre-match O/U 2.5 to it, over 8 % longer and
    under 8 % shorter (a soft book slow to move), so the grid finds value on the over."""
    with engine.begin() as conn:
        ids: dict[str, int] = dict(conn.execute(select(bookmakers.c.key, bookmakers.c.id)).all())
        sharp = conn.execute(
            select(odds_snapshots).join(events, events.c.id == odds_snapshots.c.event_id).where(
                odds_snapshots.c.bookmaker_id == ids["sample_sharp"], odds_snapshots.c.market == "total",
                odds_snapshots.c.kind != "closing", events.c.status == "scheduled",
            )
        ).mappings().all()  # fmt: skip
        rows = [
            {
                **{k: v for k, v in row.items() if k != "id"},
                "bookmaker_id": ids["sample_soft"],
                "price": round(row["price"] * (1.08 if row["selection"] == "over" else 0.92), 2),
                "source": "test",
            }
            for row in sharp
        ]
        conn.execute(insert(odds_snapshots), rows)
    return len(rows)


def test_a_paper_over_under_bet_goes_from_the_live_run_to_settlement(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    settings = live_settings(database_url, tmp_path)
    eve = prepare_store(engine, settings)
    assert _soft_totals(engine) > 0
    promote_strategy(engine, store_strategy(engine, TOTALS).version, reason="test", actor="test")

    run = betting_run(engine, settings, FixedClock(eve))
    totals = [
        (c, r)
        for c, r in zip(run.opportunities.decision.candidates, run.placements, strict=True)
        if c.market == "total"
    ]
    assert totals, run.opportunities.decision.no_bet
    assert all(r.placed for _, r in totals), [r.reason for _, r in totals]
    assert {(c.line, c.book) for c, _ in totals} == {(2.5, "sample_soft")}
    assert all(c.edge is not None and c.edge > 0 for c, _ in totals)
    rerun = betting_run(engine, settings, FixedClock(eve + timedelta(minutes=5)))
    assert rerun.placed == 0  # keyed by decision: nothing placed twice

    later = FixedClock(eve + AFTER_MATCHDAY)
    assert run_once(engine, settings, later, jobs=["results"])[0].status == "succeeded"
    settled = [b for b in list_bets(engine, account="paper", state="settled", limit=None) if b.market == "total"]
    assert settled, "the first matchday is over four days after its eve"
    with engine.connect() as conn:
        scores = {
            e: (h, a)
            for e, h, a in conn.execute(select(results.c.event_id, results.c.home_score, results.c.away_score))
        }
    for bet in settled:
        grade = grade_selection("total", bet.selection, bet.line, *scores[bet.event_id])
        assert bet.pnl == (bet.stake * profit_per_unit(grade, bet.price)).quantize(Decimal("0.01"))
        assert bet.clv is not None, bet.clv_reason  # against the sharp book's margin-free close of O/U 2.5


def _sharp_handicaps(engine: Engine, events_: set[int], line: float) -> None:
    """The sharp book's main AH line for ``events_``, quoted when its O/U 2.5 was: home ``line`` at 1.50 / away 2.60,
    a far stronger home side than its 1X2 says, so a grid fitted to it as well cannot stay where it was."""
    with engine.begin() as conn:
        ids: dict[str, int] = dict(conn.execute(select(bookmakers.c.key, bookmakers.c.id)).all())
        overs = conn.execute(
            select(odds_snapshots).where(
                odds_snapshots.c.bookmaker_id == ids["sample_sharp"], odds_snapshots.c.market == "total",
                odds_snapshots.c.selection == "over", odds_snapshots.c.kind != "closing",
                odds_snapshots.c.event_id.in_(sorted(events_)),
            )
        ).mappings().all()  # fmt: skip
        rows = [
            {k: v for k, v in row.items() if k != "id"}
            | {"market": "asian_handicap", "selection": side, "line": line, "price": price, "source": "test"}
            for row in overs
            for side, price in (("home", 1.50), ("away", 2.60))  # line: the home handicap
        ]
        conn.execute(insert(odds_snapshots), rows)


@pytest.mark.parametrize("line", [-0.5, -0.25])
def test_the_live_grid_is_fitted_to_the_sharp_main_handicap_as_the_backtests_is(
    engine: Engine, database_url: str, tmp_path: Path, line: float
) -> None:
    """live.opportunities gives decide the grid of the sharp 1X2, O/U 2.5 and main AH known at the decision instant
    (live.prices.sharp_grid_inputs, the backtest's inputs): an AH quote, half or quarter line, moves exactly its
    events' line prices."""
    settings = live_settings(database_url, tmp_path)
    eve = prepare_store(engine, settings)
    assert _soft_totals(engine) > 0
    promote_strategy(engine, store_strategy(engine, TOTALS).version, reason="test", actor="test")

    def over_probabilities() -> dict[int, float]:
        found = opportunities(engine, settings, FixedClock(eve))
        return {c.event_id: c.probability for c in found.decision.candidates if c.market == "total"}

    before = over_probabilities()
    assert len(before) >= 2, before
    moved = set(sorted(before)[: len(before) // 2])
    _sharp_handicaps(engine, moved, line)
    after = over_probabilities()
    for event_id, p in before.items():
        if event_id in moved:
            assert event_id not in after or abs(after[event_id] - p) > 1e-6, event_id
        else:
            assert after.get(event_id) == pytest.approx(p, abs=1e-12), event_id
