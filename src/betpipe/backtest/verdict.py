"""The honest verdict on a strategy's settled bets, beside the summary: how many bets the observed CLV needs before
it is told from zero, what is left without the luckiest 1 % of bets, CLV against the Shin close beside the
multiplicative one, and the bets and CLV per book (line shopping shows where the edge was taken).

Pure functions of the report's bets frame; intervals are the protocol's bootstrap (2,000 resamples, seed 0).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl

from betpipe.backtest.report import SETTLED_STATES, Interval
from betpipe.modeling.metrics import bootstrap_mean_ci

__all__ = ["Z_80_POWER", "Z_95", "bets_to_detect", "verdict"]

Z_95 = 1.959964
Z_80_POWER = 0.841621
TOP_SHARE = 0.01


def _ci(values: np.ndarray[Any, Any]) -> dict[str, float] | None:
    return None if values.size == 0 else Interval.of(bootstrap_mean_ci(values)[0]).__dict__


def bets_to_detect(mean: float, sd: float, *, power: float = 0.0) -> int | None:
    """Bets for a two-sided 95 % test to tell a mean CLV of ``mean`` (per-bet sd ``sd``) from zero: the 95 % CI's
    half-width reaches ``|mean|`` at ``(1.96 sd / mean)^2``; with ``power`` = Z_80_POWER, at 80 % power."""
    if mean == 0 or not math.isfinite(mean) or not math.isfinite(sd) or sd <= 0:
        return None
    return math.ceil(((Z_95 + power) * sd / abs(mean)) ** 2)


def _clv(frame: pl.DataFrame, column: str) -> np.ndarray[Any, Any]:
    if column not in frame.columns:
        return np.zeros(0)
    return frame.get_column(column).drop_nulls().drop_nans().to_numpy().astype(np.float64)


def verdict(bets: pl.DataFrame) -> dict[str, Any]:
    """The verdict figures of ``bets`` (report.BETS_SCHEMA rows; settled ones count)."""
    settled = bets.filter(pl.col("state").is_in(SETTLED_STATES))
    clv = _clv(settled, "clv")
    mean = float(clv.mean()) if clv.size else float("nan")
    sd = float(clv.std(ddof=1)) if clv.size > 1 else float("nan")
    cut = math.ceil(TOP_SHARE * clv.size)
    trimmed = np.sort(clv)[: clv.size - cut] if clv.size else clv
    per_book: dict[str, Any] = {}
    if "book" in settled.columns:
        for book in sorted(settled.get_column("book").drop_nulls().unique().to_list()):
            values = _clv(settled.filter(pl.col("book") == book), "clv")
            per_book[str(book)] = {"bets": int(settled.filter(pl.col("book") == book).height), "mean_clv": _ci(values)}
    return {
        "clv_bets": int(clv.size),
        "mean_clv": _ci(clv),
        "clv_sd": None if not math.isfinite(sd) else sd,
        "bets_to_detect_95": bets_to_detect(mean, sd) if clv.size > 1 else None,
        "bets_to_detect_95_power_80": bets_to_detect(mean, sd, power=Z_80_POWER) if clv.size > 1 else None,
        "without_top_1pct": {"dropped": cut, "mean_clv": _ci(trimmed)},
        "mean_clv_shin_close": _ci(_clv(settled, "clv_shin")),
        "per_book": per_book,
        "method": (
            "bets_to_detect_95 = ceil((1.96 sd / mean)^2), the count at which the 95% CI half-width equals the "
            "observed mean CLV; _power_80 adds 0.84 to 1.96. without_top_1pct drops the ceil(1%) highest-CLV bets. "
            "Shin close: CLV = price x Shin-fair closing probability - 1."
        ),
    }
