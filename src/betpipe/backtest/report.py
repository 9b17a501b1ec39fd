"""The verdict on a backtest's settled bets: ROI, yield, CLV, drawdown, hit rate, bootstrap intervals, and the
paired CLV difference of two strategies, as ../shared/EVALUATION.md's betting section asks.

Pure functions of a bets frame (one row per placed bet, as read back from the ledger). Never re-grades or re-prices a
bet: P&L and CLV are the ledger's own numbers, so the report cannot disagree with the books it summarises.
Bootstrap intervals use 2,000 resamples of bets with seed 0, the protocol's, via ``betpipe.modeling.metrics``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import polars as pl
from numpy.typing import NDArray

from betpipe.modeling.metrics import BOOTSTRAP_RESAMPLES, BootstrapCI, bootstrap_mean_ci

__all__ = [
    "BETS_SCHEMA",
    "SETTLED_STATES",
    "Interval",
    "StrategySummary",
    "bankroll_curve",
    "equal_count_clv_difference",
    "paired_clv_difference",
    "summarise",
]

FloatArray = NDArray[np.float64]
SETTLED_STATES = ("won", "lost", "void", "half_won", "half_lost")
_CHUNK = 100

BETS_SCHEMA: dict[str, Any] = {
    "bet_id": pl.Int64,
    "event_id": pl.Int64,
    "competition": pl.Utf8,
    "selection": pl.Utf8,
    "price": pl.Float64,
    "stake": pl.Float64,
    "probability": pl.Float64,
    "edge": pl.Float64,
    "state": pl.Utf8,
    "pnl": pl.Float64,
    "clv": pl.Float64,
    "decided_at": pl.Datetime("us", "UTC"),
    "kickoff_utc": pl.Datetime("us", "UTC"),
    "settled_at": pl.Datetime("us", "UTC"),
    "book": pl.Utf8,
    "clv_shin": pl.Float64,
}
"""Stakes and P&L as floats here only for statistics; the ledger keeps them exact (integer cents)."""


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float

    @classmethod
    def of(cls, ci: BootstrapCI) -> Interval:
        return cls(ci.mean, ci.low, ci.high)

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0.0 or self.high < 0.0


@dataclass(frozen=True)
class StrategySummary:
    """One strategy's figures. ``yield_`` is profit per unit staked (EVALUATION.md's "ROI" for flat stakes);
    ``roi`` is profit over the starting bankroll (return on capital, what a compounding stake plan is judged by)."""

    bets: int
    events: int
    turnover: float
    profit: float
    roi: Interval | None
    yield_: Interval | None
    hit_rate: float | None
    mean_clv: Interval | None
    clv_bets: int
    clv_positive_share: float | None
    max_drawdown: float
    max_drawdown_amount: float
    final_bankroll: float
    rejected: int
    rejection_reasons: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["yield"] = out.pop("yield_")
        return out


def _ratio_ci(numerator: FloatArray, denominator: FloatArray, *, scale: float | None, seed: int = 0) -> Interval:
    """Bootstrap of sum(num)/sum(den) over resampled bets (or sum(num)/scale when ``scale`` is given)."""
    rows = numerator.size
    rng = np.random.default_rng(seed)
    values = np.empty(BOOTSTRAP_RESAMPLES, dtype=np.float64)
    for start in range(0, BOOTSTRAP_RESAMPLES, _CHUNK):
        size = min(_CHUNK, BOOTSTRAP_RESAMPLES - start)
        idx = rng.integers(0, rows, size=(size, rows))
        top = numerator[idx].sum(axis=1)
        values[start : start + size] = top / scale if scale is not None else top / denominator[idx].sum(axis=1)
    low, high = np.quantile(values, [0.025, 0.975])
    centre = numerator.sum() / scale if scale is not None else numerator.sum() / denominator.sum()
    return Interval(float(centre), float(low), float(high))


def bankroll_curve(bets: pl.DataFrame, starting_bankroll: float) -> pl.DataFrame:
    """Bankroll after each settled bet, in settlement order (ties by bet id): the curve the drawdown is read off."""
    settled = bets.filter(pl.col("state").is_in(SETTLED_STATES)).sort("settled_at", "bet_id")
    return settled.select(
        "settled_at", (pl.col("pnl").cum_sum() + starting_bankroll).alias("bankroll"), "clv", "decided_at"
    )


def _max_drawdown(curve: FloatArray, start: float) -> tuple[float, float]:
    equity = np.concatenate([[start], curve])
    peak = np.maximum.accumulate(equity)
    amount = peak - equity
    share = np.where(peak > 0, amount / peak, 0.0)
    return float(share.max()), float(amount.max())


def summarise(
    bets: pl.DataFrame, *, starting_bankroll: float, rejections: dict[str, int] | None = None
) -> StrategySummary:
    """Figures of the settled bets in ``bets`` (open or rejected rows are ignored here; rejections come counted)."""
    settled = bets.filter(pl.col("state").is_in(SETTLED_STATES))
    rejections = rejections or {}
    curve = bankroll_curve(settled, starting_bankroll)
    bankroll = curve.get_column("bankroll").to_numpy().astype(np.float64)
    drawdown, drawdown_amount = _max_drawdown(bankroll, starting_bankroll)
    empty = settled.height == 0
    pnl = settled.get_column("pnl").to_numpy().astype(np.float64)
    stake = settled.get_column("stake").to_numpy().astype(np.float64)
    graded = settled.filter(pl.col("state") != "void")
    clv = settled.get_column("clv").drop_nulls().drop_nans().to_numpy().astype(np.float64)
    return StrategySummary(
        bets=settled.height,
        events=settled.get_column("event_id").n_unique(),
        turnover=float(stake.sum()),
        profit=float(pnl.sum()),
        roi=None if empty else _ratio_ci(pnl, stake, scale=starting_bankroll),
        yield_=None if empty or stake.sum() <= 0 else _ratio_ci(pnl, stake, scale=None),
        hit_rate=None if graded.height == 0 else float((graded.get_column("pnl") > 0).mean()),  # type: ignore[arg-type]
        mean_clv=None if clv.size == 0 else Interval.of(bootstrap_mean_ci(clv)[0]),
        clv_bets=int(clv.size),
        clv_positive_share=None if clv.size == 0 else float((clv > 0).mean()),
        max_drawdown=drawdown,
        max_drawdown_amount=drawdown_amount,
        final_bankroll=float(starting_bankroll + pnl.sum()),
        rejected=sum(rejections.values()),
        rejection_reasons=dict(sorted(rejections.items())),
    )


def paired_clv_difference(a: pl.DataFrame, b: pl.DataFrame, *, seed: int = 0) -> Interval | None:
    """Mean CLV per bet of strategy ``a`` minus ``b``, with a bootstrap 95% CI that resamples events, not bets.

    Two strategies bet on different selections, so bets cannot be paired one to one; events can. Each resample draws
    the union of events both strategies could bet on (with replacement) and compares the two mean CLVs over the same
    draw, so the interval reflects that both sets of bets share each match's news and closing line.
    """
    per = []
    for frame in (a, b):
        valid = frame.filter(pl.col("clv").is_not_null() & pl.col("clv").is_finite())
        per.append(valid.group_by("event_id").agg(pl.col("clv").sum().alias("s"), pl.len().alias("n")))
    events = pl.concat([p.select("event_id") for p in per]).unique().sort("event_id")
    if events.height == 0 or per[0].height == 0 or per[1].height == 0:
        return None
    joined = [events.join(p, on="event_id", how="left").fill_null(0) for p in per]
    sa, na = (joined[0].get_column(c).to_numpy().astype(np.float64) for c in ("s", "n"))
    sb, nb = (joined[1].get_column(c).to_numpy().astype(np.float64) for c in ("s", "n"))
    rng = np.random.default_rng(seed)
    rows = events.height
    values = np.empty(BOOTSTRAP_RESAMPLES, dtype=np.float64)
    for start in range(0, BOOTSTRAP_RESAMPLES, _CHUNK):
        size = min(_CHUNK, BOOTSTRAP_RESAMPLES - start)
        idx = rng.integers(0, rows, size=(size, rows))
        with np.errstate(invalid="ignore", divide="ignore"):
            values[start : start + size] = sa[idx].sum(1) / na[idx].sum(1) - sb[idx].sum(1) / nb[idx].sum(1)
    values = values[np.isfinite(values)]
    low, high = np.quantile(values, [0.025, 0.975])
    return Interval(float(sa.sum() / na.sum() - sb.sum() / nb.sum()), float(low), float(high))


def equal_count_clv_difference(a: pl.DataFrame, reference: pl.DataFrame, *, seed: int = 0) -> Interval | None:
    """Mean CLV of ``a`` minus that of the reference's ``len(a)`` highest-edge bets, paired by event as above.

    A stricter strategy bets fewer, larger edges, and larger edges have larger CLV whatever their source; comparing
    at the same threshold rewards selectivity. Comparing with the reference cut to the same number of bets (the
    reference at the threshold that gives as many bets) asks the sharper question: does ``a`` rank bets better?
    """
    settled = a.filter(pl.col("clv").is_not_null() & pl.col("clv").is_finite())
    top = (
        reference.filter(pl.col("clv").is_not_null() & pl.col("clv").is_finite())
        .sort(["edge", "bet_id"], descending=[True, False])
        .head(settled.height)
    )
    return paired_clv_difference(settled, top, seed=seed)
