"""Money commands refuse bad input in one line, write nothing, and never show a traceback (issue 14, defects 13, 14).

Each case drives the real CLI against a migrated store holding a small sample league; cases whose failure depends on
the backend (an integer the driver cannot bind, ``IN ()``, a ``VARCHAR(100)`` account) run on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from betpipe.cli import app
from betpipe.db import make_engine
from betpipe.db.schema import metadata
from betpipe.db.schema_betting import bet_transitions, bets, risk_events, risk_state
from betpipe.ingest.sample_league import SampleLeagueConfig, ingest_sample
from test_cli_errors import STATE, USAGE, assert_one_line

runner = CliRunner()
LEDGER_TABLES = (bets, bet_transitions, risk_state, risk_events)
HUGE = str(2**63)  # one past the largest 64-bit id
VERY_HUGE = str(10**30)
LONG_ACCOUNT = "a" * 101  # accounts are VARCHAR(100)


@dataclass(frozen=True)
class CliStore:
    engine: Engine
    root: Path  # the working directory: anything a command writes by default lands under it

    def ledger_rows(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            return {t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one()) for t in LEDGER_TABLES}

    def files(self) -> set[Path]:
        return {p.relative_to(self.root) for p in self.root.rglob("*") if not p.name.startswith("betpipe.sqlite")}


def _store(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliStore]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BETPIPE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("BETPIPE_DATABASE_URL", url)
    monkeypatch.delenv("BETPIPE_CONFIG", raising=False)
    upgraded = runner.invoke(app, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    engine = make_engine(url)
    ingest_sample(engine, SampleLeagueConfig(n_teams=4, n_seasons=2))
    yield CliStore(engine, tmp_path)
    engine.dispose()


@pytest.fixture
def store(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliStore]:
    """The sample league on each backend, for failures that depend on the backend."""
    yield from _store(database_url, tmp_path, monkeypatch)


@pytest.fixture
def sqlite_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliStore]:
    yield from _store(f"sqlite:///{tmp_path / 'betpipe.sqlite'}", tmp_path, monkeypatch)


def refused(store: CliStore, args: list[str], code: int, *fragments: str) -> str:
    """Exit ``code`` with one 'error:' line; the ledger and the working directory are left as they were."""
    rows, files = store.ledger_rows(), store.files()
    result = runner.invoke(app, args)
    line = assert_one_line(result.exit_code, result.output, {code}, *fragments)
    assert store.ledger_rows() == rows
    assert store.files() == files, "nothing may be written"
    return line


BACKTEST = ["backtest", "--in-process", "--out", "report", "--book", "sample_soft", "--sharp-book", "sample_sharp"]


# Defect 13: a backtest that matches nothing.
@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["-c", "SAMPLE", "--from", "2030-2031", "--to", "2031-2032"], ("no SAMPLE events", "2030-2031")),
        (["-c", "NOPE", "--from", "2019-2020", "--to", "2020-2021"], ("unknown competition 'NOPE'", "SAMPLE")),
        (["-c", "SAMPLE", "-c", "NOPE", "--from", "2019-2020", "--to", "2020-2021"], ("'NOPE'",)),
        (["-c", "SAMPLE", "--from", "2019-2020", "--to", "2020-2021", "--book", "nosuch"], ("unknown book 'nosuch'",)),
        (["-c", "SAMPLE", "--from", "2019-2020", "--to", "2020-2021", "--sharp-book", "x"], ("unknown book 'x'",)),
    ],
    ids=["seasons", "competition", "one-of-two-competitions", "book", "sharp-book"],
)
def test_a_backtest_that_matches_nothing_is_refused_before_writing(
    store: CliStore, args: list[str], fragments: tuple[str, ...]
) -> None:
    refused(store, [*BACKTEST, *args], USAGE, *fragments)


# Defect 13: settings that make no sense for money are refused at start-up, naming the setting.
@pytest.mark.parametrize(
    ("variable", "value", "setting"),
    [
        ("BETPIPE_BANKROLL__BANKROLL", "0", "bankroll.bankroll"),
        ("BETPIPE_BANKROLL__BANKROLL", "-100", "bankroll.bankroll"),
        ("BETPIPE_RISK__MAX_STAKE", "-1", "risk.max_stake"),
        ("BETPIPE_BANKROLL__DAILY_LOSS_LIMIT", "-5", "bankroll.daily_loss_limit"),
        ("BETPIPE_BANKROLL__MAX_OPEN_EXPOSURE", "-5", "bankroll.max_open_exposure"),
        ("BETPIPE_RISK__BANKROLL_FLOOR", "2000", "risk.bankroll_floor"),
        ("BETPIPE_BANKROLL__CURRENCY", "", "bankroll.currency"),
        ("BETPIPE_PIPELINE__ACCOUNT", "", "pipeline.account"),
        ("BETPIPE_PIPELINE__ACCOUNT", LONG_ACCOUNT, "pipeline.account"),
    ],
    ids=[
        "zero-bankroll",
        "negative-bankroll",
        "max-stake",
        "daily-loss",
        "open-exposure",
        "floor",
        "currency",
        "empty-account",
        "long-account",
    ],
)
def test_a_money_setting_out_of_range_is_one_line_at_start_up(
    sqlite_store: CliStore, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, setting: str
) -> None:
    monkeypatch.setenv(variable, value)
    refused(sqlite_store, ["bet", "run", "--as-of", "next-matchday"], USAGE, setting, "BETPIPE_")


# Defect 13: accounts that are empty or unknown are refused, not created.
@pytest.mark.parametrize(
    "args",
    [
        ["risk", "halt", "--reason", "r", "--account", ""],
        ["risk", "halt", "--reason", "r", "--account", "nobody"],
        ["risk", "resume", "--reason", "r", "--account", "nobody"],
        ["bets", "settle", "--account", "nobody"],
        ["risk", "status", "--account", "nobody"],
        ["bankroll", "--account", "nobody"],
    ],
    ids=lambda a: "-".join(a[:2]) + ("-empty" if a[-1] == "" else ""),
)
def test_an_unknown_or_empty_account_is_refused(sqlite_store: CliStore, args: list[str]) -> None:
    refused(sqlite_store, args, USAGE, "account")


def test_an_account_with_ledger_history_is_known(sqlite_store: CliStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """An account that is no longer configured but has a halt on record can still be resumed."""
    monkeypatch.setenv("BETPIPE_PIPELINE__ACCOUNT", "old")
    assert runner.invoke(app, ["risk", "halt", "--reason", "r", "--account", "old"]).exit_code == 0
    monkeypatch.delenv("BETPIPE_PIPELINE__ACCOUNT")
    resumed = runner.invoke(app, ["risk", "resume", "--reason", "r", "--account", "old"])
    assert resumed.exit_code == 0, resumed.output


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["bets", "list", "--state", "bogus"], ("bogus", "open")),
        (["bet", "run", "--dry-run", "--as-of", "next-matchday", "--competition", "NOPE"], ("NOPE", "SAMPLE")),
    ],
    ids=["state", "competition"],
)
def test_a_filter_that_names_nothing_is_refused(
    sqlite_store: CliStore, args: list[str], fragments: tuple[str, ...]
) -> None:
    refused(sqlite_store, args, USAGE, *fragments)


# Defect 14: out-of-range values, on both backends (the drivers disagree about what overflows).
@pytest.mark.parametrize(
    "args",
    [
        ["bets", "show", HUGE],
        ["bets", "show", VERY_HUGE],
        ["bets", "list", "--limit", str(10**20)],
        ["models", "show", "99999999999999999999999"],
        ["bet", "run", "--dry-run", "--as-of", "9999-12-31T23:59:59"],
        ["bet", "run", "--dry-run", "--as-of", "next-matchday+99999999"],
        ["risk", "halt", "--reason", "r", "--account", LONG_ACCOUNT],
        ["bets", "list", "--account", LONG_ACCOUNT],
        [*BACKTEST, "-c", "SAMPLE", "--from", "2019-2020", "--to", "2020-2021", "--refit-days", "inf"],
        [*BACKTEST, "-c", "SAMPLE", "--from", "2019-2020", "--to", "2020-2021", "--refit-days", "nan"],
        [*BACKTEST, "-c", "SAMPLE", "--from", "2019-2020", "--to", "2020-2021", "--min-edge", "nan"],
    ],
    ids=[
        "bet-id-2^63",
        "bet-id-10^30",
        "limit-10^20",
        "model-id",
        "as-of-9999",
        "next-matchday+99999999",
        "long-account-halt",
        "long-account-list",
        "refit-inf",
        "refit-nan",
        "min-edge-nan",
    ],
)
def test_out_of_range_input_is_a_usage_line(store: CliStore, args: list[str]) -> None:
    refused(store, args, USAGE)


def test_an_unreachable_dask_scheduler_fails_fast_in_one_line(sqlite_store: CliStore) -> None:
    args = ["backtest", "--out", "report", "--book", "sample_soft", "--sharp-book", "sample_sharp", "-c", "SAMPLE"]
    args += ["--from", "2019-2020", "--to", "2020-2021", "--scheduler", "tcp://127.0.0.1:1"]
    refused(sqlite_store, args, STATE, "tcp://127.0.0.1:1", "scheduler")


def test_the_ledger_tables_are_the_schema_ones() -> None:
    """The 'nothing written' checks above count every ledger table the schema has."""
    assert {t.name for t in LEDGER_TABLES} == {
        t.name for t in metadata.sorted_tables if t.name.startswith(("bet", "risk"))
    }
