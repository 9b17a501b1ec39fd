"""Configuration precedence, secret masking, and the thin CLI shells over the store."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from betpipe.cli import app
from betpipe.config import load_settings

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BETPIPE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("BETPIPE_DATABASE_URL", raising=False)
    return tmp_path / "data"


def test_defaults_are_embedded_sqlite_under_the_data_dir(data_dir: Path) -> None:
    settings = load_settings()
    assert settings.effective_database_url == f"sqlite:///{(data_dir / 'betpipe.sqlite').as_posix()}"
    assert isinstance(settings.bankroll.bankroll, Decimal)


def test_environment_overrides_the_toml_file(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Path("betpipe.toml").write_text('log_level = "debug"\n[bankroll]\nbankroll = "250.50"\nkelly_fraction = "0.5"\n')
    monkeypatch.setenv("BETPIPE_BANKROLL__KELLY_FRACTION", "0.1")
    settings = load_settings()
    assert settings.log_level == "DEBUG"
    assert settings.bankroll.bankroll == Decimal("250.50")
    assert settings.bankroll.kelly_fraction == Decimal("0.1")


def test_config_show_masks_the_api_key_and_database_password(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BETPIPE_ODDS_API__API_KEY", "supersecretkey1234")
    monkeypatch.setenv("BETPIPE_DATABASE_URL", "postgresql+psycopg://bet:hunter2@db.example/betpipe")
    result = runner.invoke(app, ["config", "show"])
    assert result.exit_code == 0, result.output
    assert "supersecretkey" not in result.output
    assert "hunter2" not in result.output
    shown = json.loads(result.output)
    assert shown["odds_api"]["api_key"] == "****1234"
    assert shown["database_url"].startswith("postgresql+psycopg://bet:***@")


def test_db_upgrade_then_summary_on_an_empty_store(data_dir: Path) -> None:
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "revision" in result.output
    assert (data_dir / "betpipe.sqlite").exists()
    summary = runner.invoke(app, ["data", "summary"])
    assert summary.exit_code == 0, summary.output
    assert "quarantine: empty" in summary.output


def test_alias_for_an_unknown_team_is_a_clear_error(data_dir: Path) -> None:
    runner.invoke(app, ["db", "upgrade"])
    result = runner.invoke(app, ["teams", "alias", "Manchester United", "Man United"])
    assert result.exit_code != 0
    assert "no soccer team named 'Man United'" in str(result.exception)


def test_football_data_without_input_is_a_usage_error(data_dir: Path) -> None:
    runner.invoke(app, ["db", "upgrade"])
    result = runner.invoke(app, ["ingest", "football-data"])
    assert result.exit_code == 2
    assert "give CSV files/folders" in result.output


def test_ingest_sample_twice_reports_everything_unchanged(data_dir: Path) -> None:
    runner.invoke(app, ["db", "upgrade"])
    first = runner.invoke(app, ["ingest", "sample", "--teams", "6", "--seasons", "2"])
    assert first.exit_code == 0, first.output
    second = runner.invoke(app, ["ingest", "sample", "--teams", "6", "--seasons", "2"])
    assert second.exit_code == 0, second.output
    odds_line = next(line for line in second.output.splitlines() if line.strip("│ ").startswith("odds"))
    cells = [cell.strip() for cell in odds_line.split("│") if cell.strip()]
    assert cells[0] == "odds"
    assert cells[1:4] == ["0", "0", cells[3]]
    assert int(cells[3]) > 0
    summary = runner.invoke(app, ["data", "summary"])
    assert "SAMPLE" in summary.output


def test_an_unreadable_file_is_quarantined_and_exits_non_zero(data_dir: Path, tmp_path: Path) -> None:
    runner.invoke(app, ["db", "upgrade"])
    bad = tmp_path / "broken.csv"
    bad.write_bytes(b"\x00\x01 not a csv at all")
    result = runner.invoke(app, ["ingest", "football-data", str(bad)])
    assert result.exit_code == 1, result.output
    listed = runner.invoke(app, ["data", "quarantine"])
    assert "broken.csv" in listed.output or "unreadable" in listed.output


def test_ingest_logs_a_structured_line_to_stderr_not_stdout(data_dir: Path) -> None:
    import subprocess
    import sys

    env_run = [sys.executable, "-m", "betpipe"]
    subprocess.run([*env_run, "db", "upgrade"], check=True, capture_output=True)
    done = subprocess.run(
        [*env_run, "ingest", "sample", "--teams", "4", "--seasons", "1"], check=False, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    logged = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert any(entry["event"] == "payload ingested" and entry["events_inserted"] > 0 for entry in logged)
    assert "payload ingested" not in done.stdout
