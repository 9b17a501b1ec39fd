"""scripts/tune_gbm.py: the GBM choice is rerunnable, walk-forward, and blind to seasons after the tuning ones."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import polars as pl
import pytest

from betpipe.modeling.synthetic import synthetic_matrix

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "tune_gbm.py"
SMALL = (
    {"n_estimators": 20, "learning_rate": 0.1, "num_leaves": 3, "min_data_in_leaf": 50},
    {"n_estimators": 20, "learning_rate": 0.1, "num_leaves": 7, "min_data_in_leaf": 20},
)


@pytest.fixture(scope="module")
def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("tune_gbm", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_script_offers_nine_candidates_including_the_frozen_setting(script: ModuleType) -> None:
    assert len(script.CANDIDATES) == 9
    assert sum(c == script.FROZEN for c in script.CANDIDATES) == 1
    assert script.TUNING_SEASONS == ("2012-2013", "2013-2014")


def test_tuning_scores_candidates_on_the_tuning_seasons_only(script: ModuleType) -> None:
    frame = synthetic_matrix(seasons=6, teams=12, seed=4, first_year=2009)  # 2009-10 .. 2014-15
    results = script.tune(frame, candidates=SMALL)
    assert [r["rps"] for r in results] == sorted(r["rps"] for r in results)
    tuning = frame.filter(pl.col("season").is_in(["2012-2013", "2013-2014"]))
    assert results[0]["rows"] == tuning.height
    assert set(results[0]["rps_by_season"]) == {"2012-2013", "2013-2014"}
    later = pl.col("season") > "2013-2014"
    changed = frame.with_columns(
        pl.when(later).then((pl.col("outcome") + 1) % 3).otherwise(pl.col("outcome")).alias("outcome")
    )
    again = script.tune(changed, candidates=SMALL)  # labels after the tuning seasons changed: nothing moves
    assert [(r["candidate"], r["rps"]) for r in again] == [(r["candidate"], r["rps"]) for r in results]
    text = script.markdown(results, script.TUNING_SEASONS)
    assert len([line for line in text.splitlines() if line.startswith("| ") and line[2].isdigit()]) == len(SMALL)
