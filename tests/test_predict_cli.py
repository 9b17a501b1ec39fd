"""`betpipe predict` and `betpipe train --as-of` end to end through the CLI on the sample league."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from betpipe.cli import app
from betpipe.config import load_settings
from betpipe.db import make_engine
from betpipe.predict import predict_upcoming
from betpipe.registry import champion

runner = CliRunner()
BEFORE_UPCOMING = "2021-10-20T00:00:00"  # the 8-team, 3-season sample league's scheduled matchdays start after this


@pytest.fixture
def trained_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BETPIPE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("BETPIPE_DATABASE_URL", raising=False)
    for args in (
        ["db", "upgrade"],
        ["ingest", "sample", "--teams", "8", "--seasons", "3"],
        ["features", "build"],
        ["train", "--model", "elo_logit", "--promote", "--as-of", "2021-06-30"],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    return tmp_path


def test_train_as_of_uses_only_results_known_by_then(trained_store: Path) -> None:
    engine = make_engine(load_settings().effective_database_url)
    try:
        version = champion(engine, "soccer", "1x2")
    finally:
        engine.dispose()
    assert version is not None
    assert version.lineage.end < datetime(2021, 6, 30, tzinfo=UTC)
    assert version.lineage.seasons == ("2019-2020", "2020-2021")  # the season under way later is not in it


def test_predict_upcoming_to_terminal_csv_and_parquet_agree_with_the_library(trained_store: Path) -> None:
    shown = runner.invoke(app, ["predict", "--competition", "SAMPLE", "--upcoming", "--as-of", BEFORE_UPCOMING])
    assert shown.exit_code == 0, shown.output
    assert "elo_logit" in shown.output
    assert "p_draw" in shown.output

    csv_path, parquet_path = trained_store / "p.csv", trained_store / "p.parquet"
    for path in (csv_path, parquet_path):
        result = runner.invoke(
            app, ["predict", "--competition", "SAMPLE", "--as-of", BEFORE_UPCOMING, "--out", str(path)]
        )
        assert result.exit_code == 0, result.output
        assert "wrote 12 predictions" in result.output
    from_csv, from_parquet = pl.read_csv(csv_path), pl.read_parquet(parquet_path)
    assert from_csv.height == 12
    assert from_csv["event_id"].to_list() == from_parquet["event_id"].to_list()
    totals = from_parquet.select(pl.col("p_home") + pl.col("p_draw") + pl.col("p_away")).to_series()
    assert ((totals - 1.0).abs() < 1e-9).all()

    config = load_settings()
    engine = make_engine(config.effective_database_url)
    try:
        expected = predict_upcoming(
            engine, config, competition="SAMPLE", after=datetime.fromisoformat(BEFORE_UPCOMING).replace(tzinfo=UTC)
        )
        version = champion(engine, "soccer", "1x2")
    finally:
        engine.dispose()
    assert version is not None
    assert set(from_parquet["model_version_id"].to_list()) == {version.id}
    assert from_parquet.select("event_id", "p_home", "p_draw", "p_away").equals(
        expected.select("event_id", "p_home", "p_draw", "p_away")
    )


def test_predict_after_the_last_fixture_says_there_is_nothing(trained_store: Path) -> None:
    result = runner.invoke(app, ["predict", "--competition", "SAMPLE", "--as-of", "2030-01-01T00:00:00"])
    assert result.exit_code == 0, result.output
    assert "no scheduled SAMPLE events" in result.output


def test_predict_bad_input_is_one_clear_line(trained_store: Path) -> None:
    unknown = runner.invoke(app, ["predict", "--competition", "ZZ"])
    assert unknown.exit_code == 1
    assert "no competition 'ZZ'" in unknown.output
    suffix = runner.invoke(app, ["predict", "--competition", "SAMPLE", "--out", "p.xlsx"])
    assert suffix.exit_code == 2
    assert ".csv or .parquet" in suffix.output
