"""Every CLI command, in its failure modes, answers in one line that says what to do: no traceback, exit 1 or 2.

The command list is walked from the typer app, so a new command is covered (at least for bad usage and "before
`db upgrade`") without touching this file; commands whose arguments the generic builder cannot guess get theirs here.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from betpipe.cli import app
from betpipe.cli._errors import list_commands
from betpipe.db.engine import make_engine

runner = CliRunner()
# Log records on stderr (JSON lines, or stdlib "LEVEL logger: message" lines from libraries) are not the message.
LOG_LINE = re.compile(r"^(\{|(DEBUG|INFO|WARNING) [\w.]+: )")
COMMANDS = list_commands(get_command(app))  # type: ignore[arg-type]
STATE, USAGE = 1, 2

# Commands that do not need the store, so "before db upgrade" is not a failure for them.
NO_STORE = {("config", "show"), ("db", "upgrade"), ("features", "list")}
# Commands that run until stopped (a server): covered for bad usage only, since a good start never returns.
LONG_RUNNING = {("serve",)}
# Arguments that reach the store for commands whose required arguments the generic builder cannot guess.
STORE_ARGS: dict[tuple[str, ...], list[str]] = {
    ("teams", "alias"): ["Manchester United", "Man United"],
    ("features", "show"): ["1"],
    ("models", "show"): ["1"],
    ("models", "promote"): ["1", "--reason", "test"],
    ("models", "rollback"): ["--sport", "soccer"],
    ("models", "compare"): ["1", "2"],
    ("ingest", "nflverse"): ["{games_csv}"],
    ("ingest", "football-data"): ["{football_csv}"],
    ("ingest", "odds-api"): ["--sport", "soccer_epl"],
}


@pytest.fixture
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory and data dir: nothing configured, nothing migrated."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BETPIPE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("BETPIPE_ODDS_API__API_KEY", "test-key-0123456789")
    for name in ("BETPIPE_DATABASE_URL", "BETPIPE_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "games.csv").write_text("game_id,season\n2020_01_A_B,2020\n")
    (tmp_path / "E0.csv").write_text("Div,Date,HomeTeam,AwayTeam,FTHG,FTAG\nE0,01/08/2020,A,B,1,0\n")
    return tmp_path / "data"


@pytest.fixture
def migrated(fresh: Path) -> Path:
    done = runner.invoke(app, ["db", "upgrade"])
    assert done.exit_code == 0, done.output
    return fresh


def _path(command: tuple[str, ...]) -> str:
    return " ".join(command)


def _generic_args(command: tuple[str, ...]) -> list[str]:
    """A value for each required parameter of a command: "1" parses as an int, a float and a word alike."""
    group = get_command(app)
    for name in command:
        group = group.get_command(None, name)  # type: ignore[attr-defined, arg-type]
    args: list[str] = []
    for param in group.params:
        if param.required:
            args += [param.opts[0], "1"] if param.param_type_name == "option" else ["1"]
    return args


def _store_args(command: tuple[str, ...], base: Path) -> list[str]:
    args = STORE_ARGS.get(command) or _generic_args(command)
    return [a.format(games_csv=base / "games.csv", football_csv=base / "E0.csv") for a in args]


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def assert_one_line(code: int, output: str, codes: set[int], *fragments: str) -> str:
    """Exit 1 or 2, no traceback, and exactly one line (log records aside) that starts 'error:'."""
    assert code in codes, output
    assert "Traceback" not in output, output
    assert "╭" not in output, f"a rich panel, not one line:\n{output}"
    lines = [line for line in output.splitlines() if line.strip() and not LOG_LINE.match(line)]
    assert len(lines) == 1, output
    assert lines[0].startswith("error: "), output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def test_the_walk_finds_every_command_group() -> None:
    top = {command[0] for command in COMMANDS}
    assert {"config", "db", "ingest", "data", "teams", "features", "models", "train", "evaluate"} <= top
    assert ("models", "show") in COMMANDS
    assert len(COMMANDS) >= 20


@pytest.mark.parametrize("command", COMMANDS, ids=_path)
def test_an_unknown_option_is_one_usage_line(fresh: Path, command: tuple[str, ...]) -> None:
    code, output = run(*command, "--no-such-option")
    assert_one_line(code, output, {USAGE}, "No such option", "--help")


# Known offenders; strict, so a fix turns an entry into a reminder to drop it.
SKIPS_SCHEMA_CHECK: dict[tuple[str, ...], str] = {}


def _before_upgrade_cases() -> list[object]:
    cases: list[object] = []
    for command in COMMANDS:
        if command in NO_STORE | LONG_RUNNING:
            continue
        reason = SKIPS_SCHEMA_CHECK.get(command)
        marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
        cases.append(pytest.param(command, marks=marks, id=_path(command)))
    return cases


@pytest.mark.parametrize("command", _before_upgrade_cases())
def test_before_db_upgrade_every_command_says_so_and_creates_no_file(fresh: Path, command: tuple[str, ...]) -> None:
    code, output = run(*command, *_store_args(command, fresh.parent))
    if command in STORE_ARGS or not _generic_args(command):
        assert_one_line(code, output, {STATE}, "run `betpipe db upgrade`")
    else:  # a command added later, with guessed arguments: usage or state, still one line
        assert_one_line(code, output, {STATE, USAGE})
    assert not (fresh / "betpipe.sqlite").exists(), "a command before `db upgrade` must not create the database"


@pytest.mark.parametrize(
    ("args", "expected", "fragment"),
    [
        (["evaluate"], STATE, "no soccer events to evaluate"),
        (["train"], STATE, "no played soccer events"),
        (["models", "show", "9999"], STATE, "9999"),
        (["models", "promote", "9999", "--reason", "r"], STATE, "9999"),
        (["models", "compare", "1", "2"], STATE, "not registered"),
        (["models", "rollback", "--sport", "soccer"], STATE, "no champion"),
        (["teams", "alias", "X", "No Such Team"], STATE, "No Such Team"),
        (["features", "show", "999999"], STATE, "999999"),
        (["features", "sanity-check", "--competition", "XX"], STATE, "XX"),
        (["features", "build"], STATE, "ingest something first"),
        (["ingest", "sample", "--teams", "5"], USAGE, "n_teams must be even"),
        (["ingest", "sample", "--seasons", "abc"], USAGE, "--seasons"),
        (["ingest", "football-data"], USAGE, "give CSV files"),
        (["ingest", "football-data", "no/such/dir"], USAGE, "no/such/dir"),
        (["ingest", "football-data", "--league", "E0"], USAGE, "--season"),
        (["ingest", "nflverse", "missing.csv"], USAGE, "missing.csv"),
        (["db", "upgrade", "nosuchrev"], USAGE, "nosuchrev"),
        (["models", "promote", "1", "--reason", "r", "--alias", "boss"], USAGE, "champion or challenger"),
        (["models", "show"], USAGE, "Missing argument"),
        (["train", "--model", "crystal_ball"], USAGE, "trainable: "),
        (["evaluate", "--model", "crystal_ball"], USAGE, "crystal_ball"),
        (["no-such-command"], USAGE, "No such command"),
    ],
    ids=lambda value: "-".join(value) if isinstance(value, list) else str(value),
)
def test_failures_after_upgrade_are_one_line(migrated: Path, args: list[str], expected: int, fragment: str) -> None:
    code, output = run(*args)
    assert_one_line(code, output, {expected}, fragment)


@pytest.mark.parametrize(
    "args",
    [
        ["train", "--sport", "tennis"],
        ["evaluate", "--sport", "tennis"],
        ["models", "rollback", "--sport", "tennis"],
        ["models", "list", "--sport", "tennis"],
        ["teams", "alias", "X", "Y", "--sport", "tennis"],
        ["features", "build", "--sport", "tennis"],
    ],
    ids="-".join,
)
def test_an_unknown_sport_names_the_known_ones(migrated: Path, args: list[str]) -> None:
    code, output = run(*args)
    assert_one_line(code, output, {USAGE}, "unknown sport 'tennis'", "american_football, soccer")


def test_an_old_schema_asks_for_an_upgrade(fresh: Path) -> None:
    assert run("db", "upgrade", "0001")[0] == 0
    code, output = run("data", "summary")
    assert_one_line(code, output, {STATE}, "revision 0001", "run `betpipe db upgrade`")
    assert run("db", "upgrade")[0] == 0
    assert run("data", "summary")[0] == 0


def test_an_existing_file_without_the_schema_asks_for_an_upgrade(fresh: Path) -> None:
    engine = make_engine(f"sqlite:///{fresh / 'betpipe.sqlite'}")  # e.g. left behind by an older betpipe
    with engine.connect():
        pass
    engine.dispose()
    code, output = run("models", "list")
    assert_one_line(code, output, {STATE}, "has no betpipe schema", "run `betpipe db upgrade`")


def test_an_unreachable_database_is_one_line_without_the_password(fresh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BETPIPE_DATABASE_URL", "postgresql+psycopg://bet:hunter2@127.0.0.1:1/betpipe?connect_timeout=2")
    code, output = run("data", "summary")
    assert_one_line(code, output, {STATE}, "database is unavailable", "BETPIPE_DATABASE_URL")
    assert "hunter2" not in output


def test_invalid_configuration_is_a_usage_line(fresh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BETPIPE_ODDS_API__REQUESTS_PER_SECOND", "0")
    code, output = run("config", "show")
    assert_one_line(code, output, {USAGE}, "odds_api.requests_per_second", "BETPIPE_")


def test_a_broken_config_file_is_a_usage_line(fresh: Path) -> None:
    Path("betpipe.toml").write_text("[bankroll\n")
    code, output = run("config", "show")
    assert_one_line(code, output, {USAGE})


def test_group_without_a_command_still_shows_its_help(fresh: Path) -> None:
    result = runner.invoke(app, ["models"])
    assert "rollback" in result.output
    assert "Traceback" not in result.output


def test_the_installed_entry_point_prints_one_line_on_stderr_and_nothing_on_stdout(fresh: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "betpipe", "models", "show", "1"], capture_output=True, text=True, check=False
    )
    assert done.returncode == STATE
    assert done.stdout == ""
    assert_one_line(done.returncode, done.stderr, {STATE}, "run `betpipe db upgrade`")
    assert not (fresh / "betpipe.sqlite").exists()
    assert not fresh.exists(), "not even the data folder is created"
