"""A strategy grid: a file of strategy variants expanded into N strategies, and the one table that judges them with
the tuning/untouched split and a verdict adjusted for having tried N.

The split is by season: every strategy is ranked, and the multiple-testing adjustment computed, on the tuning
seasons' bets only; the untouched seasons' figures are printed beside and never enter a ranking or a choice. Pure
functions of the runs' results (``runner.run_many``); never runs a backtest or touches the store.
"""

from __future__ import annotations

import itertools
import json
import math
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from betpipe.backtest.report import SETTLED_STATES
from betpipe.backtest.spec import BacktestSpec
from betpipe.backtest.verdict import ADJUSTMENT_METHOD, ADJUSTMENT_SHORT, romano_wolf, verdict
from betpipe.betting.strategy_spec import StrategySpec

__all__ = [
    "DEFAULT_UNTOUCHED_FROM",
    "MAX_GRID",
    "SIGNIFICANCE",
    "expand_grid",
    "grid_document",
    "load_grid",
    "split_seasons",
]

DEFAULT_UNTOUCHED_FROM = "2016-2017"
"""First untouched season of the shared data's protocol (docs/backtest.md: tuning 2013-14 .. 2015-16)."""
MAX_GRID = 500
"""More strategies than this is a typo in an axis, not a grid anyone can run on two cores."""
SIGNIFICANCE = 0.05
RANKED_BY = "t = tuning mean CLV / its bootstrap standard error (the statistic the adjustment is built on)"


def _read(path: Path) -> Any:
    try:
        text = path.read_text()
    except OSError as error:
        raise ValueError(f"{path}: cannot read the grid file ({error.strerror or error})") from None
    try:
        return tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, ValueError) as error:
        kind = "TOML" if path.suffix.lower() == ".toml" else "JSON"
        raise ValueError(f"{path}: not a {kind} grid file ({error})") from None


def _text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "+".join(str(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def expand_grid(data: Any) -> list[StrategySpec]:
    """Strategies of a grid document: ``base`` (a strategy object) crossed with every combination of ``axes`` (field
    -> list of values), plus ``variants`` (strategy objects over ``base``). A plain list is a list of strategies.

    Each axis-made strategy is labelled by its axis values (``min_edge=0.02, market_method=shin``), so the table
    says what varied; two strategies with one name would share a report, so that is refused."""
    if isinstance(data, list):
        data = {"variants": data}
    if not isinstance(data, dict):
        kind = type(data).__name__
        raise ValueError(f"a grid is an object with base/axes/variants or a list of strategies; got {kind}")
    unknown = sorted(set(data) - {"base", "axes", "variants"})
    if unknown:
        raise ValueError(f"unknown grid key(s): {', '.join(unknown)} (expected base, axes, variants)")
    base, axes, variants = data.get("base", {}), data.get("axes", {}), data.get("variants", [])
    if not isinstance(base, dict) or not isinstance(axes, dict) or not isinstance(variants, list):
        raise ValueError("grid: base and axes are objects, variants a list of objects")
    for field, values in axes.items():
        if not isinstance(values, list) or not values:
            raise ValueError(f"grid axis {field!r} must be a non-empty list of values")
    size = math.prod(len(v) for v in axes.values()) if axes else 0
    if size + len(variants) > MAX_GRID:
        raise ValueError(f"the grid has {size + len(variants)} strategies; at most {MAX_GRID}")
    strategies = []
    prefix = str(base.get("label", ""))
    for combination in itertools.product(*axes.values()) if axes else ():
        chosen = dict(zip(axes, combination, strict=True))
        label = ", ".join(f"{k}={_text(v)}" for k, v in chosen.items())
        strategies.append(StrategySpec.from_json({**base, **chosen, "label": f"{prefix} {label}".strip()}))
    for variant in variants:
        if not isinstance(variant, dict):
            raise ValueError(f"a grid variant is a strategy object; got {type(variant).__name__}")
        strategies.append(StrategySpec.from_json({**base, **variant}))
    if not strategies:
        raise ValueError("the grid names no strategy (give axes or variants)")
    names = [s.name for s in strategies]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"two grid strategies share the name {twice[0]!r}: give each a distinct label")
    return strategies


def load_grid(path: Path) -> list[StrategySpec]:
    """The strategies of a grid file (``.toml``, else JSON); any problem is one ``ValueError`` line."""
    try:
        return expand_grid(_read(path))
    except (TypeError, ValueError) as error:
        message = str(error)
        raise ValueError(message if message.startswith(str(path)) else f"{path}: {message}") from None


def split_seasons(first: str, last: str, untouched_from: str, seen: Sequence[str] = ()) -> tuple[str, str]:
    """Readable tuning and untouched spans (from the seasons ``seen`` in the bets when given); refuses a split that
    leaves no tuning season to rank on."""
    if untouched_from <= first:
        raise ValueError(f"--untouched-from {untouched_from} leaves no tuning season in {first}..{last}")
    before = sorted(s for s in seen if s < untouched_from)
    after = sorted(s for s in seen if s >= untouched_from)
    tuning = _span(before) if before else f"{first}..(before {untouched_from})"
    untouched = f"{untouched_from}..{last}" if untouched_from <= last else "none"
    return tuning, _span(after) if after else untouched


def _span(seasons: Sequence[str]) -> str:
    return seasons[0] if seasons[0] == seasons[-1] else f"{seasons[0]}..{seasons[-1]}"


def _settled(bets: pl.DataFrame) -> pl.DataFrame:
    return bets.filter(pl.col("state").is_in(SETTLED_STATES) & pl.col("clv").is_not_null() & pl.col("clv").is_finite())


def _period(bets: pl.DataFrame) -> dict[str, Any]:
    """A period's verdict (CLV CI, bets to detect, without the top 1 %, Shin close); per book is in each report."""
    figures = verdict(bets, per_book=False)
    figures.pop("per_book")
    return figures


def _number(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def grid_document(
    frames: dict[str, pl.DataFrame], specs: dict[str, BacktestSpec], *, untouched_from: str
) -> dict[str, Any]:
    """The grid's JSON: per strategy its tuning and untouched verdicts, t and adjusted p, ranked by tuning t only;
    and the verdict on the best tuning strategy. ``frames``: strategy name -> bets with a ``season`` column."""
    names = sorted(frames)
    periods = {}
    for name in names:
        settled = _settled(frames[name])
        in_tuning = pl.col("season") < untouched_from
        periods[name] = (settled.filter(in_tuning), settled.filter(~in_tuning))
    adjusted = romano_wolf(
        [periods[n][0].get_column("event_id").to_numpy() for n in names],
        [periods[n][0].get_column("clv").to_numpy() for n in names],
    )
    t = np.where(np.isfinite(adjusted.t), adjusted.t, -np.inf)
    order = sorted(range(len(names)), key=lambda i: (-t[i], names[i]))
    rows = []
    for rank, i in enumerate(order, start=1):
        name = names[i]
        tuning, untouched = periods[name]
        rows.append({
            "rank": rank,
            "strategy": name,
            "version": specs[name].strategy_spec().version,
            "spec": specs[name].strategy_spec().to_json(),
            "tuning": _period(tuning) | {
                "t": _number(adjusted.t[i]),
                "p_single": _number(adjusted.p_single[i]),
                "p_adjusted": _number(adjusted.p_adjusted[i]),
            },
            "untouched": _period(untouched),
        })  # fmt: skip
    spec = next(iter(specs.values()))
    first, last = spec.first_season, spec.last_season
    seen = sorted({str(s) for f in frames.values() for s in f.get_column("season").drop_nulls().unique().to_list()})
    tuning_span, untouched_span = split_seasons(first, last, untouched_from, seen)
    return {
        "grid": {
            "strategies": len(names),
            "competitions": sorted({c for s in specs.values() for c in s.competitions}),
            "seasons": f"{first}..{last}",
            "tuning": tuning_span,
            "untouched": untouched_span,
            "untouched_from": untouched_from,
            "ranked_by": RANKED_BY,
            "adjustment": ADJUSTMENT_METHOD,
            "adjustment_short": ADJUSTMENT_SHORT,
            "significance": SIGNIFICANCE,
        },
        "strategies": rows,
        "verdict": _best_verdict(rows),
    }


def _pct(interval: dict[str, float] | None) -> str:
    if interval is None:
        return "no bets"
    return f"{interval['mean']:+.2%} [{interval['low'] * 100:+.2f}, {interval['high'] * 100:+.2f}]"


def _p(value: float) -> str:
    return "p < 0.001" if value < 0.001 else f"p = {value:.3f}"


def _best_verdict(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    best = rows[0] if rows and rows[0]["tuning"]["t"] is not None else None
    if best is None:
        return {"best": None, "survives": False, "text": "no strategy has two or more tuning-season bets with CLV"}
    tuning, untouched, p = best["tuning"], best["untouched"], best["tuning"]["p_adjusted"]
    survives = p is not None and p < SIGNIFICANCE
    text = (
        f"Best on the tuning seasons: {best['strategy']}, mean CLV {_pct(tuning['mean_clv'])} on "
        f"{tuning['clv_bets']:,} bets; adjusted {_p(p)} over {len(rows)} strategies (Romano-Wolf): "
        f"{'survives' if survives else 'does NOT survive'} the adjustment at {SIGNIFICANCE:g}. "
        f"Untouched seasons: {_pct(untouched['mean_clv'])} on {untouched['clv_bets']:,} bets."
    )
    return {
        "best": best["strategy"],
        "p_adjusted": p,
        "p_single": tuning["p_single"],
        "survives": survives,
        "tuning_mean_clv": tuning["mean_clv"],
        "untouched_mean_clv": untouched["mean_clv"],
        "untouched_bets": untouched["clv_bets"],
        "text": text,
    }
