"""One strategy from backtest to live: backtested on the stored data, stored with its lineage, promoted, and then the
live dry run at the same instant on the same store makes the same decisions; promotion and rollback as a stack."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Engine

from betpipe.backtest import UNCAPPED_LIMITS, BacktestSpec, run
from betpipe.betting.strategy_spec import StrategySpec
from betpipe.clock import FixedClock
from betpipe.live.betting_run import betting_run
from betpipe.live.opportunities import live_strategy_spec
from betpipe.registry.strategies import (
    StrategyRegistryError,
    list_strategies,
    live_strategy_record,
    promote_strategy,
    rollback_strategy,
    store_strategy,
)
from pipeline_store import live_settings, prepare_store

STRATEGY = StrategySpec(
    books=("sample_soft",), sharp_book="sample_sharp", staking="flat:1", min_edge=0.0, max_price_age_hours=96.0,
    limits=UNCAPPED_LIMITS,
)  # fmt: skip


def test_backtest_promote_then_live_dry_run_decides_the_same_bets(sqlite_engine: Engine, tmp_path: Path) -> None:
    settings = live_settings(str(sqlite_engine.url), tmp_path)
    eve = prepare_store(sqlite_engine, settings)
    assert live_strategy_spec(settings, sqlite_engine).books == ("sample_soft",)  # nothing promoted: the default

    stored = store_strategy(sqlite_engine, STRATEGY, lineage={"backtest": "test"})
    promote_strategy(sqlite_engine, stored.version, reason="test")
    assert live_strategy_spec(settings, sqlite_engine) == STRATEGY
    live = betting_run(sqlite_engine, settings, FixedClock(eve), dry_run=True)
    decided = live.opportunities.decision.candidates
    assert decided, "the live dry run found nothing to compare"

    seasons = sorted({str(s) for s in _seasons(sqlite_engine)})
    spec = BacktestSpec.of(STRATEGY, ("SAMPLE",), seasons[-1], seasons[-1], evaluation_rows=False)
    assert spec.strategy_spec() == STRATEGY
    backtest = run(spec, engine=sqlite_engine, settings=settings, ledger_path=tmp_path / "bt.sqlite").bets
    at_eve = backtest.filter(
        pl.col("decided_at") <= pl.lit(eve).cast(pl.Datetime("us", "UTC")),
        pl.col("kickoff_utc") > pl.lit(eve).cast(pl.Datetime("us", "UTC")),
    )
    live_rows = sorted(
        (c.event_id, c.selection, round(float(c.price), 4), float(c.stake), c.book, c.decision_time) for c in decided
    )
    backtest_rows = sorted(
        (r["event_id"], r["selection"], round(r["price"], 4), r["stake"], r["book"], r["decided_at"])
        for r in at_eve.iter_rows(named=True)
    )
    assert backtest_rows == live_rows


def _seasons(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [str(r[0]) for r in conn.exec_driver_sql("SELECT name FROM seasons")]


def test_promote_and_rollback_walk_a_stack_back_to_the_default(sqlite_engine: Engine) -> None:
    a = store_strategy(sqlite_engine, STRATEGY, lineage={"seasons": "x"})
    assert store_strategy(sqlite_engine, STRATEGY).id == a.id  # storing again adds nothing
    b = store_strategy(sqlite_engine, StrategySpec(books=("sample_soft",), sharp_book="sample_sharp"))
    assert [s.id for s in list_strategies(sqlite_engine)] == [a.id, b.id]
    assert live_strategy_record(sqlite_engine, "soccer") is None
    promote_strategy(sqlite_engine, str(a.id))
    promote_strategy(sqlite_engine, b.version[:8])
    with pytest.raises(StrategyRegistryError, match="live already"):
        promote_strategy(sqlite_engine, str(b.id))
    assert rollback_strategy(sqlite_engine) == a
    assert live_strategy_record(sqlite_engine, "soccer") == a
    assert rollback_strategy(sqlite_engine) is None  # a replaced nothing: the built-in default is live again
    assert live_strategy_record(sqlite_engine, "soccer") is None
    with pytest.raises(StrategyRegistryError, match="built-in default"):
        rollback_strategy(sqlite_engine)
    with pytest.raises(StrategyRegistryError, match="no stored"):
        promote_strategy(sqlite_engine, "ffffffff")
