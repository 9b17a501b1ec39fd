"""End to end through the CLI on the sample league: ingest -> features -> train -> promote -> rollback -> compare."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from betpipe.cli import app
from betpipe.config import load_settings
from betpipe.db import make_engine
from betpipe.live.training import MODEL_NAME_PARAM, best_trainable
from betpipe.modeling import EvaluationReport
from betpipe.modeling.evaluate import score_table
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


# ---------------------------------------------- promote what the evaluation ranks best (issue 14, defect 8)

PROMOTED = re.compile(
    r"promoted (\w+) \(id (\d+)\) to champion: best RPS ([0-9.]+) on \d+ walk-forward rows vs (\w+) ([0-9.]+)"
)


def test_evaluate_promote_best_makes_the_best_ranked_model_champion_and_says_why(sample_store: Path) -> None:
    result = runner.invoke(
        app, ["evaluate", "--sport", "soccer", "--model", "elo_logit", "--model", "base_rates", "--promote-best"]
    )
    assert result.exit_code == 0, result.output
    found = PROMOTED.search(" ".join(result.output.split()))
    assert found is not None, result.output
    best, version_id, best_rps, other, other_rps = found.groups()
    assert {best, other} == {"elo_logit", "base_rates"}
    assert float(best_rps) <= float(other_rps)
    assert "95% CI" in result.output
    engine = make_engine(load_settings().effective_database_url)
    try:
        version = champion(engine, "soccer", "1x2")
        assert version is not None
        assert version.id == int(version_id)
        assert version.params[MODEL_NAME_PARAM] == best
    finally:
        engine.dispose()


def _report(predictions: dict[str, np.ndarray], labels: np.ndarray) -> EvaluationReport:
    table = score_table(predictions, labels, primary="rps", anchors={}, anchor_names={"market_close_shin"})
    return EvaluationReport(
        sport="soccer",
        primary="rps",
        rows=int(labels.shape[0]),
        seasons=["2020-2021"],
        table=table,
        by_competition=pl.DataFrame(),
        labels=labels,
        predictions=predictions,
        fallback_rows={},
        frame=pl.DataFrame(),
    )


def test_the_best_pick_ranks_trainable_models_only_and_reports_the_paired_difference() -> None:
    labels = np.array([0, 2, 1, 0, 0, 2, 1, 0], dtype=np.int64)
    exact = np.eye(3)[labels]
    blur = np.full((labels.size, 3), 1 / 3)
    report = _report(
        {
            "market_close_shin": exact,  # an anchor: the best score, but not a candidate
            "gbm": 0.3 * exact + 0.7 * blur,
            "elo_logit": 0.6 * exact + 0.4 * blur,
        },
        labels,
    )
    choice = best_trainable(report)
    assert choice.model == "elo_logit"
    assert [name for name, _ in choice.ranking] == ["elo_logit", "gbm"]
    assert choice.runner_up is not None
    mean, low, high = choice.runner_up
    assert low <= mean <= high < 0
    assert choice.reason().startswith("best RPS ")
    assert " vs gbm " in choice.reason()


def test_the_best_pick_refuses_a_report_without_trainable_models() -> None:
    labels = np.array([0, 1, 2], dtype=np.int64)
    with pytest.raises(ValueError, match="no trainable model"):
        best_trainable(_report({"market_close_shin": np.eye(3)[labels]}, labels))
