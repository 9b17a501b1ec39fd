"""The model of the close as a strategy's fair-probability source (issue 16 item 3): the backtest prices each target
with the walk-forward close forecast (never the pre-match price as a fallback), a store that cannot train it is a
one-line error, existing strategies keep their versions, and one close-model strategy taken through backtest ->
promote -> live dry run decides the same bets (the registered model loaded, its inputs computed from the store).

Real components: a 20-team sample league in SQLite, the feature store, the registry, the backtest and the live run.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Engine

from betpipe.backtest import UNCAPPED_LIMITS, BacktestSpec, run
from betpipe.backtest.checks import BacktestInputError
from betpipe.backtest.close_source import NO_FIT
from betpipe.betting.settlement import EventResult, settle_bets
from betpipe.betting.strategy_spec import DEFAULT_STRATEGY, StrategySpec
from betpipe.clock import FixedClock
from betpipe.db.bulk import as_utc
from betpipe.features.store import build_features
from betpipe.ingest.sample_league import SampleLeagueConfig, ingest_sample
from betpipe.live.betting_run import betting_run
from betpipe.live.close_source import CLOSE_MARKET, train_close_model
from betpipe.live.opportunities import live_strategy_spec
from betpipe.live.prices import next_matchday_eve
from betpipe.monitoring.metrics import update_daily_metrics
from betpipe.monitoring.reference import check_drift
from betpipe.registry import list_versions
from betpipe.registry.strategies import promote_strategy, store_strategy
from pipeline_store import live_settings

LEAGUE = SampleLeagueConfig(n_teams=20, n_seasons=2, n_upcoming_matchdays=2)
CLOSE = StrategySpec(
    source="model", model="close_model", books=("sample_soft",), sharp_book="sample_sharp", staking="flat:1",
    min_edge=0.0, limits=UNCAPPED_LIMITS,
)  # fmt: skip
ONE_FIT = 36_600.0  # refit interval of a century: one fit at the first decision day, the registered model's twin


def _seasons(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(str(r[0]) for r in conn.exec_driver_sql("SELECT name FROM seasons"))


def _first_decision_day(engine: Engine, season: str) -> datetime:
    """Midnight UTC of the first pre-match capture of ``season``: the start of the backtest's one refit block."""
    sql = (
        "SELECT MIN(o.captured_at) FROM odds_snapshots o JOIN events e ON e.id = o.event_id "
        "JOIN seasons s ON s.id = e.season_id WHERE s.name = ? AND o.kind = 'opening'"
    )
    with engine.connect() as conn:
        first = as_utc(datetime.fromisoformat(str(conn.exec_driver_sql(sql, (season,)).scalar_one())))
    return first.replace(hour=0, minute=0, second=0, microsecond=0)


def test_existing_strategies_keep_their_versions() -> None:
    """Fails if adding the close model as a source re-hashed the strategies already stored and promoted."""
    assert DEFAULT_STRATEGY.version == "9636a9ad36864b45"
    assert StrategySpec(source="blend", model="elo_logit").version == "4b5e092602e30549"


def test_a_store_too_small_to_train_the_close_model_is_a_one_line_error(sqlite_engine: Engine, tmp_path: Path) -> None:
    """Fails if the backtest silently falls back to the pre-match price when the close model cannot be trained."""
    settings = live_settings(str(sqlite_engine.url), tmp_path)
    ingest_sample(sqlite_engine, SampleLeagueConfig(n_teams=8, n_seasons=2, n_upcoming_matchdays=0))
    build_features(sqlite_engine, sport="soccer", settings=settings)
    season = _seasons(sqlite_engine)[-1]
    spec = BacktestSpec.of(CLOSE, ("SAMPLE",), season, season, evaluation_rows=False)
    with pytest.raises(BacktestInputError, match=r"close_model needs 300 matches") as error:
        run(spec, engine=sqlite_engine, settings=settings, ledger_path=tmp_path / "bt.sqlite")
    assert "\n" not in str(error.value)


def test_close_model_strategy_from_backtest_to_live_dry_run_decides_the_same_bets(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    settings = live_settings(str(sqlite_engine.url), tmp_path)
    ingest_sample(sqlite_engine, LEAGUE)
    build_features(sqlite_engine, sport="soccer", settings=settings)
    eve = next_matchday_eve(sqlite_engine, "soccer")
    assert eve is not None
    first, last = _seasons(sqlite_engine)

    # Weekly refits over both seasons: the first season's early targets have no 300 labelled closes yet, and are
    # counted as unpriced, not priced by the pre-match prior.
    weekly = BacktestSpec.of(CLOSE, ("SAMPLE",), first, last, evaluation_rows=False, refit_days=7.0)
    walked = run(weekly, engine=sqlite_engine, settings=settings, ledger_path=tmp_path / "weekly.sqlite")
    assert walked.no_bet.get(NO_FIT, 0) > 0
    assert walked.refits > 10
    assert walked.bets.height > 0
    market = run(
        BacktestSpec.of(StrategySpec(**{**CLOSE.to_json(), "source": "market"}), ("SAMPLE",), first, last,
                        evaluation_rows=False),
        engine=sqlite_engine, settings=settings, ledger_path=tmp_path / "market.sqlite",
    ).bets  # fmt: skip
    fair = walked.bets.join(market, on=["event_id", "selection"], how="inner", suffix="_market")
    assert fair.height > 0
    assert (fair["probability"] - fair["probability_market"]).abs().max() > 1e-6  # not the pre-match price

    # One fit at the last season's first decision day, the same cut-off the registered model is trained with.
    spec = BacktestSpec.of(CLOSE, ("SAMPLE",), last, last, evaluation_rows=False, refit_days=ONE_FIT)
    backtest = run(spec, engine=sqlite_engine, settings=settings, ledger_path=tmp_path / "bt.sqlite").bets
    version = train_close_model(sqlite_engine, settings, until=_first_decision_day(sqlite_engine, last))
    assert [v.id for v in list_versions(sqlite_engine, sport="soccer", market=CLOSE_MARKET)] == [version.id]

    stored = store_strategy(sqlite_engine, CLOSE, lineage={"backtest": spec.run_id})
    promote_strategy(sqlite_engine, stored.version, reason="test")
    assert live_strategy_spec(settings, sqlite_engine) == CLOSE
    live = betting_run(sqlite_engine, settings, FixedClock(eve), dry_run=True)
    decided = live.opportunities.decision.candidates
    assert decided, f"the live dry run found nothing to compare: {live.opportunities.reason}"
    assert {c.model_version for c in decided} == {version.id}

    at_eve = backtest.filter(
        pl.col("decided_at") <= pl.lit(eve).cast(pl.Datetime("us", "UTC")),
        pl.col("kickoff_utc") > pl.lit(eve).cast(pl.Datetime("us", "UTC")),
    )
    live_rows = sorted(
        (c.event_id, c.selection, round(float(c.price), 4), float(c.stake), c.book, round(c.probability, 9))
        for c in decided
    )
    backtest_rows = sorted(
        (r["event_id"], r["selection"], round(r["price"], 4), r["stake"], r["book"], round(r["probability"], 9))
        for r in at_eve.iter_rows(named=True)
    )
    assert backtest_rows == live_rows


def test_the_live_close_model_is_monitored_drift_on_its_own_inputs_and_its_clv_in_the_daily_metrics(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    """Fails if drift of the close model reads the feature store's f_* columns (not its inputs) or finds no live rows,
    or if its bets' CLV does not reach the daily metrics under its version."""
    settings = live_settings(str(sqlite_engine.url), tmp_path)
    ingest_sample(sqlite_engine, LEAGUE)
    build_features(sqlite_engine, sport="soccer", settings=settings)
    eve = next_matchday_eve(sqlite_engine, "soccer")
    assert eve is not None
    version = train_close_model(sqlite_engine, settings, until=eve)
    promote_strategy(sqlite_engine, store_strategy(sqlite_engine, CLOSE).version, reason="test")
    run_ = betting_run(sqlite_engine, settings, FixedClock(eve))
    placed = [c for c, r in zip(run_.opportunities.decision.candidates, run_.placements, strict=True) if r.placed]
    assert placed, run_.opportunities.reason

    later = FixedClock(eve + timedelta(days=1))
    (report,) = check_drift(sqlite_engine, settings, clock=later, versions=[version])
    assert report.live_rows == len({c.event_id for c in placed})
    features = {r.feature for r in report.results}
    assert features
    assert all(f.startswith("f_close_") for f in features)
    assert {"f_close_d_soft_home", "f_close_elo_home", "f_close_log_hours"} <= features

    results = {c.event_id: EventResult("finished", 1, 0) for c in placed}
    closing = {(c.event_id, "1x2", c.selection, 0.0): 0.5 for c in placed}
    settle_bets(sqlite_engine, account=settings.pipeline.account, results=results, closing=closing, clock=later)
    _, metrics = update_daily_metrics(sqlite_engine, accounts=[settings.pipeline.account], lookback_days=7, clock=later)
    mine = metrics.filter(pl.col("version_id") == version.id)
    assert int(mine["bets"].sum()) == len(placed)
    expected = sum(float(c.price) * 0.5 - 1.0 for c in placed) / len(placed)
    got = (mine["mean_clv"] * mine["bets"]).sum() / mine["bets"].sum()
    assert got == pytest.approx(expected, rel=1e-9)


def test_without_a_registered_close_model_live_says_so_in_one_line_and_train_refuses_a_small_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fails if the live run falls back to another model (or the pre-match price) when no close model is registered,
    or if `betpipe close-model train` on too little data prints a traceback instead of one line."""
    from typer.testing import CliRunner

    from betpipe.cli import app
    from betpipe.db import make_engine, upgrade

    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    monkeypatch.setenv("BETPIPE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("BETPIPE_DATABASE_URL", url)
    monkeypatch.delenv("BETPIPE_CONFIG", raising=False)
    engine = make_engine(url)
    upgrade(engine)
    settings = live_settings(url, tmp_path)
    ingest_sample(engine, SampleLeagueConfig(n_teams=8, n_seasons=2, n_upcoming_matchdays=2))
    build_features(engine, sport="soccer", settings=settings)
    eve = next_matchday_eve(engine, "soccer")
    assert eve is not None
    promote_strategy(engine, store_strategy(engine, CLOSE).version, reason="test")
    found = betting_run(engine, settings, FixedClock(eve), dry_run=True).opportunities
    engine.dispose()
    assert not found.decision.candidates
    assert not found.can_bet
    assert found.reason.startswith("no registered close model")
    assert "\n" not in found.reason

    result = CliRunner().invoke(app, ["close-model", "train"])
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert "need 300" in lines[0]
