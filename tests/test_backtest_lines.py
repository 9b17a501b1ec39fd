"""The same line-market strategy in the backtest (issue 18 item 3): a strategy listing 1X2 and O/U runs through the
walk-forward with ``decide``'s line half, its O/U bets are graded as settlement grades them, carry CLV against the
sharp close of their line, and the report's per-market table splits CLV by market."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import polars as pl
from sqlalchemy import insert, select, text

from betpipe.backtest import report_tables as tables
from betpipe.backtest.simulate import run
from betpipe.backtest.spec import UNCAPPED_LIMITS, BacktestSpec
from betpipe.config import Settings
from betpipe.db import make_engine, upgrade
from betpipe.db.schema import bookmakers, odds_snapshots
from betpipe.ingest.sample_league import ingest_sample
from betpipe.ingest.sample_league_model import SampleLeagueConfig
from betpipe.sports import Grade, grade_selection, profit_per_unit


def _soft_totals(store: object) -> None:
    """The sample's soft book quotes no totals: give it the sharp book's pre-match O/U, over 8 % longer and under 8 %
    shorter, so the grid finds value on one side."""
    with store.begin() as conn:  # type: ignore[attr-defined]
        ids = dict(conn.execute(select(bookmakers.c.key, bookmakers.c.id)).all())
        sharp = conn.execute(
            select(odds_snapshots).where(
                odds_snapshots.c.bookmaker_id == ids["sample_sharp"], odds_snapshots.c.market == "total",
                odds_snapshots.c.kind != "closing",
            )
        ).mappings().all()  # fmt: skip
        conn.execute(
            insert(odds_snapshots),
            [
                {
                    **{k: v for k, v in row.items() if k != "id"},
                    "bookmaker_id": ids["sample_soft"],
                    "price": round(row["price"] * (1.08 if row["selection"] == "over" else 0.92), 2),
                    "source": "test",
                }
                for row in sharp
            ],
        )


def test_a_totals_strategy_backtests_with_the_live_code_and_reports_clv_per_market(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'store.sqlite'}")
    store = make_engine(settings.effective_database_url)
    upgrade(store)
    ingest_sample(store, SampleLeagueConfig(n_teams=10, n_seasons=2, n_upcoming_matchdays=0))
    _soft_totals(store)
    with store.connect() as conn:
        season = sorted(str(r[0]) for r in conn.execute(text("SELECT name FROM seasons")))[-1]
        scores = {
            int(e): (int(h), int(a))
            for e, h, a in conn.execute(text("SELECT event_id, home_score, away_score FROM results"))
        }
    spec = BacktestSpec(
        competitions=("SAMPLE",), first_season=season, last_season=season, books=("sample_soft",),
        sharp_book="sample_sharp", strategy="market", staking="flat:1", min_edge=0.0, markets=("1x2", "total"),
        limits=UNCAPPED_LIMITS,
    )  # fmt: skip
    result = run(spec, engine=store, settings=settings, ledger_path=tmp_path / "ledger.sqlite")
    store.dispose()
    bets = result.bets.filter(pl.col("state") != "rejected")
    totals = bets.filter(pl.col("market") == "total")
    assert totals.height
    assert bets.filter(pl.col("market") == "1x2").height
    assert set(totals.get_column("line").to_list()) == {2.5}
    assert (totals.get_column("decided_at") < totals.get_column("kickoff_utc")).all()
    for row in totals.iter_rows(named=True):
        grade = grade_selection("total", row["selection"], 2.5, *scores[row["event_id"]])
        assert row["pnl"] == float(profit_per_unit(grade, Decimal(str(row["price"]))))
        assert row["clv"] is not None
        assert row["clv_shin"] is None  # the Shin CLV is against the 1X2 close: not this line's
        assert grade is not Grade.VOID
    per_market = tables.breakdown(bets, ["market"], spec=spec.to_json())
    assert set(per_market.get_column("market").to_list()) == {"1x2", "total"}
    assert per_market.filter(pl.col("market") == "total").get_column("bets").item() == totals.height


def test_the_reports_verdict_names_the_clv_of_each_market_only_when_there_are_several() -> None:
    row = {"stake": 1.0, "state": "won", "settled_at": "2024-01-01T00:00:00Z"}
    bets = pl.DataFrame(
        [
            {**row, "market": "1x2", "pnl": 1.0, "clv": 0.04},
            {**row, "market": "1x2", "pnl": -1.0, "clv": 0.02},
            {**row, "market": "total", "pnl": 1.0, "clv": -0.01},
        ]
    ).with_columns(pl.col("settled_at").str.to_datetime(time_zone="UTC"))
    sentence = tables.market_clv_sentence(bets)
    assert sentence.startswith(" Per market, CLV 1x2 +3.00")
    assert "(2 bets); total -1.00" in sentence
    assert tables.market_clv_sentence(bets.filter(pl.col("market") == "1x2")) == ""
    assert tables.market_clv_sentence(bets.drop("market")) == ""


def test_the_runner_keeps_each_bets_market_and_line_only_where_the_run_recorded_them() -> None:
    from betpipe.backtest.report import BETS_SCHEMA
    from betpipe.backtest.runner import bets_frame

    at = "2022-01-01T12:00:00.000000Z"
    row: dict[str, object] = {name: at if isinstance(t, pl.Datetime) else None for name, t in BETS_SCHEMA.items()}
    row |= {"bet_id": 1, "event_id": 2, "selection": "over", "state": "won", "reason": None, "season": "2021-2022"}
    assert "market" not in bets_frame([row]).columns
    kept = bets_frame([row | {"market": "total", "line": 2.5}])
    assert kept.select("market", "line").rows() == [("total", 2.5)]
