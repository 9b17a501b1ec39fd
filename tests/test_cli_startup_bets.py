"""``betpipe bets list`` on a store with bets loads only what it prints with: the stdlib, typer and rich.

Each run is a fresh interpreter, as a shell starts it, and the modules it ended with are read from ``sys.modules`` at
exit. The failure this prevents: a change on the path (an option type, a setting, a formatting helper) that quietly
imports pydantic, SQLAlchemy or numpy again and doubles the command's start-up CPU (docs/benchmarks.md, CLI
start-up). Durations are never asserted here: bench/bench_startup.py measures them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import insert
from typer.testing import CliRunner

from betpipe.betting import PaperBook, RiskLimits, place_bets
from betpipe.cli import app
from betpipe.clock import FixedClock
from betpipe.config import load_settings
from betpipe.db import make_engine
from betpipe.db.schema import competitions, events, teams
from fakes.betting import DECIDED, KICKOFF, candidate

# Never on the path of a plain `bets list` (a SQLite store, nothing configured but the store and the log level).
NOT_LOADED = (
    "sklearn", "lightgbm", "dask", "distributed", "streamlit", "scipy", "numba", "fastapi", "uvicorn", "apscheduler",
    "pandas", "polars", "numpy", "pyarrow", "alembic", "sqlalchemy", "pydantic", "pydantic_core", "pydantic_settings",
    "structlog", "httpx", "threadpoolctl", "betpipe.betting", "betpipe.config", "betpipe.db",
)  # fmt: skip
TEAMS = ("Wolverhampton Wanderers", "Brighton & Hove Albion", "Nottingham Forest", "Sheffield United")

_MODULES_AT_EXIT = """
import atexit, json, runpy, sys
out = sys.argv[1]
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
sys.argv = ["betpipe", *sys.argv[2:]]
runpy.run_module("betpipe", run_name="__main__")
"""


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A migrated SQLite store with three paper bets on three matches; only BETPIPE_DATA_DIR configured."""
    for name in list(os.environ):
        if name.lower().startswith("betpipe_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no betpipe.toml
    monkeypatch.setenv("BETPIPE_DATA_DIR", str(tmp_path / "data"))
    assert CliRunner().invoke(app, ["db", "upgrade"]).exit_code == 0
    settings = load_settings()
    engine = make_engine(settings.effective_database_url)
    with engine.begin() as conn:
        conn.execute(insert(competitions).values(id=1, sport="soccer", code="E0", name="Premier League"))
        conn.execute(insert(teams), [{"id": i, "sport": "soccer", "name": name} for i, name in enumerate(TEAMS, 1)])
        conn.execute(
            insert(events),
            [
                {"id": i, "natural_key": f"e{i}", "sport": "soccer", "competition_id": 1, "kickoff_time_known": True}
                | {"kickoff_utc": KICKOFF + timedelta(days=i), "home_team_id": i, "away_team_id": i % 4 + 1}
                | {"status": "scheduled", "neutral_site": False, "source": "test"}
                for i in (1, 2, 3)
            ],
        )
    bets = [candidate(i, kickoff=KICKOFF + timedelta(days=i), price=Decimal("2.20")) for i in (1, 2, 3)]
    place_bets(
        engine,
        bets,
        account="paper",
        book=PaperBook(),
        clock=FixedClock(DECIDED),
        limits=RiskLimits.from_settings(settings),
    )
    engine.dispose()
    return {**os.environ, "COLUMNS": "100"}


def _run(tmp_path: Path, env: dict[str, str], *args: str) -> tuple[set[str], str]:
    out = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", _MODULES_AT_EXIT, str(out), *args],
        env=env, capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return set(json.loads(out.read_text())), done.stdout


def _loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(name for name in names if any(m == name or m.startswith(name + ".") for m in modules))


@pytest.mark.parametrize(
    "options", [(), ("--limit", "2"), ("--state", "open", "--limit", "10"), ("--account", "paper")]
)
def test_bets_list_with_bets_loads_no_heavy_module(
    env: dict[str, str], tmp_path: Path, options: tuple[str, ...]
) -> None:
    modules, output = _run(tmp_path, env, "bets", "list", *options)
    assert "Nottingham Forest" in output  # it did read and print the store's bets
    assert (KICKOFF + timedelta(days=3)).strftime("%Y-%m-%d %H:%M") in output
    assert {"sqlite3", "typer", "rich.table", "betpipe.ledger_view"} <= modules  # the check itself sees imports
    assert _loaded(modules, NOT_LOADED) == []


def test_another_setting_takes_the_full_settings_path_with_the_same_output(env: dict[str, str], tmp_path: Path) -> None:
    """Any setting beyond the store and the log level is checked by Settings (pydantic-settings), as before."""
    modules, light_output = _run(tmp_path, env, "bets", "list")
    assert "pydantic_settings" not in modules
    modules, full_output = _run(tmp_path, {**env, "BETPIPE_RISK__MAX_STAKE": "20"}, "bets", "list")
    assert "pydantic_settings" in modules
    assert full_output == light_output
