"""Issue 14.1 at the money path: in a backtest over date-only football-data files, a Friday game's result (placeholder
kickoff 15:00 UK, really an evening game) must not count at the Friday 17:00 UK step where the weekend is decided:
not through a refit, not through the bankroll (settling a bet on it), not through features.

Two stores are built from the same synthetic football-data CSVs except for that one Friday result; every stake
decided at that step must be the same to the cent, and stakes decided after the game must not (the probe has teeth).
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from betpipe.backtest import UNCAPPED_LIMITS, BacktestSpec, run
from betpipe.config import Settings
from betpipe.db import make_engine, upgrade
from betpipe.ingest.football_data import ingest_football_data

TEAMS = [f"Club {c}" for c in "ABCDEFGHIJ"]
HEADER = "Div,Date,HomeTeam,AwayTeam,FTHG,FTAG,FTR,B365H,B365D,B365A,PSH,PSD,PSA,PSCH,PSCD,PSCA"
SEASONS = (2016, 2017)
TARGET_ROUND = 6  # 2017-18's seventh weekend: Friday 22 Sep 2017, BST


def _rounds(n: int) -> list[list[tuple[int, int]]]:
    """A double round robin by the circle method: 2(n-1) rounds of n/2 games."""
    teams = list(range(n))
    single = []
    for _ in range(n - 1):
        single.append([(teams[i], teams[n - 1 - i]) for i in range(n // 2)])
        teams = [teams[0], teams[-1], *teams[1:-1]]
    return single + [[(away, home) for home, away in games] for games in single]


def _probabilities(home_rate: float, away_rate: float) -> np.ndarray:  # type: ignore[type-arg]
    goals = np.arange(11)
    factorial = np.cumprod(np.concatenate([[1.0], goals[1:]]))
    home = np.exp(-home_rate) * home_rate**goals / factorial
    away = np.exp(-away_rate) * away_rate**goals / factorial
    grid = np.outer(home, away)
    p = np.array([np.tril(grid, -1).sum(), np.trace(grid), np.triu(grid, 1).sum()])
    return p / p.sum()


def _prices(p: np.ndarray, margin: float, noise: float, rng: np.random.Generator) -> list[str]:  # type: ignore[type-arg]
    quoted = 1.0 / (p * (1.0 + margin)) * np.exp(rng.normal(0.0, noise, 3))
    return [f"{max(q, 1.01):.2f}" for q in quoted]


def write_seasons(root: Path, *, friday_result: tuple[int, int] | None = None) -> date:
    """Two seasons of date-only E0 files under ``root``; returns the target Friday. ``friday_result`` replaces the
    score of the target weekend's Friday game (everything else, prices included, is the same)."""
    rng = np.random.default_rng(7)
    strength = rng.normal(0.0, 0.35, len(TEAMS))
    target = date(1900, 1, 1)
    for year in SEASONS:
        first_friday = date(year, 8, 1) + timedelta(days=(4 - date(year, 8, 1).weekday()) % 7 + 7)
        lines = [HEADER]
        for r, games in enumerate(_rounds(len(TEAMS))):
            friday = first_friday + timedelta(days=7 * r)
            for g, (home, away) in enumerate(games):
                day = friday if g == 0 else friday + timedelta(days=1)
                rates = (1.45 * np.exp(strength[home] - strength[away]), 1.15 * np.exp(strength[away] - strength[home]))
                p = _probabilities(*rates)
                hg, ag = int(rng.poisson(rates[0])), int(rng.poisson(rates[1]))
                book, sharp, close = (
                    _prices(p, 0.05, 0.07, rng),
                    _prices(p, 0.025, 0.03, rng),
                    _prices(p, 0.02, 0.01, rng),
                )
                if year == SEASONS[-1] and r == TARGET_ROUND and g == 0:
                    target = friday
                    hg, ag = friday_result or (hg, ag)
                ftr = "H" if hg > ag else ("D" if hg == ag else "A")
                fields = ["E0", day.strftime("%d/%m/%Y"), TEAMS[home], TEAMS[away], str(hg), str(ag), ftr]
                lines.append(",".join([*fields, *book, *sharp, *close]))
        folder = root / "E0"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{year}-{year + 1}.csv").write_text("\n".join(lines) + "\n")
    return target


def backtest(root: Path, *, friday_result: tuple[int, int] | None) -> tuple[pl.DataFrame, date]:
    """Ingest the files into a fresh store and data dir under ``root``, then walk 2017-18 forward: blend, Kelly, a
    refit at every step (0.1 day apart at least), limits lifted so that only the bankroll and the model move stakes."""
    friday = write_seasons(root / "csv", friday_result=friday_result)
    settings = Settings(data_dir=root / "data", database_url=f"sqlite:///{root / 'store.sqlite'}")
    engine = make_engine(settings.effective_database_url)
    try:
        upgrade(engine)
        report = ingest_football_data(engine, [root / "csv"])
        assert report.quarantined == 0
        spec = BacktestSpec(
            competitions=("E0",),
            first_season="2017-2018",
            last_season="2017-2018",
            strategy="blend",
            model="elo_logit",
            staking="kelly:0.25",
            min_edge=0.0,
            refit_days=0.1,  # a refit at every step, the Friday 17:00 UK one included
            limits=UNCAPPED_LIMITS,
        )
        bets = run(spec, engine=engine, settings=settings, ledger_path=root / "ledger.sqlite").bets
    finally:
        engine.dispose()
    return bets, friday


def _friday_game(root: Path) -> tuple[int, int]:
    """The honest score of the target Friday game, read back from the file written."""
    frame = pl.read_csv(root / "csv" / "E0" / f"{SEASONS[-1]}-{SEASONS[-1] + 1}.csv")
    friday = frame.filter(pl.col("Date").str.to_date("%d/%m/%Y").dt.weekday() == 5)[TARGET_ROUND]
    return int(friday["FTHG"].item()), int(friday["FTAG"].item())


def _friday_step(friday: date) -> pl.Expr:
    """Bets decided at the Friday 17:00 UK step (16:00 UTC in BST)."""
    decided = pl.col("decided_at").dt.convert_time_zone("Europe/London")
    return (decided.dt.date() == friday) & (decided.dt.hour() == 17)


@pytest.fixture(scope="module")
def honest(tmp_path_factory: pytest.TempPathFactory) -> tuple[pl.DataFrame, date]:
    root = tmp_path_factory.mktemp("honest")
    bets, friday = backtest(root, friday_result=None)
    assert _friday_game(root) == (1, 0)  # the perturbations below change the outcome, not just the margin
    return bets, friday


@pytest.mark.parametrize("friday_result", [(0, 5), (2, 2)])  # away win: bankroll and refit move; draw: refit only
def test_a_date_only_friday_result_moves_no_stake_decided_at_that_fridays_step(
    honest: tuple[pl.DataFrame, date], tmp_path: Path, friday_result: tuple[int, int]
) -> None:
    changed, friday = backtest(tmp_path, friday_result=friday_result)
    assert friday == honest[1]
    assert friday.weekday() == 4
    columns = ["event_id", "selection", "price", "stake", "decided_at"]
    frames = (honest[0], changed)
    at_step = [frame.filter(_friday_step(friday)).select(columns).sort("event_id", "selection") for frame in frames]
    assert at_step[0].height >= 3, "the Friday step must place bets for the probe to mean anything"
    assert at_step[0].equals(at_step[1]), "a stake decided at the Friday 17:00 UK step moved with that Friday's result"
    later = pl.col("decided_at").dt.date() > friday + timedelta(days=2)
    after = [frame.filter(later).select(columns).sort("event_id", "selection") for frame in frames]
    assert not after[0].equals(after[1]), "the changed result must move later stakes (refits, bankroll, features)"
