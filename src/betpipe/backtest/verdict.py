"""The honest verdict on a strategy's settled bets, beside the summary: how many bets the observed CLV needs before
it is told from zero, what is left without the luckiest 1 % of bets, CLV against the Shin close beside the
multiplicative one, and the bets and CLV per book (line shopping shows where the edge was taken).

Pure functions of the report's bets frame; intervals are the protocol's bootstrap (2,000 resamples, seed 0).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from numpy.typing import NDArray

from betpipe.backtest.report import SETTLED_STATES, Interval
from betpipe.modeling.metrics import BOOTSTRAP_RESAMPLES, bootstrap_mean_ci

__all__ = [
    "ADJUSTMENT_METHOD",
    "ADJUSTMENT_SHORT",
    "Z_80_POWER",
    "Z_95",
    "GridAdjustment",
    "bets_to_detect",
    "romano_wolf",
    "verdict",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
_CHUNK = 100

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


def verdict(bets: pl.DataFrame, *, per_book: bool = True) -> dict[str, Any]:
    """The verdict figures of ``bets`` (report.BETS_SCHEMA rows; settled ones count); ``per_book`` False skips the
    per-book split (a grid's period tables, where each strategy's report already has it)."""
    settled = bets.filter(pl.col("state").is_in(SETTLED_STATES))
    clv = _clv(settled, "clv")
    mean = float(clv.mean()) if clv.size else float("nan")
    sd = float(clv.std(ddof=1)) if clv.size > 1 else float("nan")
    cut = math.ceil(TOP_SHARE * clv.size)
    trimmed = np.sort(clv)[: clv.size - cut] if clv.size else clv
    books: dict[str, Any] = {}
    if per_book and "book" in settled.columns:
        for book in sorted(settled.get_column("book").drop_nulls().unique().to_list()):
            values = _clv(settled.filter(pl.col("book") == book), "clv")
            books[str(book)] = {"bets": int(settled.filter(pl.col("book") == book).height), "mean_clv": _ci(values)}
    return {
        "clv_bets": int(clv.size),
        "mean_clv": _ci(clv),
        "clv_sd": None if not math.isfinite(sd) else sd,
        "bets_to_detect_95": bets_to_detect(mean, sd) if clv.size > 1 else None,
        "bets_to_detect_95_power_80": bets_to_detect(mean, sd, power=Z_80_POWER) if clv.size > 1 else None,
        "without_top_1pct": {"dropped": cut, "mean_clv": _ci(trimmed)},
        "mean_clv_shin_close": _ci(_clv(settled, "clv_shin")),
        "per_book": books,
        "method": (
            "bets_to_detect_95 = ceil((1.96 sd / mean)^2), the count at which the 95% CI half-width equals the "
            "observed mean CLV; _power_80 adds 0.84 to 1.96. without_top_1pct drops the ceil(1%) highest-CLV bets. "
            "Shin close: CLV = price x Shin-fair closing probability - 1."
        ),
    }


ADJUSTMENT_METHOD = (
    "Romano-Wolf step-down max-t bootstrap over the grid's strategies on the tuning seasons: t = mean CLV / its "
    "bootstrap standard error; 2,000 resamples of events (the union of every strategy's bet events, so strategies "
    "that bet the same matches move together), seed 0; one-sided H0: mean CLV <= 0; an adjusted p < 0.05 controls "
    "the chance of any false 'edge' among all strategies tried at 5 %."
)

ADJUSTMENT_SHORT = (
    "Romano-Wolf step-down max-t bootstrap over all strategies tried (tuning seasons; 2,000 event resamples, seed 0; "
    "one-sided, H0: mean CLV <= 0)"
)


@dataclass(frozen=True)
class GridAdjustment:
    """Per strategy (input order): tuning mean CLV, its bootstrap standard error, t, the single-test bootstrap p and
    the Romano-Wolf adjusted p (nan where a strategy has fewer than 2 bets or no spread)."""

    mean: FloatArray
    se: FloatArray
    t: FloatArray
    p_single: FloatArray
    p_adjusted: FloatArray


def _event_sums(event_ids: Sequence[IntArray], clv: Sequence[FloatArray]) -> tuple[FloatArray, FloatArray]:
    """(strategies, events) matrices of CLV sums and bet counts over the union of the strategies' events."""
    union = np.unique(np.concatenate([np.asarray(e, dtype=np.int64) for e in event_ids] or [np.zeros(0, np.int64)]))
    sums = np.zeros((len(event_ids), union.size))
    counts = np.zeros((len(event_ids), union.size))
    for k, (events, values) in enumerate(zip(event_ids, clv, strict=True)):
        where = np.searchsorted(union, np.asarray(events, dtype=np.int64))
        sums[k] = np.bincount(where, weights=np.asarray(values, dtype=np.float64), minlength=union.size)
        counts[k] = np.bincount(where, minlength=union.size)
    return sums, counts


def romano_wolf(
    event_ids: Sequence[IntArray],
    clv: Sequence[FloatArray],
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
) -> GridAdjustment:
    """Multiple-testing-adjusted p-values of "mean CLV > 0" for K strategies whose bets fall on shared events.

    The best of many strategies looks good by chance; the max-t bootstrap asks how large the largest centred t over
    all K strategies gets when no strategy has an edge, so picking the best costs what trying K of them costs. The
    step-down (Romano and Wolf, 2005) then tests the rest against the max over those not yet rejected. Resampling
    events, not bets, keeps the dependence between strategies that bet the same matches."""
    sums, counts = _event_sums(event_ids, clv)
    k, n_events = sums.shape
    total = counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sums.sum(axis=1) / total
    boot = np.full((resamples, k), np.nan)
    if n_events:
        rng = np.random.default_rng(seed)
        for start in range(0, resamples, _CHUNK):
            size = min(_CHUNK, resamples - start)
            draws = rng.integers(0, n_events, size=(size, n_events)) + np.arange(size)[:, None] * n_events
            weights = np.bincount(draws.ravel(), minlength=size * n_events).reshape(size, n_events).astype(float)
            with np.errstate(invalid="ignore", divide="ignore"):
                boot[start : start + size] = (weights @ sums.T) / (weights @ counts.T)
    valid = (total >= 2) & np.isfinite(mean)
    se = np.full(k, np.nan)
    if valid.any():
        se[valid] = np.nanstd(boot[:, valid], axis=0, ddof=1)
    valid &= np.isfinite(se) & (se > 0)
    t = np.where(valid, mean / np.where(valid, se, 1.0), np.nan)
    centred = np.where(valid, (boot - mean) / np.where(valid, se, 1.0), -np.inf)
    centred = np.where(np.isfinite(centred), centred, -np.inf)  # a resample without a strategy's bets: no evidence
    p_single = np.where(valid, ((centred >= t).sum(axis=0) + 1.0) / (resamples + 1.0), np.nan)
    p_adjusted = np.full(k, np.nan)
    order = np.flatnonzero(valid)[np.argsort(-t[valid], kind="stable")]
    if order.size:
        remaining_max = np.maximum.accumulate(centred[:, order][:, ::-1], axis=1)[:, ::-1]
        p_step = ((remaining_max >= t[order]).sum(axis=0) + 1.0) / (resamples + 1.0)
        p_adjusted[order] = np.maximum.accumulate(p_step)
    return GridAdjustment(mean=mean, se=se, t=t, p_single=p_single, p_adjusted=p_adjusted)
