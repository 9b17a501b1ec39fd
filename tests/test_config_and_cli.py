"""Configuration precedence, secret masking, and the thin CLI shells over the store."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from betpipe.cli import app
from betpipe.config import load_settings, mask_url

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
    Path("betpipe.toml").write_text(
        'log_level = "debug"\n[bankroll]\nbankroll = "250.50"\nkelly_fraction = "0.5"\n[risk]\nbankroll_floor = "100"\n'
    )  # the floor must stay below the bankroll (the default 500.00 would not)
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
    assert result.exit_code == 1
    assert result.output.strip() == "error: no soccer team named 'Man United'; ingest its results first"


@pytest.mark.parametrize(
    ("url", "secret", "shown"),
    [
        ("postgresql+psycopg://bet@db.example/betpipe?password=hunter2", "hunter2", "?password=***"),
        ("postgresql+psycopg://bet@db/x?sslmode=require&PASSWORD=hunter2", "hunter2", "sslmode=require"),
        ("postgresql+psycopg://bet:hunter2@db/x?sslpassword=k3y&options=-csearch_path%3Ds", "k3y", "options="),
        ("postgresql://bet@db/x?auth_token=t0ken&application_name=betpipe", "t0ken", "application_name=betpipe"),
        ("not a url at all?password=hunter2", "hunter2", "not a url"),
    ],
)
def test_mask_url_hides_passwords_in_the_query_string_too(url: str, secret: str, shown: str) -> None:
    masked = mask_url(url)
    assert secret not in masked
    assert "hunter2" not in masked
    assert shown in masked


def test_config_show_masks_a_password_given_as_a_query_parameter(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BETPIPE_DATABASE_URL", "postgresql+psycopg://bet@db.example/betpipe?password=hunter2")
    result = runner.invoke(app, ["config", "show"])
    assert result.exit_code == 0, result.output
    assert "hunter2" not in result.output
    assert json.loads(result.output)["database_url"] == "postgresql+psycopg://bet@db.example/betpipe?password=***"


def test_db_upgrade_masks_a_password_given_as_a_query_parameter(
    database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """On PostgreSQL (trust auth ignores the password, so the URL connects); SQLite takes no password."""
    if not database_url.startswith("postgresql"):
        pytest.skip("a password in the URL is a PostgreSQL matter")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BETPIPE_DATABASE_URL", f"{database_url}&password=hunter2")
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "hunter2" not in result.output
    assert "password=***" in result.output
    assert "at revision" in result.output


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
    verbose = [*env_run, "-v"]  # INFO lines only when asked for: quiet by default (test_cli_startup.py)
    done = subprocess.run(
        [*verbose, "ingest", "sample", "--teams", "4", "--seasons", "1"], check=False, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    logged = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert any(entry["event"] == "payload ingested" and entry["events_inserted"] > 0 for entry in logged)
    assert "payload ingested" not in done.stdout


@pytest.fixture
def sample_store(data_dir: Path) -> Path:
    for args in (["db", "upgrade"], ["ingest", "sample", "--teams", "6", "--seasons", "3"], ["features", "build"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    return data_dir


def test_models_list_shows_the_name_trained_and_every_metric_whole(sample_store: Path) -> None:
    trained = runner.invoke(app, ["train", "--sport", "soccer", "--model", "gbm"])
    assert trained.exit_code == 0, trained.output
    assert trained.stdout.startswith("registered gbm as soccer/1x2 v1")
    listed = runner.invoke(app, ["models", "list"])
    assert listed.exit_code == 0, listed.output
    row = next(line for line in listed.stdout.splitlines() if line.strip("│ ").startswith("1 "))
    cells = [cell.strip() for cell in row.split("│") if cell.strip()]
    assert cells[2] == "gbm", "the name asked for, not the estimator class (calibrated)"
    metrics = re.findall(r"(\w+)=(\d+(?:\.\d+)?)", listed.stdout)
    assert {name for name, _ in metrics} == {"log_loss", "brier", "rps", "holdout_rows"}
    assert all(len(value.split(".")[1]) == 4 for name, value in metrics if name != "holdout_rows")
    shown = runner.invoke(app, ["models", "show", "1"])
    assert "gbm (calibrated) soccer/1x2" in shown.stdout


def test_train_and_evaluate_report_progress_through_their_callbacks(sample_store: Path) -> None:
    from betpipe.db import make_engine
    from betpipe.live.training import train_model
    from betpipe.modeling import evaluate

    settings = load_settings()
    engine = make_engine(settings.effective_database_url)
    try:
        steps: list[tuple[str, int, int]] = []
        train_model(
            engine, sport="soccer", model="base_rates", settings=settings, on_progress=lambda *s: steps.append(s)
        )
        assert [done for _, done, _ in steps] == [0, 1, 2, 3, 4]
        assert {total for _, _, total in steps} == {4}
        seen: list[tuple[str, int, int]] = []
        report = evaluate(
            engine, sport="soccer", models=["base_rates"], settings=settings, on_progress=lambda *s: seen.append(s)
        )
    finally:
        engine.dispose()
    # One call per model and scored season, after it is done, weighted by the model's cost (the bar's ETA).
    assert {name.rsplit(" ", 1)[0] for name, _, _ in seen} == set(report.predictions)
    assert len(seen) == len(report.predictions) * len({name.rsplit(" ", 1)[1] for name, _, _ in seen})
    done = [d for _, d, _ in seen]
    assert done == sorted(done)
    assert done[0] > 0
    (total,) = {t for _, _, t in seen}
    assert done[-1] == pytest.approx(total)


def test_train_help_lists_exactly_the_trainable_models() -> None:
    from betpipe.live.training import trainable_models

    result = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "400"})
    text = " ".join(result.output.split())
    for sport in ("soccer", "american_football"):
        assert f"{sport}: {', '.join(trainable_models(sport))}" in text


def test_the_models_doc_lists_exactly_what_train_accepts() -> None:
    from betpipe.live.training import trainable_models

    doc = (Path(__file__).resolve().parents[1] / "docs" / "modeling.md").read_text()
    section = doc.split("### Models you can train", 1)[1].split("\n#", 1)[0]
    documented = dict(re.findall(r"^\| `(\w+)` \| (\w+) \|", section, re.M))
    assert set(documented) == set(trainable_models("soccer")) | set(trainable_models("american_football"))
    for name, sports in documented.items():
        assert (name in trainable_models("american_football")) == (sports == "both"), name


def test_an_empty_odds_api_key_means_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """compose passes the variable empty when unset: the pipeline must then fall back, not call the API with ''."""
    from betpipe.live.stages import data_source

    monkeypatch.setenv("BETPIPE_ODDS_API__API_KEY", "  ")
    monkeypatch.setenv("BETPIPE_PIPELINE__ODDS_API_SPORTS", '["soccer_epl"]')
    settings = load_settings()
    assert settings.odds_api.api_key is None
    assert data_source(settings) != "odds_api"
    monkeypatch.setenv("BETPIPE_ODDS_API__API_KEY", "k3y")
    assert data_source(load_settings()) == "odds_api"
