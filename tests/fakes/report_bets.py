"""A backtest's bets frame (``report.BETS_SCHEMA`` plus ``reason``) without running a backtest: deterministic by
seed, two competitions over two seasons, a few refusals and voids, for the report, table and chart tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from betpipe.backtest.report import BETS_SCHEMA

REFUSALS = {
    "single_stake: stake 40.00 above the maximum 25.00": 3,
    "single_stake: stake 31.50 above the maximum 25.00": 2,
    "daily_loss: today's loss 120.00 reached the limit 100.00": 4,
    "event: 3 bets on event 17 already": 1,
}


def bets_frame(n: int = 400, *, seed: int = 0, clv_shift: float = 0.02) -> pl.DataFrame:
    """``n`` settled bets at flat 10.00 stakes, one every ~1.8 days from 1 Aug 2022, plus two rejected rows."""
    rng = np.random.default_rng(seed)
    start = datetime(2022, 8, 1, 15, tzinfo=UTC)
    price = rng.uniform(1.6, 4.0, n).round(2)
    probability = np.clip(1 / price + rng.normal(0.02, 0.02, n), 0.05, 0.95)
    won = rng.uniform(size=n) < probability
    state = np.where(won, "won", "lost")
    state[::97] = "void"
    pnl = np.where(state == "won", 10.0 * (price - 1), np.where(state == "void", 0.0, -10.0))
    kickoff = [start + timedelta(hours=int(h)) for h in np.sort(rng.uniform(0, 24 * 1.8 * n, n))]
    rows = {
        "bet_id": list(range(1, n + 1)),
        "event_id": [1000 + i // 2 for i in range(n)],
        "competition": ["E0" if i % 3 else "D1" for i in range(n)],
        "selection": [("home", "draw", "away")[i % 3] for i in range(n)],
        "price": price.tolist(),
        "stake": [10.0] * n,
        "probability": probability.tolist(),
        "edge": (probability * price - 1).tolist(),
        "state": state.tolist(),
        "pnl": pnl.tolist(),
        "clv": rng.normal(clv_shift, 0.05, n).tolist(),
        "decided_at": [k - timedelta(days=2) for k in kickoff],
        "kickoff_utc": kickoff,
        "settled_at": [k + timedelta(hours=2) for k in kickoff],
    }
    optional = {"book": [("bet365", "williamhill")[i % 2] for i in range(n)], "clv_shin": rows["clv"]}
    rows |= {k: v for k, v in optional.items() if k in BETS_SCHEMA}  # columns a newer ledger read carries
    frame = pl.DataFrame(rows).with_columns(pl.lit(None, dtype=pl.Utf8).alias("reason"))
    rejected = frame.head(2).with_columns(
        pl.Series("bet_id", [n + 1, n + 2]),
        pl.lit("rejected").alias("state"),
        pl.lit(None, dtype=pl.Float64).alias("pnl"),
        pl.lit(None, dtype=pl.Float64).alias("clv"),
        pl.lit(None, dtype=pl.Datetime("us", "UTC")).alias("settled_at"),
        pl.lit("single_stake: stake 40.00 above the maximum 25.00").alias("reason"),
    )
    out = pl.concat([frame, rejected], how="vertical_relaxed")
    return out.select([pl.col(c).cast(t) for c, t in BETS_SCHEMA.items()] + [pl.col("reason")])
