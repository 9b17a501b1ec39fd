"""`betpipe bets`, `betpipe risk` and `betpipe bankroll` through the real CLI on a configured SQLite store."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert
from typer.testing import CliRunner

from betpipe.betting import PaperBook, RiskLimits, get_bet, place_bets
from betpipe.cli import app
from betpipe.clock import FixedClock
from betpipe.config import load_settings
from betpipe.db import make_engine
from betpipe.db.schema import bookmakers, competitions, events, odds_snapshots, results, teams
from fakes.betting import DECIDED, KICKOFF, candidate

runner = CliRunner()


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """A migrated store with one finished event (2-1, Pinnacle close 2.0/4.0/4.0) and two paper bets on it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BETPIPE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("BETPIPE_DATABASE_URL", raising=False)
    upgraded = runner.invoke(app, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    engine = make_engine(load_settings().effective_database_url)
    with engine.begin() as conn:
        conn.execute(insert(competitions).values(id=1, sport="soccer", code="E0", name="Premier League"))
        conn.execute(insert(teams), [{"id": i, "sport": "soccer", "name": f"T{i}"} for i in (1, 2)])
        conn.execute(
            insert(events).values(
                id=1, natural_key="a", sport="soccer", competition_id=1, kickoff_utc=KICKOFF, kickoff_time_known=True,
                home_team_id=1, away_team_id=2, status="finished", neutral_site=False, source="test",
            )
        )  # fmt: skip
        conn.execute(insert(results).values(event_id=1, home_score=2, away_score=1, source="test"))
        conn.execute(insert(bookmakers).values(id=1, key="pinnacle", name="Pinnacle", is_aggregate=False))
        conn.execute(
            insert(odds_snapshots),
            [
                {"event_id": 1, "bookmaker_id": 1, "market": "1x2", "selection": s, "line": 0.0, "price": p}
                | {"kind": "closing", "captured_at": KICKOFF, "source": "test"}
                for s, p in (("home", 2.0), ("draw", 4.0), ("away", 4.0))
            ],
        )
    limits = RiskLimits.from_settings(load_settings())
    bets = [candidate(1, price=Decimal("2.20")), candidate(2, selection="away", price=Decimal("4.50"))]
    placed = place_bets(engine, bets, account="paper", book=PaperBook(), clock=FixedClock(DECIDED), limits=limits)
    assert [p.state for p in placed] == ["placed", "placed"]
    yield engine
    engine.dispose()


def _run(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_bets_list_show_and_settle_from_the_store(store: Engine) -> None:
    listed = _run("bets", "list", "--state", "open")
    assert "2 bet(s)" in listed
    assert "placed" in listed
    shown = _run("bets", "show", "1")
    assert "proposed" in shown
    assert "placed" in shown
    assert "E0" in shown
    settled = _run("bets", "settle")
    assert "settled 1 bet(s) of 'paper': 1 won; P&L 12.00" in settled
    assert "1 no result yet" in settled  # event 2 has no result: the bet stays open
    bet = get_bet(store, 1)
    assert bet.state == "won"
    assert bet.clv == pytest.approx(0.10)
    assert "+10.00 %" in _run("bets", "list", "--state", "won")
    assert "12.00" in _run("bankroll")  # 1000.00 + 12.00 settled; 10.00 still open


def test_halt_status_resume_and_their_audit_trail(store: Engine) -> None:
    assert "halted: bad feed" in _run("risk", "halt", "--reason", "bad feed")
    status = _run("risk", "status")
    assert "HALTED" in status
    assert "bad feed" in status
    refused = place_bets(
        store,
        [candidate(3)],
        account="paper",
        book=PaperBook(),
        clock=FixedClock(DECIDED),
        limits=RiskLimits.from_settings(load_settings()),
    )
    assert refused[0].control == "halt"
    assert "resumed" in _run("risk", "resume", "--reason", "feed fixed")
    status = _run("risk", "status")
    assert "active" in status
    assert "resume by" in status


def test_expected_failures_are_one_clear_line(store: Engine) -> None:
    missing = runner.invoke(app, ["bets", "show", "99"])
    assert missing.exit_code == 1
    assert "no bet with id 99" in missing.output
    not_halted = runner.invoke(app, ["risk", "resume", "--reason", "why not"])
    assert not_halted.exit_code == 1
    assert "is not halted" in not_halted.output
    no_reason = runner.invoke(app, ["risk", "halt"])
    assert no_reason.exit_code == 2


def test_bankroll_shows_starting_settled_and_open_money(store: Engine) -> None:
    shown = _run("bankroll", "--account", "paper")
    assert "1000.00" in shown
    assert "20.00" in shown  # two open stakes of 10.00
    assert "980.00" in shown  # available
