"""Issue 14, defect 17: the smaller ingest and file-permission defects, each pinned by a test that failed before.

- a truncated last row of nflverse ``games.csv`` was stored as a game with a (wrong) result;
- the same file given by two paths (a symlink, a hard link, its folder) doubled its quarantine records;
- a quoted newline inside a football-data cell (valid RFC 4180) split the row in two;
- an API key that the server echoed in a 200 body was stored in ``raw_payloads``;
- the SQLite store and the data dir were created world-readable under umask 022.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, func, select, text
from typer.testing import CliRunner

from betpipe.cli import app
from betpipe.clock import FixedClock
from betpipe.config import OddsApiSettings, Settings
from betpipe.db import make_engine, upgrade
from betpipe.db.schema import events, quarantine, raw_payloads, results
from betpipe.ingest.football_data import ingest_football_data, read_football_data
from betpipe.ingest.nflverse import ingest_nflverse, read_nflverse
from betpipe.ingest.odds_api import OddsApiClient, ingest_odds_api
from betpipe.ingest.runs import store_raw_payload
from betpipe.registry.artifacts import store_artifact
from fakes.odds_api_server import FakeOddsApi, Fault
from faults_inputs import FD_HEADER, football_csv, football_rows, nfl_csv, nfl_rows, with_cell

CLOCK = FixedClock(datetime(2024, 1, 1, tzinfo=UTC))
KEY = "echoed-odds-api-key-0123456789abcdef"
FIXTURES = Path(__file__).parent / "fixtures" / "odds_api"
NFL_ODDS = "/v4/sports/americanfootball_nfl/odds"


def _count(engine: Engine, table: Any, *where: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


# --- a truncated last row of nflverse games.csv ------------------------------------------------------------------


def _cut_nfl_file(marker: bytes, keep: int) -> bytes:
    """The good 12-game file without its final line break, cut ``keep`` bytes into ``marker`` of the last row."""
    body = nfl_csv(nfl_rows())
    last_row = body.rstrip(b"\n").rindex(b"\n") + 1
    return body[: body.index(marker, last_row) + keep]


@pytest.mark.parametrize(
    ("marker", "keep", "what"),
    [
        (b",GB,2", 5, "inside home_score: 28 would be stored as 2"),
        (b",Home,", 6, "after location: a full score, no prices"),
        (b",-110,44.5", 6, "inside the lines"),
    ],
)
def test_a_truncated_last_nflverse_row_is_quarantined_not_stored_with_a_result(
    engine: Engine, tmp_path: Path, marker: bytes, keep: int, what: str
) -> None:
    body = _cut_nfl_file(marker, keep)
    batch = read_nflverse(body, "games.csv")
    assert batch.events.height == 11, what
    assert "12" not in batch.results["row_ref"].to_list(), what
    [record] = [q for q in batch.quarantined if q.row_ref == "12"]
    assert "truncated" in record.reason
    assert "no line break" in record.reason

    path = tmp_path / "games.csv"
    path.write_bytes(body)
    report = ingest_nflverse(engine, path, clock=CLOCK)
    assert report.tables["events"].inserted == 11
    assert _count(engine, results) == 11
    assert _count(engine, quarantine, quarantine.c.reason.contains("truncated")) == 1


def test_a_complete_last_nflverse_row_without_a_line_break_is_kept() -> None:
    body = nfl_csv(nfl_rows()).rstrip(b"\n")
    batch = read_nflverse(body, "games.csv")
    assert batch.events.height == 12
    assert batch.quarantined == []


# --- the same file given by two paths ----------------------------------------------------------------------------


def test_the_same_football_data_file_by_three_paths_quarantines_each_bad_row_once(
    engine: Engine, tmp_path: Path
) -> None:
    rows = with_cell(with_cell(football_rows(), 4, "FTHG", "999"), 8, "HS", "500")  # a bad row and a bad cell
    league = tmp_path / "data" / "E0"
    league.mkdir(parents=True)
    original = league / "2022-2023.csv"
    original.write_bytes(football_csv(rows))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "season.csv").symlink_to(original)
    for given in (original, elsewhere / "season.csv", tmp_path / "data", original):
        report = ingest_football_data(engine, [given], clock=CLOCK)
        assert report.quarantined == 2, given
    assert _count(engine, quarantine) == 2
    assert _count(engine, events) == 19


def test_the_same_nflverse_file_by_a_hard_link_quarantines_each_bad_row_once(engine: Engine, tmp_path: Path) -> None:
    rows = nfl_rows()
    rows[3]["home_team"] = "XYZ"
    first = tmp_path / "a" / "games.csv"
    first.parent.mkdir()
    first.write_bytes(nfl_csv(rows))
    second = tmp_path / "b.csv"
    os.link(first, second)
    (tmp_path / "c.csv").symlink_to(first)
    for given in (first, second, tmp_path / "c.csv"):
        assert ingest_nflverse(engine, given, clock=CLOCK).quarantined == 1
    assert _count(engine, quarantine) == 1


def test_different_content_under_two_paths_keeps_both_quarantine_records(engine: Engine, tmp_path: Path) -> None:
    """The key is the content, not a looser one: two different files with a bad row each keep both records."""
    for name, row in (("a.csv", 2), ("b.csv", 5)):
        rows = nfl_rows()
        rows[row]["home_team"] = "XYZ"
        (tmp_path / name).write_bytes(nfl_csv(rows))
        ingest_nflverse(engine, tmp_path / name, clock=CLOCK)
    assert _count(engine, quarantine) == 2


# --- a quoted newline inside a football-data cell ----------------------------------------------------------------


def _with_referees(rows: list[list[str]], referee: dict[int, str], newline: str = "\n") -> bytes:
    lines = [f"{FD_HEADER},Referee"]
    for i, row in enumerate(rows):
        lines.append(",".join([*row, referee.get(i, "A Ref")]))
    return (newline.join(lines) + newline).encode()


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_a_quoted_newline_inside_a_football_data_cell_is_one_row(newline: str) -> None:
    rows = football_rows()
    body = _with_referees(rows, {3: f'"Mike{newline}Dean"', 19: f'"Last{newline}{newline}Row"'}, newline)
    batch = read_football_data(body, "E0/2022-2023.csv", now=CLOCK.now())
    assert batch.quarantined == []
    assert batch.events.height == 20
    referees = [json.loads(a)["referee"] for a in batch.events["attributes"]]
    assert referees[3] == "Mike\nDean"
    assert referees[19] == "Last\n\nRow"
    assert referees[4] == "A Ref"
    # Line numbers stay physical: the row after the two-line one is line 7 of the file.
    assert batch.events["row_ref"][4] == "E0/2022-2023.csv#row7"


def test_a_stray_quote_never_swallows_the_next_row() -> None:
    """An opening quote on one line and a closing one in the same column of the next would balance if joined; the
    next line is a whole row by itself, so the first is quarantined alone and the second is read on its own."""
    rows = football_rows()
    rows[3][3] = '"Team Q'
    rows[4][3] = 'Team R"'
    batch = read_football_data(football_csv(rows), "E0/2022-2023.csv", now=CLOCK.now())
    refs = {q.row_ref: q.reason for q in batch.quarantined}
    assert "unbalanced quotes" in refs["E0/2022-2023.csv#row5"]
    assert batch.events.height + len(refs) == 20
    assert "E0/2022-2023.csv#row6" in refs or "E0/2022-2023.csv#row6" in batch.events["row_ref"].to_list()


def test_a_quoted_cell_that_never_closes_costs_one_row_even_within_the_join_window() -> None:
    rows = football_rows()
    rows[10][3] = '"Team Q'
    batch = read_football_data(football_csv(rows), "E0/2022-2023.csv", now=CLOCK.now())
    assert [q.row_ref for q in batch.quarantined] == ["E0/2022-2023.csv#row12"]
    assert batch.events.height == 19


# --- an API key echoed in a 200 body ------------------------------------------------------------------------------


@pytest.fixture
def echo_server() -> Iterator[FakeOddsApi]:
    fake = FakeOddsApi(KEY).start()
    fake.add_route(NFL_ODDS, (FIXTURES / "nfl_odds_spreads_totals.json").read_bytes())
    yield fake
    fake.stop()


def test_an_api_key_echoed_in_a_200_body_is_not_stored(echo_server: FakeOddsApi, engine: Engine) -> None:
    events_json = json.loads((FIXTURES / "nfl_odds_spreads_totals.json").read_text())
    events_json[0]["debug"] = {"key": KEY, "next": "https://api.example/v4/x?apiKey=another-key-999&regions=us"}
    echo_server.fail_next(Fault("body", body=json.dumps(events_json).encode()))
    settings = Settings(
        odds_api=OddsApiSettings(api_key=SecretStr(KEY), base_url=echo_server.url, requests_per_second=200)
    )
    with OddsApiClient(settings.odds_api, engine=engine) as client:
        report = ingest_odds_api(engine, settings, "americanfootball_nfl", ["h2h"], client=client)
    assert report.tables["events"].inserted == len(events_json), "the masked body still parses"
    with engine.connect() as conn:
        [(body, locator)] = conn.execute(select(raw_payloads.c.body, raw_payloads.c.locator)).all()
    assert KEY.encode() not in body
    assert b"another-key-999" not in body
    assert b"apiKey=****" in body
    assert KEY not in locator


def test_a_credential_query_parameter_is_masked_in_a_stored_payload_and_locator(sqlite_engine: Engine) -> None:
    """The store's own net, for any source: ``apiKey=...`` never reaches ``raw_payloads``."""
    body = b'{"next": "https://x/y?regions=us&apiKey=s3cr3t-value&markets=h2h"}'
    with sqlite_engine.begin() as conn:
        store_raw_payload(conn, "odds-api", "/v4/x?apiKey=s3cr3t-value&b=1", body, "application/json", clock=CLOCK)
    with sqlite_engine.connect() as conn:
        [(stored, locator)] = conn.execute(select(raw_payloads.c.body, raw_payloads.c.locator)).all()
    assert b"s3cr3t-value" not in stored
    assert "s3cr3t-value" not in locator
    assert stored == b'{"next": "https://x/y?regions=us&apiKey=****&markets=h2h"}'


# --- file permissions under umask 022 -----------------------------------------------------------------------------


@pytest.fixture
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("umask_022")
def test_a_new_sqlite_store_and_its_folders_are_private(tmp_path: Path) -> None:
    existing = tmp_path / "existing"
    existing.mkdir()
    existing.chmod(0o755)
    database = existing / "data" / "nested" / "betpipe.sqlite"
    engine = make_engine(f"sqlite:///{database}")
    try:
        upgrade(engine)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
                assert _mode(path) == 0o600, (path.name, oct(_mode(path)))
    finally:
        engine.dispose()
    assert _mode(existing / "data") == 0o700
    assert _mode(existing / "data" / "nested") == 0o700
    assert _mode(existing) == 0o755, "a folder that already existed is left as it was"


@pytest.mark.usefixtures("umask_022")
def test_a_rollback_journal_is_private_too(tmp_path: Path) -> None:
    database = tmp_path / "ledger.sqlite"
    engine = make_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA journal_mode=DELETE")
            conn.exec_driver_sql("PRAGMA locking_mode=EXCLUSIVE")
            conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
            conn.commit()
            conn.exec_driver_sql("INSERT INTO t VALUES (1)")
            assert _mode(Path(f"{database}-journal")) == 0o600
            conn.rollback()
    finally:
        engine.dispose()
    assert _mode(database) == 0o600


@pytest.mark.usefixtures("umask_022")
def test_db_upgrade_creates_a_private_data_dir_and_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = tmp_path / "betpipe-data" / "live"
    monkeypatch.setenv("BETPIPE_DATA_DIR", str(data_dir))
    monkeypatch.delenv("BETPIPE_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert _mode(tmp_path / "betpipe-data") == 0o700
    assert _mode(data_dir) == 0o700
    assert _mode(data_dir / "betpipe.sqlite") == 0o600
    assert not any(_mode(p) & 0o077 for p in data_dir.iterdir()), [(p.name, oct(_mode(p))) for p in data_dir.iterdir()]


@pytest.mark.usefixtures("umask_022")
def test_the_artifact_folder_under_the_data_dir_is_private(tmp_path: Path) -> None:
    root = tmp_path / "data" / "artifacts"
    stored = store_artifact(root, "test", lambda folder: (folder / "model.json").write_text("{}"))
    assert _mode(tmp_path / "data") == 0o700
    assert _mode(root) == 0o700
    assert stored.path.parent == root
