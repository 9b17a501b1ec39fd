"""The backtest's CLV against a figure computed independently from the real CSVs (../shared/data), on a subset (E0 and
D1, 2015-16 .. 2018-19): the truth check of EVALUATION.md's reference strategy, small enough to run in a test.

The independent side reads the files with the csv module and numpy only (no betpipe code): rows with Pinnacle
pre-match and closing and Bet365 pre-match 1X2 prices all > 1, multiplicative fair probabilities, every selection with
Bet365 x fair Pinnacle pre-match - 1 > t, CLV = Bet365 price x fair Pinnacle close - 1. The backtest side goes through
ingest, the feature build, the pre-match time rule, ``betting.strategy.decide``, the ledger and settlement.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from betpipe.backtest import UNCAPPED_LIMITS, BacktestSpec, run
from betpipe.config import Settings
from betpipe.db import make_engine, upgrade
from betpipe.features import build_features
from betpipe.ingest.football_data import ingest_football_data

pytestmark = [pytest.mark.shared_data, pytest.mark.slow]

LEAGUES = ("E0", "D1")
SEASONS = ("2015-2016", "2016-2017", "2017-2018", "2018-2019")
TIE = 1e-9  # an edge this close to the threshold is a floating-point tie: either side may bet it


@dataclass(frozen=True)
class Independent:
    edges: NDArray[np.float64]  # (matches, 3) Bet365 x fair Pinnacle pre-match - 1
    clv: NDArray[np.float64]  # (matches, 3) Bet365 x fair Pinnacle close - 1

    def bets(self, t: float) -> NDArray[np.float64]:
        return np.sort(self.clv[self.edges > t])

    def ties(self, t: float) -> int:
        return int((np.abs(self.edges - t) < TIE).sum())


def _files(shared: Path) -> list[Path]:
    files = [shared / "football-data" / league / f"{season}.csv" for league in LEAGUES for season in SEASONS]
    missing = [f for f in files if not f.is_file()]
    if missing:
        pytest.skip(f"shared football-data files missing: {', '.join(str(m) for m in missing)}")
    return files


def _number(row: dict[str, str], column: str) -> float:
    try:
        return float(row.get(column) or "nan")
    except ValueError:
        return float("nan")


def _independent(files: list[Path]) -> Independent:
    rows = []
    for path in files:
        text = path.read_bytes().decode("utf-8-sig", errors="replace")
        for row in csv.DictReader(io.StringIO(text)):
            if not (row.get("Div") or "").strip():
                continue
            columns = ("PSH", "PSD", "PSA", "PSCH", "PSCD", "PSCA", "B365H", "B365D", "B365A")
            prices = [_number(row, c) for c in columns]
            if all(p > 1.0 for p in prices):
                rows.append(prices)
    table = np.asarray(rows, dtype=np.float64)
    pre, close, bet365 = 1.0 / table[:, 0:3], 1.0 / table[:, 3:6], table[:, 6:9]
    pre /= pre.sum(axis=1, keepdims=True)
    close /= close.sum(axis=1, keepdims=True)
    return Independent(edges=bet365 * pre - 1.0, clv=bet365 * close - 1.0)


@dataclass
class Store:
    settings: Settings
    files: list[Path]


@pytest.fixture(scope="module")
def store(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Store:
    files = _files(shared_data)
    root = tmp_path_factory.mktemp("shared_backtest")
    settings = Settings(data_dir=root, database_url=f"sqlite:///{root / 'store.sqlite'}")
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    ingest_football_data(engine, files)
    build_features(engine, sport="soccer", settings=settings)
    engine.dispose()
    return Store(settings, files)


@pytest.mark.parametrize("t", [0.0, 0.02])
def test_reference_strategy_clv_matches_an_independent_computation_from_the_csvs(
    store: Store, tmp_path: Path, t: float
) -> None:
    """Pinnacle-fair value at Bet365, flat 1: the same bets (up to float ties at the threshold) and the same CLVs.

    Guards the whole money path's CLV (time rule, margin removal, settlement, ledger rounding) against a figure that
    shares none of its code; a pre-match price wrongly treated as late would show up as missing bets here.
    """
    truth = _independent(store.files)
    spec = BacktestSpec(
        competitions=LEAGUES,
        first_season=SEASONS[0],
        last_season=SEASONS[-1],
        book="bet365",
        strategy="market",
        staking="flat:1,simultaneous",
        min_edge=t,
        limits=UNCAPPED_LIMITS,
    )
    engine = make_engine(store.settings.effective_database_url)
    try:
        result = run(spec, engine=engine, settings=store.settings, ledger_path=tmp_path / "ledger.sqlite")
    finally:
        engine.dispose()
    expected = truth.bets(t)
    got = np.sort(result.bets.get_column("clv").drop_nulls().to_numpy().astype(np.float64))
    assert expected.size > 300
    assert abs(got.size - expected.size) <= truth.ties(t)
    assert abs(got.mean() - expected.mean()) < 1e-4
    if got.size == expected.size:
        np.testing.assert_allclose(got, expected, atol=1e-9)
    assert result.bets.get_column("state").is_in(["won", "lost"]).all()
