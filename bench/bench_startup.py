"""Benchmark: CPU time of starting the CLI, ``betpipe --help`` and ``betpipe bets list`` (target < 0.3 s each).

Each command runs in a fresh interpreter, as a shell starts it; CPU is user + system time of the child from
``resource.getrusage(RUSAGE_CHILDREN)``, so it counts every thread and does not stretch with the wall clock on a
busy machine the way wall time does (it still grows somewhat under contention: the 1-minute load average before and
after each row is recorded next to it). Compiled bytecode is kept in a temporary ``PYTHONPYCACHEPREFIX`` and warmed
once, as an installed package has it (``PYTHONDONTWRITEBYTECODE`` would otherwise make every run compile every module
it imports). ``python -c pass`` is the floor. Tables are drawn at ``COLUMNS=100``.

``bets list`` runs on two migrated SQLite stores in a temporary directory: an empty one, and one whose paper ledger
holds 60 bets on 60 matches (placed through ``betting.place_bets``), of which it prints the default 50. The
environment keeps only ``BETPIPE_DATA_DIR`` of the ``BETPIPE_*`` variables and the working directory has no
``betpipe.toml``: the case where the CLI reads its few settings without pydantic-settings (``cli/_settings``). The
last row sets one more setting, so the full ``Settings`` is built, as with any further configuration.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

TARGET_CPU_SECONDS = 0.3
LEDGER_BETS = 60
CLUBS = (
    "Wolverhampton Wanderers", "Brighton & Hove Albion", "Nottingham Forest", "Sheffield United", "Manchester City",
    "Crystal Palace", "Tottenham Hotspur", "West Ham United", "Newcastle United", "Borussia Mönchengladbach",
    "Athletic Bilbao", "Real Sociedad",
)  # fmt: skip


def _run_once(args: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False, cwd=cwd)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args[1:])} failed: {done.stderr.strip()[-300:]}")
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, wall


def _fill_ledger(data_dir: Path) -> None:
    """``LEDGER_BETS`` paper bets, one per match, through the ledger's own ``place_bets`` (limits widened)."""
    from sqlalchemy import insert

    from betpipe.betting import BetCandidate, PaperBook, RiskLimits, place_bets
    from betpipe.clock import FixedClock
    from betpipe.db import make_engine
    from betpipe.db.schema import competitions, events, teams

    first = datetime(2025, 3, 1, 15, 0, tzinfo=UTC)
    engine = make_engine(f"sqlite:///{(data_dir / 'betpipe.sqlite').as_posix()}")
    with engine.begin() as conn:
        conn.execute(insert(competitions), [{"id": 1, "sport": "soccer", "code": "E0", "name": "Premier League"}])
        conn.execute(insert(teams), [{"id": i, "sport": "soccer", "name": n} for i, n in enumerate(CLUBS, 1)])
        conn.execute(
            insert(events),
            [
                {"id": i, "natural_key": f"bench-{i}", "sport": "soccer", "competition_id": 1, "status": "scheduled"}
                | {"kickoff_utc": first + timedelta(hours=6 * i), "kickoff_time_known": True, "neutral_site": False}
                | {"home_team_id": i % len(CLUBS) + 1, "away_team_id": (i + 5) % len(CLUBS) + 1, "source": "bench"}
                for i in range(1, LEDGER_BETS + 1)
            ],
        )
    bets = [
        BetCandidate(
            event_id=i, market="1x2" if i % 3 else "asian_handicap", selection=("home", "draw", "away")[i % 3],
            line=0.0 if i % 3 else -0.5, price=Decimal("2.10") + Decimal(i) / 100, probability=0.5,
            stake=Decimal("5.00") + Decimal(i) / 10, book="paper", strategy="bench", model_version=1,
            decision_time=first - timedelta(days=1), competition="E0", kickoff=first + timedelta(hours=6 * i),
        )
        for i in range(1, LEDGER_BETS + 1)
    ]  # fmt: skip
    wide = Decimal(1_000_000)
    limits = RiskLimits(
        starting_bankroll=wide, max_stake=wide, max_open_exposure=wide, max_event_exposure=wide,
        max_competition_exposure=wide, daily_loss_limit=wide, max_bets_per_day=10 * LEDGER_BETS,
        bankroll_floor=Decimal(0), max_price_age_seconds=10 * 365 * 86400.0,
    )  # fmt: skip
    placed = place_bets(
        engine, bets, account="paper", book=PaperBook(), clock=FixedClock(first - timedelta(days=1)), limits=limits
    )
    engine.dispose()
    if sum(1 for result in placed if result.state == "placed") != LEDGER_BETS:
        raise RuntimeError(f"the bench ledger took {[(r.state, r.reason) for r in placed]}")


def _row(label: str, args: list[str], env: dict[str, str], cwd: Path, repeats: int) -> dict[str, object]:
    _run_once(args, env, cwd)  # warm: bytecode compiled, files in the page cache
    load_before = os.getloadavg()[0]
    samples = [_run_once(args, env, cwd) for _ in range(repeats)]
    cpu = [c for c, _ in samples]
    return {
        "benchmark": label,
        "runs": repeats,
        "cpu min s": round(min(cpu), 3),
        "cpu median s": round(statistics.median(cpu), 3),
        "wall median s": round(statistics.median(w for _, w in samples), 3),
        "target cpu s": None if "floor" in label else TARGET_CPU_SECONDS,
        "load 1 min before": round(load_before, 2),
        "load 1 min after": round(os.getloadavg()[0], 2),
    }


def run(quick: bool = False) -> list[dict[str, object]]:
    repeats = 5 if quick else 15
    with tempfile.TemporaryDirectory(prefix="betpipe-bench-startup-") as name:
        tmp = Path(name)
        base = {key: value for key, value in os.environ.items() if not key.lower().startswith("betpipe_")}
        base.pop("PYTHONDONTWRITEBYTECODE", None)
        base |= {"PYTHONPYCACHEPREFIX": str(tmp / "pyc"), "COLUMNS": "100"}
        empty, ledger = ({**base, "BETPIPE_DATA_DIR": str(tmp / store)} for store in ("empty", "ledger"))
        cli = [sys.executable, "-m", "betpipe"]
        for env in (empty, ledger):
            _run_once([*cli, "db", "upgrade"], env, tmp)
        _fill_ledger(tmp / "ledger")
        configured = {**ledger, "BETPIPE_RISK__MAX_STAKE": "50.00"}  # the default, but set: Settings reads it
        return [
            _row("python -c pass (floor)", [sys.executable, "-c", "pass"], empty, tmp, repeats),
            _row("betpipe --help", [*cli, "--help"], empty, tmp, repeats),
            _row("betpipe bets list (empty store)", [*cli, "bets", "list"], empty, tmp, repeats),
            _row(f"betpipe bets list (50 of {LEDGER_BETS} bets)", [*cli, "bets", "list"], ledger, tmp, repeats),
            _row("betpipe bets list --limit 5", [*cli, "bets", "list", "--limit", "5"], ledger, tmp, repeats),
            _row("betpipe bets list (50 bets, one more setting)", [*cli, "bets", "list"], configured, tmp, repeats),
        ]


if __name__ == "__main__":  # pragma: no cover
    for row in run(quick="--quick" in sys.argv):
        print(row)
