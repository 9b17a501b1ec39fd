"""The CLI at a 100-column terminal: every table fits, bets list names the match and its kickoff, CLV has one unit.

Commands run as a user runs them (a subprocess with ``COLUMNS=100``), on a small store with long team names, two
bets (one settled, with CLV) and a registered model version with many metrics.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Self

import pytest
from sqlalchemy import Engine, insert
from typer.testing import CliRunner

from betpipe.betting import PaperBook, RiskLimits, list_bets, place_bets
from betpipe.cli import app
from betpipe.cli._inputs import STATE_FILTERS
from betpipe.clock import FixedClock
from betpipe.config import load_settings
from betpipe.db import make_engine
from betpipe.db.schema import bookmakers, competitions, events, odds_snapshots, results, teams
from betpipe.db.schema_betting import BET_STATES
from betpipe.ledger_view import bet_lines, sqlite_bet_lines
from betpipe.registry import TrainingLineage, register_model
from fakes.betting import DECIDED, KICKOFF, candidate

WIDTH = 100
HOME, AWAY = "Wolverhampton Wanderers", "Brighton & Hove Albion"


class _ConstantModel:
    """Just enough of a model for the registry: persisted as one JSON file."""

    def fit(self, X: Any, y: Any) -> Self:
        return self

    def predict_proba(self, X: Any) -> Any:
        raise NotImplementedError

    def get_params(self) -> dict[str, Any]:
        return {"constant": 1}

    def save_artifact(self, directory: Path) -> None:
        (directory / "params.json").write_text(json.dumps(self.get_params()))

    @classmethod
    def load_artifact(cls, directory: Path) -> Self:
        return cls()


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Engine, dict[str, str]]]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BETPIPE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("BETPIPE_DATABASE_URL", raising=False)
    assert CliRunner().invoke(app, ["db", "upgrade"]).exit_code == 0
    settings = load_settings()
    engine = make_engine(settings.effective_database_url)
    with engine.begin() as conn:
        conn.execute(insert(competitions).values(id=1, sport="soccer", code="E0", name="Premier League"))
        conn.execute(
            insert(teams), [{"id": 1, "sport": "soccer", "name": HOME}, {"id": 2, "sport": "soccer", "name": AWAY}]
        )
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
    limits = RiskLimits.from_settings(settings)
    bets = [candidate(1, price=Decimal("2.20")), candidate(1, selection="away", price=Decimal("4.50"))]
    place_bets(engine, bets, account="paper", book=PaperBook(), clock=FixedClock(DECIDED), limits=limits)
    lineage = TrainingLineage(
        start=datetime(2015, 8, 1, tzinfo=UTC), end=datetime(2022, 5, 31, tzinfo=UTC), row_count=3040,
        data_hash="sha256:abc", feature_set_versions={"elo": "e1"}, seasons=("2015-2016", "2021-2022"),
    )  # fmt: skip
    metrics = dict.fromkeys(("log_loss", "brier", "rps", "ece", "log_loss_market", "rps_market"), 0.123456)
    register_model(
        engine, _ConstantModel(), model_type="constant_softmax_blend", sport="soccer", market="1x2",
        training=lineage, metrics=metrics, settings=settings,
    )  # fmt: skip
    env = {**os.environ, "COLUMNS": str(WIDTH), "BETPIPE_DATA_DIR": str(tmp_path / "data")}
    yield engine, env
    engine.dispose()


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "betpipe", *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _assert_fits(output: str) -> None:
    too_wide = [line for line in output.splitlines() if len(line) > WIDTH]
    assert not too_wide, "\n".join(too_wide)


def test_every_table_fits_100_columns(store: tuple[Engine, dict[str, str]]) -> None:
    _, env = store
    _cli(env, "bets", "settle")
    for command in (
        ("bets", "list"),
        ("bets", "show", "1"),
        ("bankroll",),
        ("risk", "status"),
        ("models", "list"),
        ("data", "summary"),
        ("--help",),
        ("train", "--help"),
    ):
        output = _cli(env, *command)
        assert output.strip(), command
        _assert_fits(output)


def test_bets_list_shows_kickoff_and_teams_and_clv_in_the_same_unit_as_bets_show(
    store: tuple[Engine, dict[str, str]],
) -> None:
    _, env = store
    _cli(env, "bets", "settle")
    listed = _cli(env, "bets", "list")
    assert KICKOFF.strftime("%Y-%m-%d %H:%M") in listed
    assert "Wolverhampton" in listed
    assert "Brighton" in listed
    assert "+10.00 %" in listed  # home at 2.20 against a margin-free close of 2.0
    shown = _cli(env, "bets", "show", "1")
    assert re.search(r"clv\s+│\s+\+10\.00 %", shown), shown
    assert "+0.1000" not in shown


def test_bets_of_several_accounts_list_in_full_at_100_columns(store: tuple[Engine, dict[str, str]]) -> None:
    """An account column ("backtest:<run id>") squeezed the match out of 100 columns and cut price and stake: each
    account gets its own table, every cell in full."""
    engine, env = store
    settings = load_settings()
    other = "backtest:20261206-grid-strategy-17"
    bet = candidate(1, selection="draw", price=Decimal("3.75"))
    place_bets(
        engine,
        [bet],
        account=other,
        book=PaperBook(),
        clock=FixedClock(DECIDED),
        limits=RiskLimits.from_settings(settings),
    )
    listed = _cli(env, "bets", "list")
    _assert_fits(listed)
    assert "3 bet(s) in 2 accounts" in listed
    assert "2 bet(s) of 'paper'" in listed
    assert f"1 bet(s) of '{other}'" in listed
    for cell in ("3.75", "2.2", "4.5", KICKOFF.strftime("%Y-%m-%d %H:%M"), "Wolverhampton"):
        assert cell in listed, cell
    assert _cli(env, "bets", "list", "--account", other).count("3.75") == 1


def test_the_light_ledger_view_agrees_with_the_ledger(store: tuple[Engine, dict[str, str]]) -> None:
    """bets list reads the ledger without betpipe.betting; its filters and money must be the ledger's own."""
    engine, env = store
    _cli(env, "bets", "settle")
    plain = sqlite3.connect(str(engine.url.database))  # what `bets list` reads a SQLite store with
    for state in (None, *STATE_FILTERS):
        records = list_bets(engine, state=state, limit=None)
        lines = bet_lines(engine, state=state, limit=None)
        assert [(r.id, r.price, r.stake, r.pnl, r.clv, r.kickoff) for r in records] == [
            (b.id, b.price, b.stake, b.pnl, b.clv, b.kickoff) for b in lines
        ]
        assert sqlite_bet_lines(plain, state=state, limit=None) == lines
    assert {line.home for line in bet_lines(engine)} == {HOME}
    assert sqlite_bet_lines(plain, account="paper", limit=1) == bet_lines(engine, account="paper", limit=1)
    assert len(bet_lines(engine, account="paper")) == 2
    assert sqlite_bet_lines(plain, account="nobody") == []
    plain.close()


def test_the_state_filters_spelt_out_for_start_up_are_the_ledger_states() -> None:
    assert ("open", "settled", *BET_STATES) == STATE_FILTERS


def test_piped_width_is_decided_at_each_print_not_frozen_by_the_first_import(monkeypatch: pytest.MonkeyPatch) -> None:
    """In the full suite a `train --help` run with COLUMNS=400 imported the CLI first; the console then fell back to
    80 columns for every later piped command and cut their tables (model names, alert deliveries)."""
    import io

    from betpipe.cli._common import PIPED_WIDTH, _OutputConsole

    monkeypatch.setenv("COLUMNS", "400")
    console = _OutputConsole(file=io.StringIO())
    assert console.width == 400
    monkeypatch.delenv("COLUMNS")
    assert console.width == PIPED_WIDTH
    monkeypatch.setenv("COLUMNS", "100")
    assert console.width == 100
