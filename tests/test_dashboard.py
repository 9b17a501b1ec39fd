"""The Streamlit dashboard, page by page, through Streamlit's AppTest: on an empty store every page says so in words,
on a store with bets (placed and settled through the ledger API), metrics, alerts and job runs every page shows the
planted figures; and the edge cases (one day, nothing settled, a NULL score, a missing CLV) read as sentences.

Runs on SQLite and, with BETPIPE_TEST_DATABASE_URL, on PostgreSQL. The app reads the store named by
BETPIPE_DATABASE_URL, exactly as `betpipe dashboard` starts it.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Engine, insert, text
from sqlalchemy.exc import OperationalError
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from betpipe.betting import EventResult, PaperBook, RiskLimits, halt_account, place_bets, settle_bets
from betpipe.cli import app as cli_app
from betpipe.clock import FixedClock
from betpipe.db import make_engine, upgrade
from betpipe.db.schema import ingest_runs
from betpipe.db.schema_jobs import job_runs
from betpipe.monitoring import AlertSpec, LogChannel, Severity, raise_alerts, update_daily_metrics
from betpipe.monitoring import dashboard_data as data
from betpipe.monitoring.dashboard import APP_PATH
from betpipe.monitoring.dashboard.common import ACCOUNT_ENV, LEDGER_URLS_ENV
from fakes.betting import DECIDED, KICKOFF, candidate
from fakes.monitoring_data import NOW, seed_events, seed_model, seed_predictions

PAGES = ("model_health.py", "betting.py", "risk.py", "system.py")
LIMITS = RiskLimits()


@pytest.fixture
def store(database_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Engine:
    """The migrated store of this test, named to the app as `betpipe dashboard` would."""
    monkeypatch.chdir(tmp_path)  # no betpipe.toml of the repository's working directory leaks in
    monkeypatch.setenv("BETPIPE_DATABASE_URL", database_url)
    monkeypatch.delenv(LEDGER_URLS_ENV, raising=False)
    monkeypatch.delenv(ACCOUNT_ENV, raising=False)
    return engine


def page(name: str) -> AppTest:
    """The app as a browser would get it: the entry runs, navigation switches to ``name``, the page renders."""
    at = AppTest.from_file(str(APP_PATH), default_timeout=60)
    at.run()
    if name != PAGES[0]:
        at.switch_page(name)
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    unreadable = [e.value for e in at.error if str(e.value).startswith("Cannot")]
    assert not unreadable
    return at


def texts(at: AppTest) -> str:
    parts = [e.value for kind in (at.info, at.warning, at.success, at.error, at.caption) for e in kind]
    return "\n".join(str(p) for p in parts)


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def bet_on(engine: Engine, event_ids: list[int], *, competition: str = "E0", kickoff_days: int = 0) -> None:
    kickoff = KICKOFF + timedelta(days=kickoff_days)
    decided = DECIDED + timedelta(days=kickoff_days)
    candidates = [
        candidate(event_id, competition=competition, kickoff=kickoff, decision_time=decided) for event_id in event_ids
    ]
    placed = place_bets(engine, candidates, account="paper", book=PaperBook(), clock=FixedClock(decided), limits=LIMITS)
    assert all(r.placed for r in placed)


def refuse(engine: Engine, event_id: int, *, kickoff_days: int, selection: str = "home") -> None:
    kickoff, decided = KICKOFF + timedelta(days=kickoff_days), DECIDED + timedelta(days=kickoff_days)
    bet = candidate(event_id, selection=selection, kickoff=kickoff, decision_time=decided)
    (result,) = place_bets(engine, [bet], account="paper", book=PaperBook(), clock=FixedClock(decided), limits=LIMITS)
    assert result.state == "rejected"


def settle(engine: Engine, scores: dict[int, tuple[int, int]], *, day: int, closing: float | None = 0.5) -> None:
    results = {e: EventResult("finished", h, a) for e, (h, a) in scores.items()}
    fair = {} if closing is None else {(e, "1x2", "home", 0.0): closing for e in scores}
    settle_bets(
        engine,
        account="paper",
        results=results,
        closing=fair,
        clock=FixedClock(KICKOFF + timedelta(days=day, hours=3)),
    )


def seed_everything(engine: Engine) -> None:
    """Two settlement days of bets in two competitions (one without a closing price), one open bet, a halt, scored
    predictions of a champion and a challenger (one day without a result), an alert, a failed job and an ingest."""
    bet_on(engine, [1, 2, 3], competition="E0")
    bet_on(engine, [4, 5], competition="SP1")
    settle(engine, {1: (2, 0), 2: (0, 1), 3: (1, 1), 4: (3, 1)}, day=0)
    settle(engine, {5: (0, 2)}, day=0, closing=None)  # no closing price: CLV unknown
    bet_on(engine, [6, 7], competition="E0", kickoff_days=7)
    bet_on(engine, [8], competition="E0", kickoff_days=8)  # stays open
    refuse(engine, 8, kickoff_days=8, selection="draw")  # a second bet on event 8: the event control refuses it
    settle(engine, {6: (1, 0), 7: (0, 0)}, day=7)
    halt_account(engine, "paper", reason="planted halt", actor="test", clock=FixedClock(NOW))
    refuse(engine, 9, kickoff_days=9)  # the kill switch refuses everything

    champion = seed_model(engine, version=1, alias="champion")
    challenger = seed_model(engine, version=2, alias="challenger")
    days = [NOW - timedelta(days=d) for d in (3, 2)]
    played = seed_events(engine, [d for d in days for _ in range(20)])
    pending = seed_events(engine, [NOW - timedelta(days=1)] * 5, settled=False)
    for version, seed in ((champion, 1), (challenger, 2)):
        seed_predictions(engine, version, played + pending, seed=seed)
    update_daily_metrics(engine, accounts=["paper"], lookback_days=30, clock=FixedClock(NOW))

    spec = AlertSpec("loss_streak", "loss_streak:paper", Severity.WARNING, "Planted loss streak", "10 bets lost")
    raise_alerts(engine, [spec], channels=[LogChannel()], window=timedelta(hours=24), clock=FixedClock(NOW))
    with engine.begin() as conn:
        conn.execute(
            insert(job_runs).values(job="ingest", started_at=NOW, finished_at=NOW, status="failed", error="boom")
        )
        conn.execute(
            insert(ingest_runs).values(
                source="football-data", locator="E0.csv", started_at=NOW, finished_at=NOW, status="ok"
            )
        )


@pytest.mark.parametrize("name", PAGES)
def test_every_page_of_an_empty_store_says_there_is_no_data_yet(store: Engine, name: str) -> None:
    said = texts(page(name))
    expected = {
        "model_health.py": ["No model metrics yet", "No champion or challenger", "Nothing to calibrate yet"],
        "betting.py": ["No bets yet in account `paper`"],
        "risk.py": ["No account `paper`"],
        "system.py": ["Nothing ingested yet", "No scheduled job has run yet", "No alert has been raised"],
    }[name]
    for sentence in expected:
        assert sentence in said


def test_pages_show_the_planted_figures(store: Engine) -> None:
    seed_everything(store)

    health = page("model_health.py")
    shown = metrics(health)
    assert shown["Predictions"] == str(2 * 45)  # two versions x (40 played + 5 pending)
    assert shown["Settled events scored"] == str(2 * 40)
    said = texts(health)
    assert "have predictions but no settled event" in said  # the pending day: NULL score, drawn as a gap
    assert "Served predictions with a result" in said  # calibration of served predictions, not the bets
    (aliases,) = [d.value for d in health.dataframe]
    assert sorted(aliases["alias"]) == ["challenger", "champion"]

    betting = page("betting.py")
    shown = metrics(betting)
    # 1x2 home at 2.10, stake 10: events 1, 4, 5 (away win? no: 0-2 lost), 6 won -> 3 wins x 11.00, 4 losses x 10.00
    assert shown["Settled bets"] == "7"
    assert shown["Open bets"] == "1"
    assert shown["P&L (EUR)"] == "-7.00"
    assert shown["Mean CLV"] == "+5.00 %"  # 2.10 x 0.5 - 1 for the six bets with a closing price
    assert "1 settled bet(s) have no CLV" in texts(betting)
    by_competition = {row["competition"]: row for row in betting.dataframe[0].value.to_dict("records")}
    assert by_competition["SP1"]["bets"] == 2
    assert by_competition["SP1"]["hit_rate"] == pytest.approx(50.0)  # shown in %

    risk = page("risk.py")
    assert "Account `paper` is HALTED: planted halt." in [e.value for e in risk.error]
    assert metrics(risk)["Open exposure"] == "10.00 EUR"  # the one open bet
    assert "0 of 2 settlement day(s) lost 50.00 EUR or more (the dashed line)." in texts(risk)

    system = page("system.py")
    said = texts(system)
    assert "1 failed run(s) among the last 1." in said
    assert "1 of 1 source(s) are stale" in said  # the planted ingest is from 2025, long before today
    titles = [t for d in system.dataframe for t in d.value.get("title", [])]
    assert titles == ["Planted loss streak"]


def test_one_day_of_bets_and_metrics_is_a_sentence_not_a_curve(store: Engine) -> None:
    bet_on(store, [1, 2])
    settle(store, {1: (1, 0), 2: (0, 1)}, day=0)
    version = seed_model(store)
    events = seed_events(store, [NOW] * 30)
    seed_predictions(store, version, events)
    update_daily_metrics(store, accounts=["paper"], lookback_days=3, clock=FixedClock(NOW))
    assert "Only one settlement day so far" in texts(page("betting.py"))
    assert "Only one day has scores so far" in texts(page("model_health.py"))
    assert "0 of 1 settlement day(s) lost 50.00 EUR or more (the dashed line)." in texts(page("risk.py"))


def test_a_model_with_no_settled_events_says_nothing_is_scored_yet(store: Engine) -> None:
    version = seed_model(store)
    events = seed_events(store, [NOW - timedelta(days=d) for d in range(3)], settled=False)
    seed_predictions(store, version, events)
    update_daily_metrics(store, accounts=["paper"], lookback_days=5, clock=FixedClock(NOW))
    at = page("model_health.py")
    said = texts(at)
    assert "none of their events is settled yet" in said
    assert "No settled event is scored for these versions yet" in said
    assert "Nothing to calibrate yet" in said


def test_a_backtest_ledger_file_is_read_with_every_backtest_account(
    store: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = make_engine(f"sqlite:///{tmp_path / 'run.sqlite'}")
    upgrade(ledger)
    for run, event_ids in (("backtest:a", [1, 2]), ("backtest:b", [3])):
        book = PaperBook()
        bets = [candidate(e) for e in event_ids]
        place_bets(ledger, bets, account=run, book=book, clock=FixedClock(DECIDED), limits=LIMITS)
    ledger.dispose()
    monkeypatch.setenv(LEDGER_URLS_ENV, f"sqlite:///{tmp_path / 'run.sqlite'}")
    assert metrics(page("betting.py"))["Open bets"] == "3"
    risk = page("risk.py")
    assert metrics(risk)["Open exposure"] == "30.00 EUR"
    assert "2 accounts; the limits apply to each account on its own." in texts(risk)
    monkeypatch.setenv(ACCOUNT_ENV, "backtest:b")
    assert metrics(page("betting.py"))["Open bets"] == "1"


def test_a_store_without_the_schema_is_one_sentence_per_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty.sqlite"
    blank = make_engine(f"sqlite:///{empty}")
    with blank.connect():  # the file exists, with no table in it
        pass
    blank.dispose()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BETPIPE_DATABASE_URL", f"sqlite:///{empty}")
    monkeypatch.delenv(LEDGER_URLS_ENV, raising=False)
    monkeypatch.delenv(ACCOUNT_ENV, raising=False)
    at = AppTest.from_file(str(APP_PATH), default_timeout=60)
    at.run()
    assert not at.exception
    assert at.error
    assert all("Has `betpipe db upgrade` been run?" in e.value for e in at.error)


def test_the_dashboard_engine_cannot_write(sqlite_engine: Engine, tmp_path: Path) -> None:
    read_only = data.read_only_engine(f"sqlite:///{tmp_path / 'betpipe.sqlite'}")
    with pytest.raises(OperationalError, match="readonly"), read_only.begin() as conn:
        conn.execute(text("DELETE FROM bets"))
    with pytest.raises(FileNotFoundError):
        data.read_only_engine(f"sqlite:///{tmp_path / 'missing.sqlite'}")
    assert not (tmp_path / "missing.sqlite").exists()


def test_breakdown_and_curves_follow_the_ledger_arithmetic() -> None:
    frame = pl.DataFrame(
        {
            "competition": ["E0", "E0", "E0", "D1"],
            "market": ["1x2"] * 4,
            "state": ["won", "lost", "void", "placed"],
            "stake": [10.0, 10.0, 10.0, 5.0],
            "stake_cents": [1000, 1000, 1000, 500],
            "pnl": [11.0, -10.0, 0.0, None],
            "clv": [0.1, None, 0.0, None],
            "edge": [0.05, 0.02, 0.03, 0.04],
            "placed_at": [NOW, NOW, NOW + timedelta(days=1), NOW + timedelta(days=1)],
            "settled_at": [NOW + timedelta(hours=5), NOW + timedelta(days=2), NOW + timedelta(days=2), None],
        }
    ).with_columns((pl.col("placed_at") + timedelta(hours=1)).alias("kickoff"))
    (e0,) = data.breakdown(frame, "competition").to_dicts()  # the open D1 bet is not settled: no row
    assert (e0["bets"], e0["turnover"], e0["pnl"]) == (3, 30.0, 1.0)
    assert e0["hit_rate"] == pytest.approx(0.5)  # the void bet is neither a win nor a loss
    assert e0["mean_clv"] == pytest.approx(0.05)
    curve = data.pnl_curve(frame)
    assert curve["cumulative_pnl"].to_list() == [11.0, 1.0]
    assert curve["cumulative_clv"].to_list() == pytest.approx([1.0, 1.0])
    assert data.exposure_curve(frame)["open_exposure"].to_list() == [20.0, 25.0, 25.0]  # day 2 opens at 25


def test_cli_refuses_a_missing_ledger_file_in_one_line(store: Engine, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli_app, ["dashboard", "--ledger-url", str(tmp_path / "nope.sqlite")])
    assert result.exit_code == 1
    assert "no database file at" in result.output
    assert "Traceback" not in result.output
