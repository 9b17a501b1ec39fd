"""Benchmark: the dashboard's first page (Model health) rendered on a backtest ledger (target < 3 s on 2 cores).

Renders the Streamlit app headless with Streamlit's AppTest, as `betpipe dashboard` would serve it: the first run is
cold (empty caches, engines opened, every query run), the second is a rerun within the cache's time-to-live. The
ledger is the real shared-data backtest when ``BETPIPE_BENCH_DASHBOARD_LEDGERS`` names its ledger folder (and
``BETPIPE_BENCH_DASHBOARD_STORE`` the store URL), else a synthetic one of the same size (5,000 settled bets over
ten seasons in six leagues) in a temporary SQLite file. Also times the Betting page, the heaviest one (every chart
built by ``betpipe.charts``). Each row has wall seconds, this process's CPU seconds and the 1-minute load average.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import insert

from bench.bench_ingest import fresh_sqlite
from betpipe.db.schema_betting import bets
from betpipe.monitoring.dashboard import APP_PATH
from betpipe.monitoring.dashboard.common import ACCOUNT_ENV, LEDGER_URLS_ENV

Row = dict[str, object]
TARGET_SECONDS = 3.0
LEAGUES = ("E0", "E1", "SP1", "D1", "I1", "F1")


def _seed_ledger(url: str, n_bets: int) -> None:
    from betpipe.db import make_engine

    rng = np.random.default_rng(0)
    start = datetime(2013, 8, 9, 16, tzinfo=UTC)
    steps = np.sort(rng.integers(0, 3600, n_bets))  # decision steps, ~10 seasons of days
    price = rng.uniform(1.5, 6.0, n_bets)
    probability = np.clip(1 / price + rng.normal(0.02, 0.03, n_bets), 0.05, 0.95)
    won = rng.random(n_bets) < 1 / price
    stake = rng.integers(100, 2000, n_bets)
    rows = []
    for i in range(n_bets):
        placed = start + timedelta(days=int(steps[i]))
        pnl = round(float(stake[i]) * (float(price[i]) - 1)) if won[i] else -int(stake[i])
        rows.append(
            {
                "idempotency_key": f"bench:{i}",
                "account": f"backtest:{LEAGUES[i % 6]}",
                "event_id": i,
                "market": "1x2",
                "selection": ("home", "draw", "away")[i % 3],
                "line": 0.0,
                "requested_price_e4": int(price[i] * 10_000),
                "price_e4": int(price[i] * 10_000),
                "stake_cents": int(stake[i]),
                "probability": float(probability[i]),
                "edge": float(probability[i] * price[i] - 1),
                "book": "bet365",
                "strategy": "bench",
                "model_version": None,
                "competition": LEAGUES[i % 6],
                "kickoff": placed + timedelta(hours=22),
                "decision_time": placed,
                "state": "won" if won[i] else "lost",
                "created_at": placed,
                "placed_at": placed,
                "settled_at": placed + timedelta(days=3),
                "pnl_cents": pnl,
                "clv": float(rng.normal(-0.03, 0.05)),
            }
        )
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(insert(bets), rows)
    engine.dispose()


@contextmanager
def _environment(store_url: str, ledger_urls: list[str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in ("BETPIPE_DATABASE_URL", LEDGER_URLS_ENV, ACCOUNT_ENV)}
    os.environ["BETPIPE_DATABASE_URL"] = store_url
    os.environ[LEDGER_URLS_ENV] = "\n".join(ledger_urls)
    os.environ.pop(ACCOUNT_ENV, None)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _cpu() -> float:
    """User + system CPU of this process: AppTest runs the page in a thread here, so wall time on a shared machine
    says little without it."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _time_pages(case: str, store_url: str, ledger_urls: list[str]) -> list[Row]:
    from streamlit.testing.v1 import AppTest

    rows: list[Row] = []
    with _environment(store_url, ledger_urls):
        app = AppTest.from_file(str(APP_PATH), default_timeout=120)
        for run, page in (("cold", None), ("cached rerun", None), ("after the first page", "betting.py")):
            if page is not None:
                app.switch_page(page)
            started, cpu_before = time.perf_counter(), _cpu()
            app.run()
            seconds, cpu = time.perf_counter() - started, _cpu() - cpu_before
            if app.exception:
                raise RuntimeError(f"{case}: {app.exception[0].value}")
            shown = page or "model_health.py (first page)"
            first = page is None and run == "cold"
            rows.append(
                {
                    "benchmark": f"{case}: {shown}, {run}",
                    "seconds": seconds,
                    "cpu_s": cpu,
                    "load_1m": os.getloadavg()[0],
                    "target_s": TARGET_SECONDS if first else None,
                    "met": (seconds < TARGET_SECONDS) if first else None,
                }
            )
    return rows


def run(quick: bool = False) -> list[Row]:
    folder = os.environ.get("BETPIPE_BENCH_DASHBOARD_LEDGERS")
    store = os.environ.get("BETPIPE_BENCH_DASHBOARD_STORE")
    if folder and store:
        ledgers = [f"sqlite:///{p}" for p in sorted(Path(folder).glob("*.sqlite"))]
        return _time_pages(f"backtest ledgers ({len(ledgers)} files)", store, ledgers)
    with fresh_sqlite() as engine:
        url = str(engine.url)
        _seed_ledger(url, 1_000 if quick else 5_000)
        return _time_pages("synthetic backtest ledger", url, [url])
