"""Per-market evaluation on the shared data: the market baselines reproduce the reference figures, and every
predictor is scored on the same rows (issue 18 item 2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from betpipe.modeling.market_data import load_market_frame
from betpipe.modeling.market_eval import CLOSE, PRE, _two_way, evaluate_markets, market_rows

REFERENCE_LEAGUES = ["E0", "E1", "SP1"]  # the reference figures' rows (their reader missed D1/I1/F1's renamed O/U)


@pytest.fixture(scope="module")
def frame(shared_data: Path) -> pl.DataFrame:
    return load_market_frame(shared_data / "football-data", first_season="2018-2019")


def test_over_under_baselines_reproduce_the_reference_figures(frame: pl.DataFrame) -> None:
    """Margin-free Pinnacle close 0.2430, pre-match 0.2434, base rate 0.2496 on 2019-20..2022-23 (4,689 matches):
    a loader or margin method that drifted would move these by more than the tolerance."""
    rows = market_rows(frame)["over_under_2.5"]
    reference = rows & frame.get_column("competition").is_in(REFERENCE_LEAGUES).to_numpy()
    sub = frame.filter(pl.Series(reference))
    y = ((sub["home_score"] + sub["away_score"]) > 2.5).cast(pl.Float64).to_numpy()
    close = _two_way(sub["ou_close_over"], sub["ou_close_under"])
    pre = _two_way(sub["ou_pre_over"], sub["ou_pre_under"])
    assert abs(sub.height - 4_689) <= 2
    assert float(((close - y) ** 2).mean()) == pytest.approx(0.2430, abs=0.0002)
    assert float(((pre - y) ** 2).mean()) == pytest.approx(0.2434, abs=0.0002)
    assert float(((y.mean() - y) ** 2).mean()) == pytest.approx(0.2496, abs=0.0002)
    assert int(rows.sum()) > 8_500  # all six leagues once D1/I1/F1's X_2_5 headers are read too


def test_every_predictor_is_scored_on_the_same_rows(frame: pl.DataFrame) -> None:
    small = frame.filter(pl.col("competition") == "E0", pl.col("season") <= "2019-2020")
    result = evaluate_markets(small, refit_days=120.0, goal_models=("dixon_coles",))
    for market in ("over_under_2.5", "asian_handicap"):
        table = result.tables[market]
        assert {CLOSE, PRE, "dixon_coles", "implied_1x2_pre"} <= set(table["model"].to_list())
        assert table["rows"].n_unique() == 1
        assert table.filter(pl.col("model") == CLOSE)["d_brier_close"].item() == 0.0
        for p in result.predictions[market].values():
            assert p.shape == result.outcomes[market].shape
            assert np.isfinite(p).all()
    assert set(np.unique(result.outcomes["asian_handicap"])) <= {0.0, 1.0}  # pushes left out, no quarter lines
    lines = result.frames["asian_handicap"]["ah_close_line"].to_numpy()
    assert np.all(np.abs(lines * 2 - np.round(lines * 2)) < 1e-9)


def test_cli_bad_folder_is_a_one_line_error(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from betpipe.cli import app

    missing = CliRunner().invoke(app, ["evaluate-markets", "--data", str(tmp_path / "nope")])
    assert missing.exit_code == 1
    assert "is not a folder of football-data files" in missing.output
    assert "Traceback" not in missing.output
    empty = CliRunner().invoke(app, ["evaluate-markets", "--data", str(tmp_path)])
    assert empty.exit_code == 1
    assert "no football-data files" in empty.output
