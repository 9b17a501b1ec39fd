"""Chart definitions shared by the HTML backtest report and the Streamlit dashboard: polars frames in, Altair
(Vega-Lite) charts out.

One definition per figure, so a bankroll curve looks the same wherever it is drawn: dates as dates (UTC), money
with its currency in the axis title and never in scientific notation, rates as percentages. Pure: never reads a
database, never imports Streamlit, never computes a statistic beyond what Vega-Lite bins; the frames are derived
elsewhere (``betpipe.backtest.report_tables`` for the report). Every function names the columns it expects.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, cast

import altair as alt
import numpy as np
import polars as pl

__all__ = [
    "WIDTH",
    "calibration_chart",
    "clv_histogram",
    "drawdown_chart",
    "equity_curve",
    "limit_chart",
    "monthly_heatmap",
    "period_returns",
]

WIDTH = 640
_HEIGHT = 220
MONEY = ",.0f"
"""Thousands separator, no decimals, never ``1e+3``: axis labels for amounts whose currency is in the title."""
MONEY_EXACT = ",.2f"
PERCENT = ".0%"
PERCENT_EXACT = "+.2%"
DATE = "%b %Y"
DAY = "%d %b %Y"
_POSITIVE, _NEGATIVE, _LINE, _LIMIT = "#2ca02c", "#d62728", "#1f77b4", "#ff7f0e"

Chart = alt.Chart | alt.LayerChart
"""What every function returns: a top-level Vega-Lite chart; `.to_dict()` is its spec, `st.altair_chart` draws it."""


def _top(chart: Any) -> Chart:
    """Altair's ``properties`` is typed loosely (``Any``, or a union with FacetChart it never returns here)."""
    return cast(Chart, chart)


def _require(frame: pl.DataFrame, *columns: str) -> None:
    """A chart given the wrong frame fails here, naming the column, not deep inside Vega with an empty plot."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"chart frame lacks column(s) {', '.join(missing)}; has {', '.join(frame.columns)}")


def _date_axis(field: str, *, title: str | None = None, fmt: str = DATE) -> alt.X:
    """A UTC time axis. The format goes without ``formatType``: Vega-Lite 6 drops a format whose type is "utc",
    and a utc scale formats in UTC by itself."""
    return alt.X(f"{field}:T", title=title, scale=alt.Scale(type="utc"), axis=alt.Axis(format=fmt))


def _date_tip(field: str, *, title: str = "date") -> alt.Tooltip:
    """A date in a tooltip, in UTC whatever the viewer's zone (a UTC time unit formats in UTC)."""
    return alt.Tooltip(f"utcyearmonthdate({field}):T", title=title, format=DAY)


def _props(title: str, *, height: int = _HEIGHT) -> dict[str, Any]:
    return {"title": alt.TitleParams(title, anchor="start"), "width": WIDTH, "height": height}


def equity_curve(frame: pl.DataFrame, *, currency: str, starting_bankroll: float | None = None) -> Chart:
    """The bankroll over time. Columns: ``at`` (UTC datetime), ``bankroll`` (float, in ``currency``).

    A dashed rule marks the starting bankroll when given, so profit and loss read off against it.
    """
    _require(frame, "at", "bankroll")
    line = (
        alt.Chart(frame)
        .mark_line(color=_LINE, interpolate="step-after")
        .encode(
            x=_date_axis("at"),
            y=alt.Y(
                "bankroll:Q", title=f"bankroll ({currency})", axis=alt.Axis(format=MONEY), scale=alt.Scale(zero=False)
            ),
            tooltip=[
                _date_tip("at"),
                alt.Tooltip("bankroll:Q", title=f"bankroll ({currency})", format=MONEY_EXACT),
            ],
        )
    )
    if starting_bankroll is None:
        return _top(line.properties(**_props("Bankroll")))
    start = alt.Chart(pl.DataFrame({"start": [float(starting_bankroll)]})).mark_rule(strokeDash=[4, 4], color="gray")
    return _top(alt.layer(line, start.encode(y="start:Q")).properties(**_props("Bankroll")))


def drawdown_chart(frame: pl.DataFrame) -> Chart:
    """How far the bankroll stands below its running peak. Columns: ``at`` (UTC datetime), ``drawdown`` (share of
    the peak, 0 at a new high, 0.25 when a quarter of the peak is gone); drawn downwards from 0."""
    _require(frame, "at", "drawdown")
    shown = frame.with_columns((-pl.col("drawdown")).alias("below_peak"))
    return _top(
        alt.Chart(shown)
        .mark_area(color=_NEGATIVE, opacity=0.5, line={"color": _NEGATIVE}, interpolate="step-after")
        .encode(
            x=_date_axis("at"),
            y=alt.Y("below_peak:Q", title="below the peak", axis=alt.Axis(format=PERCENT)),
            tooltip=[
                _date_tip("at"),
                alt.Tooltip("drawdown:Q", title="drawdown", format=".1%"),
            ],
        )
        .properties(**_props("Drawdown", height=140))
    )


def period_returns(frame: pl.DataFrame, *, currency: str, period: Literal["month", "year"]) -> Chart:
    """Profit per calendar month or year, green above zero and red below. Columns: ``period`` (UTC datetime at the
    period's start), ``pnl`` (float, in ``currency``), ``return`` (pnl over the bankroll at the period's start),
    ``bets`` (int)."""
    _require(frame, "period", "pnl", "return", "bets")
    fmt = "%Y" if period == "year" else DATE
    unit = "utcyear" if period == "year" else "utcyearmonth"
    return _top(
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X(f"{unit}(period):O", title=None, axis=alt.Axis(format=fmt, labelAngle=0)),
            y=alt.Y("pnl:Q", title=f"profit ({currency})", axis=alt.Axis(format=MONEY)),
            color=alt.condition(alt.datum.pnl >= 0, alt.value(_POSITIVE), alt.value(_NEGATIVE)),
            tooltip=[
                alt.Tooltip(f"{unit}(period):T", title=period, format=fmt),
                alt.Tooltip("pnl:Q", title=f"profit ({currency})", format=MONEY_EXACT),
                alt.Tooltip("return:Q", title="return on bankroll", format=PERCENT_EXACT),
                alt.Tooltip("bets:Q", title="bets", format=","),
            ],
        )
        .properties(**_props("Yearly returns" if period == "year" else "Monthly returns"))
    )


def monthly_heatmap(frame: pl.DataFrame) -> Chart:
    """Return on bankroll per month: a year × month grid, red for losing months, green for winning ones.
    Columns: ``period`` (UTC datetime at the month's start), ``return`` (share), ``bets`` (int)."""
    _require(frame, "period", "return", "bets")
    largest = frame.get_column("return").abs().max() if frame.height else None
    top = max(0.01, float(largest)) if isinstance(largest, int | float) else 0.01
    base = alt.Chart(frame).encode(
        x=alt.X("utcmonth(period):O", title=None, axis=alt.Axis(format="%b", labelAngle=0)),
        y=alt.Y("utcyear(period):O", title=None, axis=alt.Axis(format="%Y")),
    )
    cells = base.mark_rect().encode(
        color=alt.Color(
            "return:Q",
            title="return",
            scale=alt.Scale(scheme="redyellowgreen", domain=[-top, top]),
            legend=alt.Legend(format=PERCENT),
        ),
        tooltip=[
            alt.Tooltip("utcyearmonth(period):T", title="month", format=DATE),
            alt.Tooltip("return:Q", title="return on bankroll", format=PERCENT_EXACT),
            alt.Tooltip("bets:Q", title="bets", format=","),
        ],
    )
    labels = base.mark_text(fontSize=10).encode(text=alt.Text("return:Q", format="+.1%"))
    years = frame.get_column("period").dt.year().n_unique() if frame.height else 1
    title = alt.TitleParams("Monthly return on bankroll", anchor="start")
    return _top(alt.layer(cells, labels).properties(title=title, width=WIDTH, height=24 * years))


def clv_histogram(frame: pl.DataFrame, *, bins: int = 40) -> Chart:
    """How the bets' closing-line value is spread. Columns: ``clv`` (share: +0.02 is a price 2 % above the fair
    close). A solid rule marks 0, a dashed one the mean.

    The bars are counted here, not in Vega-Lite: a spec carries ``bins`` rows whatever the number of bets, so a run
    of 100,000 bets neither bloats the report nor trips Altair's row limit.
    """
    _require(frame, "clv")
    values = frame.filter(pl.col("clv").is_not_null() & pl.col("clv").is_finite()).get_column("clv").to_numpy()
    counts, edges = np.histogram(values, bins=bins) if values.size else (np.zeros(0, np.int64), np.zeros(1))
    binned = pl.DataFrame({"clv_from": edges[:-1], "clv_to": edges[1:], "bets": counts.astype(np.int64)})
    bars = (
        alt.Chart(binned)
        .mark_bar(color=_LINE, opacity=0.8, binSpacing=0)
        .encode(
            x=alt.X("clv_from:Q", title="CLV", axis=alt.Axis(format=PERCENT)),
            x2="clv_to:Q",
            y=alt.Y("bets:Q", title="bets", axis=alt.Axis(format=",d")),
            tooltip=[
                alt.Tooltip("clv_from:Q", title="CLV from", format="+.1%"),
                alt.Tooltip("clv_to:Q", title="to", format="+.1%"),
                alt.Tooltip("bets:Q", title="bets", format=","),
            ],
        )
    )
    zero = alt.Chart(pl.DataFrame({"x": [0.0]})).mark_rule(color="black").encode(x="x:Q")
    average = float(values.mean()) if values.size else 0.0
    mean = (
        alt.Chart(pl.DataFrame({"mean": [average]}))
        .mark_rule(color=_LIMIT, strokeDash=[4, 4], size=2)
        .encode(x="mean:Q", tooltip=[alt.Tooltip("mean:Q", title="mean CLV", format="+.2%")])
    )
    return _top(alt.layer(bars, zero, mean).properties(**_props("Closing-line value per bet")))


def calibration_chart(frame: pl.DataFrame) -> Chart:
    """Probability bet on against the share that won, per bin. Columns: ``predicted`` (mean probability in the
    bin), ``observed`` (share won), ``rows`` (bets in the bin). Points on the dashed diagonal are calibrated."""
    _require(frame, "predicted", "observed", "rows")
    axis = alt.Axis(format=PERCENT, values=[i / 10 for i in range(11)])
    diagonal = (
        alt.Chart(pl.DataFrame({"p": [0.0, 1.0]}))
        .mark_line(strokeDash=[4, 4], color="gray")
        .encode(x=alt.X("p:Q"), y=alt.Y("p:Q"))
    )
    points = (
        alt.Chart(frame)
        .mark_circle(color=_LIMIT, opacity=0.9)
        .encode(
            x=alt.X("predicted:Q", title="probability bet on", scale=alt.Scale(domain=[0, 1]), axis=axis),
            y=alt.Y("observed:Q", title="share won", scale=alt.Scale(domain=[0, 1]), axis=axis),
            size=alt.Size("rows:Q", title="bets", legend=alt.Legend(format=",d")),
            tooltip=[
                alt.Tooltip("predicted:Q", title="probability bet on", format=".1%"),
                alt.Tooltip("observed:Q", title="share won", format=".1%"),
                alt.Tooltip("rows:Q", title="bets", format=","),
            ],
        )
    )
    title = alt.TitleParams("Calibration of the probabilities bet on", anchor="start")
    return _top(alt.layer(diagonal, points).properties(title=title, width=320, height=320))


def limit_chart(
    frame: pl.DataFrame, *, value: str, title: str, currency: str, limits: Mapping[str, float] | None = None
) -> Chart:
    """A money series over time with its risk limits as horizontal rules (e.g. open exposure against the exposure
    cap, the bankroll against its floor). Columns: ``at`` (UTC datetime) and ``value`` (float, in ``currency``);
    ``limits`` maps a limit's label to its amount."""
    _require(frame, "at", value)
    line = (
        alt.Chart(frame)
        .mark_line(color=_LINE, interpolate="step-after", point=frame.height < 60)
        .encode(
            x=_date_axis("at"),
            y=alt.Y(f"{value}:Q", title=f"{title} ({currency})", axis=alt.Axis(format=MONEY)),
            tooltip=[
                _date_tip("at"),
                alt.Tooltip(f"{value}:Q", title=f"{title} ({currency})", format=MONEY_EXACT),
            ],
        )
    )
    if not limits:
        return _top(line.properties(**_props(title)))
    rules = pl.DataFrame({"limit": list(limits), "amount": [float(v) for v in limits.values()]})
    base = alt.Chart(rules)
    lines = base.mark_rule(color=_LIMIT, strokeDash=[6, 3], size=2).encode(
        y="amount:Q",
        tooltip=[alt.Tooltip("limit:N"), alt.Tooltip("amount:Q", title=currency, format=MONEY_EXACT)],
    )
    labels = base.mark_text(align="right", dx=-2, dy=-6, color=_LIMIT).encode(
        y="amount:Q", x=alt.value(WIDTH), text="limit:N"
    )
    return _top(alt.layer(line, lines, labels).properties(**_props(title)))
