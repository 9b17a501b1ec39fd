"""Strategy grids: the file expands to the strategies it says, the adjusted verdict keeps its promise on synthetic grids
whose truth is known, and ``betpipe backtest --grid`` prints one ranked table whose files do not depend on where the
runs executed, with nothing but the answer on a pipe."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text

from betpipe.backtest.grid import expand_grid, load_grid, split_seasons
from betpipe.backtest.verdict import romano_wolf
from betpipe.config import Settings
from betpipe.db import make_engine, upgrade
from betpipe.ingest.sample_league import ingest_sample
from betpipe.ingest.sample_league_model import SampleLeagueConfig

NULL_GRIDS = 40
STRATEGIES = 50


def _synthetic_grid(
    rng: np.random.Generator, *, events: int = 600, edge: float = 0.0, edged: int | None = None
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``STRATEGIES`` strategies betting overlapping random subsets of the same matches; each bet's CLV shares its
    match's shock (as strategies betting one match share its closing line), true mean 0 except ``edged``'s."""
    shock = rng.normal(0.0, 0.1, events)
    event_ids, clv = [], []
    for k in range(STRATEGIES):
        taken = np.flatnonzero(rng.random(events) < rng.uniform(0.2, 0.6))
        mean = edge if k == edged else 0.0
        event_ids.append(taken + 1000)
        clv.append(mean + shock[taken] + rng.normal(0.0, 0.3, taken.size))
    return event_ids, clv


def test_the_best_of_fifty_null_strategies_is_significant_only_at_the_nominal_rate() -> None:
    """Picking the best of 50 strategies without an edge must not look like an edge: the unadjusted bootstrap p of
    the best is < 0.05 in most grids (the trap), the Romano-Wolf p in about 5 % of them (the promise)."""
    rng = np.random.default_rng(20261206)
    adjusted_hits = naive_hits = 0
    for seed in range(NULL_GRIDS):
        result = romano_wolf(*_synthetic_grid(rng), resamples=400, seed=seed)
        best = int(np.nanargmax(result.t))
        adjusted_hits += bool(result.p_adjusted[best] < 0.05)
        naive_hits += bool(result.p_single[best] < 0.05)
    assert naive_hits >= NULL_GRIDS // 2  # without the adjustment the best null strategy usually "wins"
    assert adjusted_hits <= 6  # Binomial(40, 0.05): P(>= 7) is about 0.3 %


def test_one_real_edge_among_nulls_is_found_and_survives_the_adjustment() -> None:
    event_ids, clv = _synthetic_grid(np.random.default_rng(7), events=2000, edge=0.05, edged=13)
    result = romano_wolf(event_ids, clv, resamples=1000)
    assert int(np.nanargmax(result.t)) == 13
    assert result.p_adjusted[13] < 0.01
    others = np.delete(result.p_adjusted, 13)
    assert np.mean(others < 0.05) <= 0.1


def test_adjusted_p_values_are_never_below_single_ones_and_follow_the_t_order() -> None:
    result = romano_wolf(*_synthetic_grid(np.random.default_rng(3), edge=0.03, edged=2), resamples=500)
    assert np.all(result.p_adjusted >= result.p_single - 1e-12)
    order = np.argsort(-result.t)
    assert np.all(np.diff(result.p_adjusted[order]) >= 0)


def test_a_strategy_with_too_few_bets_gets_no_p_value_and_does_not_break_the_rest() -> None:
    event_ids, clv = _synthetic_grid(np.random.default_rng(5), edge=0.05, edged=0)
    result = romano_wolf([*event_ids, np.array([1000]), np.zeros(0, np.int64)], [*clv, np.array([0.5]), np.zeros(0)])
    assert np.isnan(result.p_adjusted[-2:]).all()
    assert np.isnan(result.t[-2:]).all()
    assert np.isfinite(result.p_adjusted[:-2]).all()


def test_axes_cross_into_labelled_strategies_over_the_base() -> None:
    strategies = expand_grid(
        {
            "base": {"source": "market", "staking": "flat:1"},
            "axes": {"min_edge": [0.0, 0.02], "books": [["bet365"], ["bet365", "vcbet"]]},
            "variants": [{"label": "by hand", "market_method": "shin"}],
        }
    )
    assert [s.name for s in strategies] == [
        "min_edge=0, books=bet365",
        "min_edge=0, books=bet365+vcbet",
        "min_edge=0.02, books=bet365",
        "min_edge=0.02, books=bet365+vcbet",
        "by hand",
    ]
    assert all(s.staking == "flat:1" for s in strategies)
    assert strategies[3].books == ("bet365", "vcbet")
    assert strategies[3].min_edge == 0.02
    assert strategies[4].market_method == "shin"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"axes": {"min_edge": []}}, "non-empty list"),
        ({"axes": {"colour": ["red"]}}, "unknown strategy field"),
        ({"base": {"books": ["max"]}, "axes": {"min_edge": [0]}}, "aggregate"),
        ({"variants": [{"min_edge": 0}, {"min_edge": 0}]}, "share the name"),
        ({"axis": {"min_edge": [0]}}, "unknown grid key"),
        ({"axes": {"min_edge": list(range(30)), "market_weight": [x / 20 for x in range(20)]}}, "at most"),
        ({}, "names no strategy"),
    ],
)
def test_a_bad_grid_is_refused_in_one_line(document: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message) as error:
        expand_grid(document)
    assert "\n" not in str(error.value)


def test_a_toml_grid_file_and_its_errors_name_the_file(tmp_path: Path) -> None:
    good = tmp_path / "grid.toml"
    good.write_text('[base]\nsource = "market"\n[axes]\nmarket_method = ["multiplicative", "shin"]\n')
    assert [s.market_method for s in load_grid(good)] == ["multiplicative", "shin"]
    bad = tmp_path / "bad.toml"
    bad.write_text("[axes\n")
    with pytest.raises(ValueError, match=r"bad\.toml: not a TOML grid file"):
        load_grid(bad)
    with pytest.raises(ValueError, match="leaves no tuning season"):
        split_seasons("2016-2017", "2022-2023", "2016-2017")


def test_the_shipped_example_grids_expand() -> None:
    root = Path(__file__).resolve().parents[1] / "examples"
    assert len(load_grid(root / "grid.toml")) == 16
    assert len(load_grid(root / "grid_shared.toml")) == 12


# --- the command, end to end on a sample league ------------------------------------------------------------------

GRID = """
[base]
source = "market"
books = ["sample_soft"]
sharp_book = "sample_sharp"
staking = "flat:1"
[axes]
min_edge = [0.0, 0.02, 0.05]
"""


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], list[str]]:
    """A 3-season sample league store and the environment a user's shell would have for it."""
    root = tmp_path_factory.mktemp("grid_store")
    settings = Settings(data_dir=root, database_url=f"sqlite:///{root / 'store.sqlite'}")
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    ingest_sample(engine, SampleLeagueConfig(n_teams=10, n_seasons=3, n_upcoming_matchdays=0))
    with engine.connect() as conn:
        seasons = sorted(str(r[0]) for r in conn.execute(text("SELECT name FROM seasons")))
    engine.dispose()
    (root / "grid.toml").write_text(GRID)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BETPIPE_") and k != "COLUMNS"}
    env |= {"BETPIPE_DATA_DIR": str(root), "BETPIPE_DATABASE_URL": settings.effective_database_url}
    return env, seasons


def _backtest(env: dict[str, str], seasons: list[str], out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    args = ["-c", "SAMPLE", "--from", seasons[1], "--to", seasons[2], "--untouched-from", seasons[2]]
    args += ["--grid", str(Path(env["BETPIPE_DATA_DIR"]) / "grid.toml"), "--out", str(out), "--no-store", *extra]
    return subprocess.run(
        [sys.executable, "-m", "betpipe", "backtest", *args],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_a_piped_grid_run_prints_the_table_and_verdict_only_and_its_files_match_in_process(
    sample: tuple[dict[str, str], list[str]], tmp_path: Path
) -> None:
    """On a local Dask cluster and piped: the answer on stdout, nothing on stderr (no bar, no Dask INFO line, no
    traceback); every file it writes is byte-identical to an in-process run's."""
    env, seasons = sample
    dask_run = _backtest(env, seasons, tmp_path / "dask")
    assert dask_run.returncode == 0, dask_run.stderr
    assert dask_run.stderr == ""
    out = dask_run.stdout
    assert "grid of 3 strategies, SAMPLE" in out
    assert "Romano-Wolf" in out
    assert "Verdict: Best on the tuning" in out
    for noise in ("INFO", "distributed", "Traceback", "backtest runs", " steps", "WARNING", "\x1b["):
        assert noise not in out
    local = _backtest(env, seasons, tmp_path / "local", "--in-process")
    assert local.returncode == 0, local.stderr
    written = sorted(p.name for p in (tmp_path / "dask").iterdir() if p.is_file())
    assert "grid.json" in written
    assert len([n for n in written if n.endswith(".json")]) == 4
    for name in written:
        assert (tmp_path / "dask" / name).read_bytes() == (tmp_path / "local" / name).read_bytes(), name
    grid = json.loads((tmp_path / "dask" / "grid.json").read_text())
    rows = grid["strategies"]
    ts = [r["tuning"]["t"] for r in rows]
    assert ts == sorted(ts, reverse=True)  # ranked by the tuning figure only
    assert grid["verdict"]["best"] == rows[0]["strategy"]
    assert grid["grid"]["tuning"] == seasons[1]
    assert grid["grid"]["untouched"] == seasons[2]
    for row in rows:  # the two periods split the strategy's own report's bets, nothing lost or counted twice
        report = json.loads((tmp_path / "dask" / f"{row['strategy'].replace('=', '_')}.json").read_text())
        assert row["tuning"]["clv_bets"] + row["untouched"]["clv_bets"] == report["verdict"]["clv_bets"]
        assert row["tuning"]["clv_bets"] > 0
        assert row["untouched"]["clv_bets"] > 0
        assert {"bets_to_detect_95", "without_top_1pct", "mean_clv_shin_close"} <= set(row["untouched"])


def test_on_a_terminal_the_bars_count_runs_and_steps_and_leave_nothing_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    """The callbacks ``run_many`` calls drive one bar over the runs and one per run in flight; off a terminal there
    are no callbacks at all (so a piped run pays nothing and prints nothing)."""
    import io

    from rich.console import Console

    from betpipe.backtest import BacktestSpec
    from betpipe.cli import backtest_output

    specs = [BacktestSpec(competitions=("E0",), first_season="2015-2016", last_season="2016-2017", min_edge=t)
             for t in (0.0, 0.02)]  # fmt: skip
    with backtest_output.run_progress(specs) as callbacks:
        assert callbacks == (None, None)  # pytest's stderr is no terminal
    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=120)
    monkeypatch.setattr(backtest_output, "error_console", terminal)
    with backtest_output.run_progress(specs) as (on_step, on_result):
        assert on_step is not None
        assert on_result is not None
        on_step(specs[0].run_id, 5, 10)
        on_result({"run_id": specs[0].run_id})
        on_step(specs[1].run_id, 10, 10)
        on_result({"run_id": specs[1].run_id})
    shown = screen.getvalue()
    assert "backtest runs (2)" in shown
    assert "steps" in shown
