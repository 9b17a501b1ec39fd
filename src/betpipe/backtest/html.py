"""A self-contained HTML report of one backtest: summary tables and four inline SVG charts (bankroll curve, CLV over
time, edge histogram, calibration of the bets' probabilities).

No scripts, no CDN, no external file: the page opens offline and can be committed or mailed as it is. Never computes
a figure of its own beyond binning for the charts; every number in the tables comes from ``report.summarise``.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from betpipe.backtest.report import SETTLED_STATES, bankroll_curve

__all__ = ["render_html"]

_W, _H, _PAD = 640, 260, 44


def _scale(values: Sequence[float], low: float, high: float, out_low: float, out_high: float) -> list[float]:
    span = (high - low) or 1.0
    return [out_low + (v - low) / span * (out_high - out_low) for v in values]


def _frame(title: str, x_label: str, y_low: float, y_high: float, body: list[str]) -> str:
    ticks = []
    for value in np.linspace(y_low, y_high, 5):
        y = _scale([float(value)], y_low, y_high, _H - _PAD, _PAD / 2)[0]
        ticks.append(f'<text x="4" y="{y + 4:.1f}">{value:.3g}</text>')
        ticks.append(f'<line x1="{_PAD}" x2="{_W - 8}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>')
    return "\n".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" font-family="sans-serif" '
            'font-size="11" role="img">',
            f"<title>{html.escape(title)}</title>",
            *ticks,
            f'<rect x="{_PAD}" y="{_PAD / 2}" width="{_W - _PAD - 8}" height="{_H - 1.5 * _PAD}" fill="none" '
            'stroke="#999"/>',
            *body,
            f'<text x="{_PAD}" y="{_H - 8}">{html.escape(x_label)}</text>',
            "</svg>",
        ]
    )


def line_chart(title: str, ys: Sequence[float], *, x_label: str, zero_line: bool = False) -> str:
    if not ys:
        return f"<p>{html.escape(title)}: no data</p>"
    low, high = min(ys), max(ys)
    if zero_line:
        low, high = min(low, 0.0), max(high, 0.0)
    xs = _scale(list(range(len(ys))), 0, max(len(ys) - 1, 1), _PAD, _W - 8)
    yp = _scale(list(ys), low, high, _H - _PAD, _PAD / 2)
    points = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, yp, strict=True))
    body = [f'<polyline points="{points}" fill="none" stroke="#1f77b4" stroke-width="1.5"/>']
    if zero_line:
        zero = _scale([0.0], low, high, _H - _PAD, _PAD / 2)[0]
        body.append(
            f'<line x1="{_PAD}" x2="{_W - 8}" y1="{zero:.1f}" y2="{zero:.1f}" stroke="#d62728" stroke-dasharray="4"/>'
        )
    return _frame(title, x_label, low, high, body)


def bar_chart(title: str, edges: Sequence[float], counts: Sequence[int], *, x_label: str) -> str:
    if not counts or max(counts) == 0:
        return f"<p>{html.escape(title)}: no data</p>"
    top = float(max(counts))
    width = (_W - 8 - _PAD) / len(counts)
    body = []
    for i, count in enumerate(counts):
        y = _scale([float(count)], 0.0, top, _H - _PAD, _PAD / 2)[0]
        body.append(
            f'<rect x="{_PAD + i * width:.1f}" y="{y:.1f}" width="{width - 1:.1f}" height="{_H - _PAD - y:.1f}" '
            f'fill="#2ca02c"><title>{edges[i]:.3f}..{edges[i + 1]:.3f}: {count}</title></rect>'
        )
    label = f"{x_label} ({edges[0]:.3f} .. {edges[-1]:.3f})"
    return _frame(title, label, 0.0, top, body)


def calibration_chart(title: str, predicted: Sequence[float], observed: Sequence[float], rows: Sequence[int]) -> str:
    size = _H
    inner = size - 2 * _PAD

    def xy(px: float, py: float) -> str:
        return f"{_PAD + px * inner:.1f},{size - _PAD - py * inner:.1f}"

    dots = [
        f'<circle cx="{xy(p, o).split(",")[0]}" cy="{xy(p, o).split(",")[1]}" r="{2 + min(6.0, n**0.5 / 6):.1f}" '
        f'fill="#ff7f0e"><title>{p:.3f} predicted, {o:.3f} observed, {n} bets</title></circle>'
        for p, o, n in zip(predicted, observed, rows, strict=True)
    ]
    return "\n".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" font-family="sans-serif" '
            'font-size="11" role="img">',
            f"<title>{html.escape(title)}</title>",
            f'<rect x="{_PAD}" y="{_PAD}" width="{inner}" height="{inner}" fill="none" stroke="#999"/>',
            f'<polyline points="{xy(0, 0)} {xy(1, 1)}" stroke="#bbb" stroke-dasharray="4" fill="none"/>',
            *dots,
            f'<text x="{_PAD}" y="{size - 10}">probability bet on (x) vs share won (y)</text>',
            "</svg>",
        ]
    )


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "<p>no rows</p>"
    head = "".join(f"<th>{html.escape(str(k))}</th>" for k in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in r.values()) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _charts(bets: pl.DataFrame, starting_bankroll: float) -> list[str]:
    settled = bets.filter(pl.col("state").is_in(SETTLED_STATES))
    curve = bankroll_curve(settled, starting_bankroll)
    bankroll = [starting_bankroll, *curve.get_column("bankroll").to_list()]
    monthly = (
        settled.filter(pl.col("clv").is_not_null())
        .sort("decided_at")
        .group_by_dynamic("decided_at", every="1mo")
        .agg(pl.col("clv").mean())
    )
    edges = settled.get_column("edge").drop_nulls().to_numpy()
    hist_counts, hist_edges = np.histogram(edges, bins=30) if edges.size else (np.zeros(0, int), np.zeros(1))
    bins = (
        settled.filter(pl.col("state") != "void")
        .with_columns((pl.col("probability") * 10).floor().clip(0, 9).alias("bin"), (pl.col("pnl") > 0).alias("won"))
        .group_by("bin")
        .agg(pl.col("probability").mean(), pl.col("won").mean(), pl.len().alias("rows"))
        .sort("bin")
    )
    return [
        "<h2>Bankroll</h2>",
        line_chart("bankroll after each settled bet", bankroll, x_label="settled bets, in settlement order"),
        "<h2>Closing-line value over time</h2>",
        line_chart(
            "mean CLV per month", monthly.get_column("clv").to_list(), x_label="months (decision time)", zero_line=True
        ),
        "<h2>Edge at the price taken</h2>",
        bar_chart("edge histogram", hist_edges.tolist(), hist_counts.tolist(), x_label="edge = p × price − 1"),
        "<h2>Calibration of the probabilities bet on</h2>",
        calibration_chart(
            "calibration",
            bins.get_column("probability").to_list(),
            bins.get_column("won").cast(pl.Float64).to_list(),
            bins.get_column("rows").to_list(),
        ),
    ]


def _fmt(value: Any) -> str:
    if isinstance(value, dict) and {"mean", "low", "high"} <= set(value):
        return f"{value['mean']:+.4f} [{value['low']:+.4f}, {value['high']:+.4f}]"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def render_html(
    *,
    title: str,
    spec: dict[str, Any],
    summary: dict[str, Any],
    bets: pl.DataFrame,
    starting_bankroll: float,
    comparisons: dict[str, Any] | None = None,
) -> str:
    """The whole page as one string."""
    summary_rows = [{"figure": k, "value": _fmt(v)} for k, v in summary.items() if k != "rejection_reasons"]
    spec_rows = [{"setting": k, "value": str(v)} for k, v in spec.items()]
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}"
        "table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.2rem .6rem;"
        "text-align:left}th{background:#f4f4f4}svg{display:block;margin:.5rem 0 1.5rem}</style>",
        "</head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<p>CLV = price taken × margin-free (multiplicative) sharp closing probability − 1. Intervals: bootstrap "
        "95%, 2,000 resamples of bets, seed 0. Yield = profit per unit staked; ROI = profit over the starting "
        "bankroll.</p>",
        "<h2>Summary</h2>",
        _table(summary_rows),
    ]
    if summary.get("rejection_reasons"):
        reasons = summary["rejection_reasons"]
        parts += ["<h2>Refused bets</h2>", _table([{"reason": k, "bets": v} for k, v in reasons.items()])]
    if comparisons:
        parts += [
            "<h2>Paired CLV differences</h2>",
            _table([{"vs": k, "difference": _fmt(v)} for k, v in comparisons.items()]),
        ]
    parts += ["<h2>Settings</h2>", _table(spec_rows), *_charts(bets, starting_bankroll), "</body></html>"]
    return "\n".join(parts) + "\n"
