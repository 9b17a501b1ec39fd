"""End to end through the CLI on the sample league: ingest -> features -> train -> promote -> rollback -> compare."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from betpipe.cli import app
from betpipe.config import load_settings
from betpipe.db import make_engine
from betpipe.registry import champion

runner = CliRunner()


@pytest.fixture
def sample_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BETPIPE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("BETPIPE_DATABASE_URL", raising=False)
    for args in (["db", "upgrade"], ["ingest", "sample", "--teams", "8", "--seasons", "3"], ["features", "build"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    return tmp_path / "data"


def _champion_id() -> int:
    engine = make_engine(load_settings().effective_database_url)
    try:
        version = champion(engine, "soccer", "1x2")
        assert version is not None
        return version.id
    finally:
        engine.dispose()


def test_train_promote_rollback_and_compare(sample_store: Path) -> None:
    first = runner.invoke(app, ["train", "--sport", "soccer", "--model", "elo_logit", "--promote"])
    assert first.exit_code == 0, first.output
    assert "held-out season" in first.output
    second = runner.invoke(app, ["train", "--sport", "soccer", "--model", "base_rates", "--promote"])
    assert second.exit_code == 0, second.output
    assert _champion_id() == 2
    rolled = runner.invoke(app, ["models", "rollback", "--sport", "soccer", "--reason", "test"])
    assert rolled.exit_code == 0, rolled.output
    assert _champion_id() == 1
    compared = runner.invoke(app, ["models", "compare", "1", "2"])
    assert compared.exit_code == 0, compared.output
    assert "log_loss" in compared.output
    shown = runner.invoke(app, ["models", "show", "1"])
    assert shown.exit_code == 0, shown.output
    assert "data_hash" in shown.output


def test_training_an_unknown_model_is_a_clear_error(sample_store: Path) -> None:
    result = runner.invoke(app, ["train", "--sport", "soccer", "--model", "crystal_ball"])
    assert result.exit_code == 2  # bad usage
    assert "unknown model 'crystal_ball'" in result.output


def test_rollback_without_a_previous_champion_is_a_clear_error(sample_store: Path) -> None:
    runner.invoke(app, ["train", "--sport", "soccer", "--model", "base_rates", "--promote"])
    result = runner.invoke(app, ["models", "rollback", "--sport", "soccer"])
    assert result.exit_code == 1
    assert "roll back" in result.output or "previous" in result.output


def test_features_show_of_an_unknown_event_is_a_clear_error(sample_store: Path) -> None:
    result = runner.invoke(app, ["features", "show", "999999"])
    assert result.exit_code == 1
    assert "999999" in result.output


def test_features_show_lists_values_with_versions(sample_store: Path) -> None:
    result = runner.invoke(app, ["features", "show", "100"])
    assert result.exit_code == 0, result.output
    assert "f_elo_home" in result.output
    assert "feature set" in result.output
