"""The HTML report's derived tables, from the report's per-bet rows: the daily bankroll and drawdown, returns per
month and year, breakdowns per competition, book and market, refusals per risk rule, calibration bins, and the
paragraph that reads the CLV and the profit together.

Pure functions of a bets frame (``report.BETS_SCHEMA`` plus ``reason``; ``book`` and ``market`` when the ledger
rows carry them). Never re-prices or re-grades a bet: every figure is a sum or mean of the ledger's own P&L and
CLV, so the tables add up to the summary.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import polars as pl

from betpipe.backtest.report import SETTLED_STATES
from betpipe.sports import SPORTS

__all__ = [
    "bets_to_detect",
    "breakdown",
    "calibration_bins",
    "equity_frame",
    "market_clv_sentence",
    "period_frame",
    "refusals_by_rule",
    "restriction_frame",
    "restriction_limits",
    "rule_of",
    "spec_books",
    "verdict_paragraph",
]

_Z_ALPHA, _Z_POWER = 1.959964, 0.841621
"""Two-sided 5 % test with 80 % power: the usual sample-size convention, stated in the paragraph."""
_RULE = re.compile(r"^([a-z][a-z0-9_]*):")


def _settled(bets: pl.DataFrame) -> pl.DataFrame:
    return bets.filter(pl.col("state").is_in(SETTLED_STATES) & pl.col("settled_at").is_not_null())


def equity_frame(bets: pl.DataFrame, starting_bankroll: float) -> pl.DataFrame:
    """The bankroll at the end of each day with a settlement, and its drawdown from the running peak.

    Columns ``at``, ``bankroll``, ``drawdown``. A first row at the starting bankroll, the day before the first
    settlement, makes a loss on day one show as a drawdown. Daily, not per bet: thousands of bets settle on a few
    hundred match days, and a chart cannot show more.
    """
    settled = _settled(bets)
    if settled.height == 0:
        return pl.DataFrame(schema={"at": pl.Datetime("us", "UTC"), "bankroll": pl.Float64, "drawdown": pl.Float64})
    daily = (
        settled.sort("settled_at", "bet_id")
        .group_by(pl.col("settled_at").dt.truncate("1d").alias("at"), maintain_order=True)
        .agg(pl.col("pnl").sum())
        .sort("at")
    )
    first = daily.get_column("at").min()
    start = pl.DataFrame({"at": [first], "pnl": [0.0]}).with_columns(pl.col("at") - pl.duration(days=1))
    curve = pl.concat([start.cast(daily.schema), daily]).with_columns(
        (pl.col("pnl").cum_sum() + starting_bankroll).alias("bankroll")
    )
    peak = pl.col("bankroll").cum_max()
    return curve.select(
        "at", "bankroll", pl.when(peak > 0).then((peak - pl.col("bankroll")) / peak).otherwise(0.0).alias("drawdown")
    )


def period_frame(bets: pl.DataFrame, starting_bankroll: float, *, every: str) -> pl.DataFrame:
    """Profit per calendar period (``"1mo"`` or ``"1y"``) by settlement date, with the return on the bankroll
    held at the period's start. Columns ``period``, ``bets``, ``turnover``, ``pnl``, ``yield``, ``return``."""
    settled = _settled(bets)
    grouped = (
        settled.sort("settled_at")
        .group_by(pl.col("settled_at").dt.truncate(every).alias("period"))
        .agg(pl.len().alias("bets"), pl.col("stake").sum().alias("turnover"), pl.col("pnl").sum())
        .sort("period")
    )
    opening = pl.col("pnl").cum_sum().shift(1, fill_value=0.0) + starting_bankroll
    return grouped.with_columns(
        pl.when(pl.col("turnover") > 0).then(pl.col("pnl") / pl.col("turnover")).alias("yield"),
        pl.when(opening > 0).then(pl.col("pnl") / opening).alias("return"),
    )


def _with_groups(bets: pl.DataFrame, spec: Mapping[str, Any]) -> pl.DataFrame:
    """``book`` and ``market`` from the rows when the ledger read carries them, else from the spec: a one-book,
    one-market backtest's rows need not repeat them."""
    extra = []
    if "book" not in bets.columns:
        books = spec_books(spec)
        extra.append(pl.lit(books[0] if len(books) == 1 else "not recorded").alias("book"))
    if "market" not in bets.columns:
        extra.append(pl.lit(_market(spec)).alias("market"))
    return bets.with_columns(extra) if extra else bets


def _market(spec: Mapping[str, Any]) -> str:
    """The market a backtest bets: its spec's single market, else its sport's prediction market (1x2 for soccer)."""
    markets = spec.get("markets")
    if isinstance(markets, list | tuple) and len(markets) == 1:
        return str(markets[0])
    rules = SPORTS.get(str(spec.get("sport", "soccer")))
    return rules.prediction_market if rules is not None and not markets else "not recorded"


def spec_books(spec: Mapping[str, Any]) -> list[str]:
    """The books a spec may bet at: ``books`` (line shopping) or the older single ``book``."""
    books = spec.get("books")
    if isinstance(books, list | tuple) and books:
        return [str(b) for b in books]
    return [str(spec["book"])] if spec.get("book") else []


def breakdown(bets: pl.DataFrame, by: list[str], *, spec: Mapping[str, Any] | None = None) -> pl.DataFrame:
    """Settled bets per group: bets, turnover, profit, yield, hit rate, mean CLV with a normal-approximation 95 %
    interval (half-width ``clv_half``). Sorted by bets, most first; ``by`` may include ``book`` and ``market``."""
    settled = _with_groups(_settled(bets), spec or {})
    clv = pl.col("clv").filter(pl.col("clv").is_not_null() & pl.col("clv").is_finite())
    graded = pl.col("state") != "void"
    return (
        settled.group_by(by)
        .agg(
            pl.len().alias("bets"),
            pl.col("stake").sum().alias("turnover"),
            pl.col("pnl").sum().alias("profit"),
            ((pl.col("pnl") > 0) & graded).sum().alias("won"),
            graded.sum().alias("graded"),
            clv.mean().alias("mean_clv"),
            (_Z_ALPHA * clv.std() / clv.count().sqrt()).alias("clv_half"),
        )
        .with_columns(
            pl.when(pl.col("turnover") > 0).then(pl.col("profit") / pl.col("turnover")).alias("yield"),
            pl.when(pl.col("graded") > 0).then(pl.col("won") / pl.col("graded")).alias("hit_rate"),
        )
        .drop("won", "graded")
        .sort(["bets", *by], descending=[True] + [False] * len(by))
    )


def rule_of(reason: str | None) -> str:
    """The risk rule behind a refusal message: its ``rule:`` prefix (``single_stake: stake 40 > max 25`` →
    ``single_stake``), so one rule's many amounts count as one row."""
    if not reason:
        return "unknown"
    match = _RULE.match(reason.strip())
    return match.group(1) if match else "other"


def refusals_by_rule(reasons: Mapping[str, int]) -> pl.DataFrame:
    """Refusal messages with their counts (the summary's ``rejection_reasons``) counted per rule, most first, with
    one example message. Columns ``rule``, ``bets``, ``example``."""
    frame = pl.DataFrame(
        {"reason": list(reasons), "n": [int(v) for v in reasons.values()]},
        schema={"reason": pl.Utf8, "n": pl.Int64},
    )
    return (
        frame.with_columns(pl.col("reason").map_elements(rule_of, return_dtype=pl.Utf8).alias("rule"))
        .group_by("rule")
        .agg(pl.col("n").sum().alias("bets"), pl.col("reason").sort().first().alias("example"))
        .sort(["bets", "rule"], descending=[True, False])
    )


def restriction_limits(spec: Mapping[str, Any]) -> tuple[int, str, str]:
    """The spec's account restriction (``limits``): CLV wins before a book is restricted (0 = off), max stake and
    stake fraction as written."""
    limits = spec.get("limits")
    limits = limits if isinstance(limits, Mapping) else {}
    try:
        after = int(str(limits.get("restrict_after_clv_wins", "0")))
    except ValueError:
        after = 0
    return after, str(limits.get("restricted_max_stake", "0")), str(limits.get("restricted_stake_fraction", "0"))


def restriction_frame(runs: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    """Account restriction per book over a strategy's runs (the report JSON's ``runs[].books``, from
    ``betting.restriction.book_summary``): bets and stake placed, CLV wins, the day the book was restricted (its
    N-th CLV win settled; the earliest over the runs), the bets it cut, the stake asked on them and what they
    staked, the stake the restriction kept off (asked - staked), and the bets it refused. Amounts are summed exactly
    (the ledger's decimal text), then shown as floats. Empty when the runs recorded no per-book summary."""
    counts = ("bets", "clv_wins", "bets_restricted", "refused_restricted")
    per: dict[str, dict[str, Any]] = {}
    for run in runs:
        for row in run.get("books") or []:
            fresh = dict.fromkeys(counts, 0) | {"stake": Decimal(0), "asked": Decimal(0), "taken": Decimal(0)}
            entry = per.setdefault(str(row["book"]), fresh | {"at": []})
            for key in counts:
                entry[key] += int(row.get(key) or 0)
            entry["stake"] += Decimal(str(row.get("stake") or 0))
            entry["asked"] += Decimal(str(row.get("stake_asked_restricted") or 0))
            entry["taken"] += Decimal(str(row.get("stake_restricted") or 0))
            if row.get("restricted_at"):
                entry["at"].append(str(row["restricted_at"]))
    rows = [
        {
            "book": book,
            "bets": e["bets"],
            "staked": float(e["stake"]),
            "CLV wins": e["clv_wins"],
            "restricted from": min(e["at"])[:10] if e["at"] else None,
            "bets cut": e["bets_restricted"],
            "asked on cut bets": float(e["asked"]),
            "staked on cut bets": float(e["taken"]),
            "not staked": float(e["asked"] - e["taken"]),
            "refused": e["refused_restricted"],
        }
        for book, e in sorted(per.items())
    ]
    return pl.DataFrame(rows, schema=_RESTRICTION_SCHEMA)


_RESTRICTION_SCHEMA = {
    "book": pl.Utf8,
    "bets": pl.Int64,
    "staked": pl.Float64,
    "CLV wins": pl.Int64,
    "restricted from": pl.Utf8,
    "bets cut": pl.Int64,
    "asked on cut bets": pl.Float64,
    "staked on cut bets": pl.Float64,
    "not staked": pl.Float64,
    "refused": pl.Int64,
}


def calibration_bins(bets: pl.DataFrame, *, bins: int = 10) -> pl.DataFrame:
    """Graded bets in equal-width probability bins: ``predicted`` (mean probability bet on), ``observed`` (share
    that won), ``rows``."""
    graded = _settled(bets).filter(pl.col("state") != "void")
    return (
        graded.with_columns(
            (pl.col("probability") * bins).floor().clip(0, bins - 1).alias("bin"),
            (pl.col("pnl") > 0).cast(pl.Float64).alias("won"),
        )
        .group_by("bin")
        .agg(
            pl.col("probability").mean().alias("predicted"),
            pl.col("won").mean().alias("observed"),
            pl.len().alias("rows"),
        )
        .sort("bin")
        .drop("bin")
    )


def bets_to_detect(values: pl.Series) -> int | None:
    """Bets needed to tell a mean like this one from zero (5 % two-sided, 80 % power): ((1.96 + 0.84)·sd/mean)²."""
    clean = values.drop_nulls().drop_nans()
    if clean.len() < 2:
        return None
    mean, sd = float(clean.mean()), float(clean.std())  # type: ignore[arg-type]
    if mean == 0.0 or not math.isfinite(sd):
        return None
    return math.ceil(((_Z_ALPHA + _Z_POWER) * sd / mean) ** 2)


def _interval(value: Any) -> tuple[float, float, float] | None:
    if isinstance(value, Mapping) and {"mean", "low", "high"} <= set(value):
        return float(value["mean"]), float(value["low"]), float(value["high"])
    return None


def _sign(low: float, high: float) -> int:
    return 1 if low > 0 else -1 if high < 0 else 0


def _pct(mean: float, low: float, high: float) -> str:
    return f"{mean:+.2%} [{low:+.2%}, {high:+.2%}]".replace("%", "\u00a0%")


def verdict_paragraph(summary: Mapping[str, Any], bets: pl.DataFrame, verdict: Mapping[str, Any] | None = None) -> str:
    """One paragraph that reads the CLV and the profit together, from the summary's intervals and the bets.

    CLV has a far smaller spread per bet than profit (a bet's return is −100 % or price − 1; its CLV is a few per
    cent), so it shows an edge long before profit can. The paragraph says which of the two the sample can support
    and how many bets the profit would need to show what the CLV shows. ``verdict`` is the report's verdict
    section when it has one (its bets-to-detect count is quoted when the CLV interval holds zero).
    """
    clv, profit = _interval(summary.get("mean_clv")), _interval(summary.get("yield"))
    n_clv = int(summary.get("clv_bets") or 0)
    if clv is None or profit is None:
        return "Too few settled bets for a verdict: neither the CLV nor the profit has an interval yet."
    clv_sign, profit_sign = _sign(clv[1], clv[2]), _sign(profit[1], profit[2])
    head = f"CLV {_pct(*clv)} on {n_clv:,} bets"
    if clv_sign > 0:
        head += " says the prices taken beat the close"
    elif clv_sign < 0:
        head += " says the prices taken were worse than the close: the market moved against these bets"
    else:
        head += " cannot tell these prices from the close"
    settled = _settled(bets)
    returns = settled.filter(pl.col("stake") > 0).select(pl.col("pnl") / pl.col("stake")).to_series()
    needed = bets_to_detect(returns)
    rate = f"yield {_pct(*profit)}"
    if profit_sign == 0:
        tail = f"; the profit's {rate} is too wide to say more: luck dominates at this sample size"
        if clv_sign > 0 and clv[0] > 0 and returns.len() > 1:
            sd = float(returns.cast(pl.Float64).std() or 0.0)  # type: ignore[arg-type]
            bets_needed = math.ceil(((_Z_ALPHA + _Z_POWER) * sd / clv[0]) ** 2)
            tail += f" (a yield as large as the CLV would need about {bets_needed:,} bets to show)"
        tail += "."
    elif profit_sign == clv_sign:
        tail = f", and the {rate} agrees: both say the same thing."
    elif clv_sign == 0:
        side = "profit" if profit_sign > 0 else "loss"
        tail = (
            f"; the {rate} shows a {side} the closing prices do not explain: expect it to revert, since results"
            " without CLV are usually luck."
        )
    else:
        tail = (
            f"; the {rate} points the other way: either an unlucky (or lucky) run far in the tails, or the close"
            " CLV is measured against is not a fair price for these bets."
        )
    if needed is not None and profit_sign == 0 and clv_sign <= 0:
        tail = tail[:-1] + f" (the observed yield would need about {needed:,} bets to tell from zero)."
    detect = (verdict or {}).get("bets_to_detect_95_power_80")
    if clv_sign == 0 and isinstance(detect, int):
        tail += f" A mean CLV this size needs about {detect:,} bets to tell from zero (80\u00a0% power)."
    return head + tail + market_clv_sentence(bets)


def market_clv_sentence(bets: pl.DataFrame) -> str:
    """ " Per market: ..." with each market's mean CLV and 95 % interval when the rows carry more than one market (a
    strategy that lists line markets); empty otherwise, so a one-market report reads as before."""
    if "market" not in bets.columns:
        return ""
    per = breakdown(bets, ["market"]).filter(pl.col("mean_clv").is_not_null())
    if per.height < 2:
        return ""
    parts = []
    for row in per.iter_rows(named=True):
        mean, half = row["mean_clv"], row["clv_half"] or 0.0
        parts.append(f"{row['market']} {_pct(mean, mean - half, mean + half)} ({row['bets']:,} bets)")
    return " Per market, CLV " + "; ".join(parts) + "."
