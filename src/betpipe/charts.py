"""Chart definitions shared by the HTML backtest report and the Streamlit dashboard: polars frames in, Altair
(Vega-Lite) charts out.

One definition per figure, so a bankroll curve looks the same wherever it is drawn: dates as dates (UTC), money
with its currency in the axis title and never in scientific notation, rates as percentages. Pure: never reads a
database, never imports Streamlit, never computes a statistic beyond what Vega-Lite bins; the frames are derived
elsewhere (``betpipe.backtest.report_tables`` for the report). Every function names the columns it expects.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any, Literal, cast

import altair as alt
import numpy as np
import polars as pl

__all__ = [
    "HEIGHT",
    "WIDTH",
    "calibration_chart",
    "clv_histogram",
    "date_ticks",
    "drawdown_chart",
    "edge_histogram",
    "equity_curve",
    "limit_chart",
    "monthly_heatmap",
    "period_returns",
    "series_chart",
]

WIDTH = 640
HEIGHT = 220
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


def date_ticks(frame: pl.DataFrame, field: str) -> tuple[str, dict[str, Any]]:
    """The tick format and a tick interval of the same unit for the span of ``frame[field]``, so no two ticks print
    the same label: a fixed month format made every tick of a one-month ledger read "Mar 2025"."""
    values = frame.get_column(field).drop_nulls() if field in frame.columns else pl.Series([], dtype=pl.Date)
    first, last = (values.min(), values.max()) if len(values) else (None, None)
    span = (last - first).days if isinstance(first, date) and isinstance(last, date) else 0
    for most, fmt, interval, step in _TICKS:
        if span <= most:
            return fmt, {"interval": interval, "step": step}
    return "%Y", {"interval": "year", "step": 1}


_TICKS = (
    (14, "%d %b", "day", 1),
    (62, "%d %b", "week", 1),
    (366, DATE, "month", 1),
    (730, DATE, "month", 3),
    (2200, DATE, "month", 6),
)


def _date_axis(field: str, frame: pl.DataFrame, *, title: str | None = None, days: bool = False) -> alt.X:
    """A UTC time axis whose ticks name distinct dates (``date_ticks``). The format goes without ``formatType``:
    Vega-Lite 6 drops a format whose type is "utc", and a utc scale formats and places ticks in UTC by itself.
    ``days`` makes each value a UTC day, so a bar fills its day instead of being a hairline at midnight."""
    fmt, ticks = date_ticks(frame, field)
    axis = alt.Axis(format=fmt, tickCount=ticks, labelOverlap=True)
    unit: dict[str, Any] = {"timeUnit": "utcyearmonthdate"} if days else {}
    return alt.X(f"{field}:T", title=title, scale=alt.Scale(type="utc"), axis=axis, **unit)


def _date_tip(field: str, *, title: str = "date") -> alt.Tooltip:
    """A date in a tooltip, in UTC whatever the viewer's zone (a UTC time unit formats in UTC)."""
    return alt.Tooltip(f"utcyearmonthdate({field}):T", title=title, format=DAY)


def _props(title: str, *, height: int = HEIGHT) -> dict[str, Any]:
    return {"title": alt.TitleParams(title, anchor="start"), "width": WIDTH, "height": height}


def _colour(series: str | None) -> dict[str, Any]:
    """One colour per series (accounts, models) with the legend above the plot, where long names fit and the
    plot keeps its height when the page fixes the chart's total height."""
    if series is None:
        return {}
    return {"color": alt.Color(f"{series}:N", title=None, legend=alt.Legend(orient="top", labelLimit=360))}


def _series_tip(series: str | None) -> list[alt.Tooltip]:
    return [] if series is None else [alt.Tooltip(f"{series}:N", title=series)]


def _limit_layers(limits: Mapping[str, float], currency: str) -> list[alt.Chart]:
    """A dashed rule per limit, labelled at the plot's right edge (``x="width"``: wherever the chart is drawn)."""
    rules = pl.DataFrame({"limit": list(limits), "amount": [float(v) for v in limits.values()]})
    base = alt.Chart(rules)
    lines = base.mark_rule(color=_LIMIT, strokeDash=[6, 3], size=2).encode(
        y="amount:Q",
        tooltip=[alt.Tooltip("limit:N"), alt.Tooltip("amount:Q", title=currency, format=MONEY_EXACT)],
    )
    labels = base.mark_text(align="right", dx=-2, dy=-6, color=_LIMIT, x="width").encode(y="amount:Q", text="limit:N")
    return [lines, labels]


def equity_curve(
    frame: pl.DataFrame,
    *,
    currency: str,
    starting_bankroll: float | None = None,
    series: str | None = None,
    limits: Mapping[str, float] | None = None,
) -> Chart:
    """The bankroll over time. Columns: ``at`` (UTC datetime), ``bankroll`` (float, in ``currency``), and
    ``series`` when given (one line per account).

    A dashed rule marks the starting bankroll when given, so profit and loss read off against it; ``limits`` (label
    to amount, e.g. the bankroll floor) are drawn as in ``limit_chart``.
    """
    _require(frame, "at", "bankroll", *([series] if series else []))
    line = (
        alt.Chart(frame)
        .mark_line(color=_LINE, interpolate="step-after")
        .encode(
            x=_date_axis("at", frame),
            y=alt.Y(
                "bankroll:Q", title=f"bankroll ({currency})", axis=alt.Axis(format=MONEY), scale=alt.Scale(zero=False)
            ),
            tooltip=[
                _date_tip("at"),
                *_series_tip(series),
                alt.Tooltip("bankroll:Q", title=f"bankroll ({currency})", format=MONEY_EXACT),
            ],
            **_colour(series),
        )
    )
    layers: list[Any] = [line]
    if starting_bankroll is not None:
        start = alt.Chart(pl.DataFrame({"start": [float(starting_bankroll)]}))
        layers.append(start.mark_rule(strokeDash=[4, 4], color="gray").encode(y="start:Q"))
    if limits:
        layers += _limit_layers(limits, currency)
    if len(layers) == 1:
        return _top(line.properties(**_props("Bankroll")))
    return _top(alt.layer(*layers).properties(**_props("Bankroll")))


def drawdown_chart(frame: pl.DataFrame, *, series: str | None = None) -> Chart:
    """How far the bankroll stands below its running peak. Columns: ``at`` (UTC datetime), ``drawdown`` (share of
    the peak, 0 at a new high, 0.25 when a quarter of the peak is gone), and ``series`` when given; drawn downwards
    from 0, as an area for one bankroll and as lines for several (overlapping areas hide each other)."""
    _require(frame, "at", "drawdown", *([series] if series else []))
    shown = frame.with_columns((-pl.col("drawdown")).alias("below_peak"))
    base = alt.Chart(shown)
    if series is None:
        mark = base.mark_area(color=_NEGATIVE, opacity=0.5, line={"color": _NEGATIVE}, interpolate="step-after")
    else:
        mark = base.mark_line(interpolate="step-after")
    return _top(
        mark.encode(
            x=_date_axis("at", frame),
            y=alt.Y("below_peak:Q", title="below the peak", axis=alt.Axis(format=PERCENT)),
            tooltip=[
                _date_tip("at"),
                *_series_tip(series),
                alt.Tooltip("drawdown:Q", title="drawdown", format=".1%"),
            ],
            **_colour(series),
        ).properties(**_props("Drawdown", height=140))
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


def _binned(values: np.ndarray[Any, Any], bins: int, *, cap: float | None = None) -> pl.DataFrame:
    """Equal-width bins (``from``, ``to``, ``bets``) of the finite ``values``; with ``cap``, values above that
    quantile are counted in the last bin instead of stretching the axis."""
    values = values[np.isfinite(values)]
    if values.size and cap is not None:
        values = np.minimum(values, np.quantile(values, cap))
    if not values.size:
        counts, edges = np.zeros(0, np.int64), np.zeros(1)
    elif np.ptp(values) == 0:  # one value: one bar a percentage point wide, not numpy's default of 100 points
        counts, edges = np.array([values.size]), values[0] + np.array([-0.005, 0.005])
    else:
        counts, edges = np.histogram(values, bins=bins)
    return pl.DataFrame({"from": edges[:-1], "to": edges[1:], "bets": counts.astype(np.int64)})


_PERCENT_STEPS = alt.Axis(format=PERCENT, tickMinStep=0.01)
"""Whole-percent ticks at least a point apart: finer ticks would print "1%" twice under ``PERCENT``."""


def _histogram(binned: pl.DataFrame, *, name: str, title: str, mean: float) -> Chart:
    bars = (
        alt.Chart(binned.rename({"from": f"{name}_from", "to": f"{name}_to"}))
        .mark_bar(color=_LINE, opacity=0.8, binSpacing=0)
        .encode(
            x=alt.X(f"{name}_from:Q", bin="binned", title=name.replace("clv", "CLV"), axis=_PERCENT_STEPS),
            x2=f"{name}_to:Q",
            y=alt.Y("bets:Q", title="bets", axis=alt.Axis(format=",d")),
            tooltip=[
                alt.Tooltip(f"{name}_from:Q", title=f"{name.replace('clv', 'CLV')} from", format="+.1%"),
                alt.Tooltip(f"{name}_to:Q", title="to", format="+.1%"),
                alt.Tooltip("bets:Q", title="bets", format=","),
            ],
        )
    )
    zero = alt.Chart(pl.DataFrame({"x": [0.0]})).mark_rule(color="black").encode(x="x:Q")
    label = f"mean {name.replace('clv', 'CLV')}"
    average = (
        alt.Chart(pl.DataFrame({"mean": [mean]}))
        .mark_rule(color=_LIMIT, strokeDash=[4, 4], size=2)
        .encode(x="mean:Q", tooltip=[alt.Tooltip("mean:Q", title=label, format="+.2%")])
    )
    return _top(alt.layer(bars, zero, average).properties(**_props(title)))


def _finite(frame: pl.DataFrame, column: str) -> np.ndarray[Any, Any]:
    kept = frame.filter(pl.col(column).is_not_null() & pl.col(column).is_finite()).get_column(column)
    return kept.cast(pl.Float64).to_numpy()


def clv_histogram(frame: pl.DataFrame, *, bins: int = 40) -> Chart:
    """How the bets' closing-line value is spread. Columns: ``clv`` (share: +0.02 is a price 2 % above the fair
    close). A solid rule marks 0, a dashed one the mean.

    The bars are counted here, not in Vega-Lite: a spec carries ``bins`` rows whatever the number of bets, so a run
    of 100,000 bets neither bloats the report nor trips Altair's row limit.
    """
    _require(frame, "clv")
    values = _finite(frame, "clv")
    mean = float(values.mean()) if values.size else 0.0
    return _histogram(_binned(values, bins), name="clv", title="Closing-line value per bet", mean=mean)


def edge_histogram(frame: pl.DataFrame, *, bins: int = 20) -> Chart:
    """The edge the bets were placed at (probability x price - 1). Columns: ``edge`` (share). Edges above the 99th
    percentile are counted in the last bar: a few outliers would otherwise squeeze every other bet into one bar."""
    _require(frame, "edge")
    values = _finite(frame, "edge")
    mean = float(values.mean()) if values.size else 0.0
    return _histogram(_binned(values, bins, cap=0.99), name="edge", title="Edge taken per bet", mean=mean)


_CALIBRATION = {
    "bets": ("Calibration of the probabilities bet on", "probability bet on", "share won", "bets"),
    "predictions": ("Calibration of the served predictions", "predicted probability", "observed frequency", "rows"),
}


def calibration_chart(frame: pl.DataFrame, *, of: Literal["bets", "predictions"] = "bets") -> Chart:
    """Probability bet on against the share that won, per bin. Columns: ``predicted`` (mean probability in the
    bin), ``observed`` (share won), ``rows`` (bets in the bin). Points on the dashed diagonal are calibrated.
    ``of="predictions"`` words the titles for served predictions (every outcome of every match, not bets)."""
    _require(frame, "predicted", "observed", "rows")
    heading, x_title, y_title, count = _CALIBRATION[of]
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
            x=alt.X("predicted:Q", title=x_title, scale=alt.Scale(domain=[0, 1]), axis=axis),
            y=alt.Y("observed:Q", title=y_title, scale=alt.Scale(domain=[0, 1]), axis=axis),
            size=alt.Size("rows:Q", title=count, legend=alt.Legend(format=",d")),
            tooltip=[
                alt.Tooltip("predicted:Q", title=x_title, format=".1%"),
                alt.Tooltip("observed:Q", title=y_title, format=".1%"),
                alt.Tooltip("rows:Q", title=count, format=","),
            ],
        )
    )
    title = alt.TitleParams(heading, anchor="start")
    return _top(alt.layer(diagonal, points).properties(title=title, width=320, height=320))


def limit_chart(
    frame: pl.DataFrame,
    *,
    value: str,
    title: str,
    currency: str,
    limits: Mapping[str, float] | None = None,
    series: str | None = None,
    mark: Literal["line", "bar", "point"] = "line",
) -> Chart:
    """A money series over time with its risk limits as horizontal rules (e.g. open exposure against the exposure
    cap, daily P&L against the daily loss limit). Columns: ``at`` (UTC datetime), ``value`` (float, in
    ``currency``) and ``series`` when given (one line or colour of dots per account); ``limits`` maps a limit's
    label to its amount. ``mark="bar"`` draws green/red bars by sign (one amount per date); ``"point"`` draws dots,
    for several accounts on a date whose bars would stack into a sum no limit applies to."""
    _require(frame, "at", value, *([series] if series else []))
    base = alt.Chart(frame)
    sign = {"color": alt.condition(alt.datum[value] >= 0, alt.value(_POSITIVE), alt.value(_NEGATIVE))}
    if mark == "bar":
        drawn, colour = base.mark_bar(), sign
    elif mark == "point":
        drawn, colour = base.mark_circle(size=30, opacity=0.7), _colour(series) or sign
    else:
        drawn = base.mark_line(color=_LINE, interpolate="step-after", point=frame.height < 60)
        colour = _colour(series)
    line = drawn.encode(
        x=_date_axis("at", frame, days=mark == "bar"),
        y=alt.Y(f"{value}:Q", title=f"{title} ({currency})", axis=alt.Axis(format=MONEY)),
        tooltip=[
            _date_tip("at"),
            *_series_tip(series),
            alt.Tooltip(f"{value}:Q", title=f"{title} ({currency})", format=MONEY_EXACT),
        ],
        **colour,
    )
    if not limits:
        return _top(line.properties(**_props(title)))
    return _top(alt.layer(line, *_limit_layers(limits, currency)).properties(**_props(title)))


def series_chart(
    frame: pl.DataFrame,
    *,
    value: str,
    title: str,
    y_title: str,
    series: str | None = None,
    fmt: str = ",.3f",
    mark: Literal["line", "bar"] = "line",
    zero: bool = True,
    axis_format: str | None = None,
) -> Chart:
    """Values per date, one line (or bar colour) per ``series`` value: model scores per day, predictions per day,
    cumulative P&L next to CLV as money. Columns: ``at`` (UTC datetime), ``value`` (float; a null is a gap), and
    ``series`` when given. ``y_title`` carries the unit (a currency, "%", a score's name); ``zero=False`` lets the
    axis start near the values (scores that move in the third decimal). ``fmt`` formats tooltips, and the axis
    unless ``axis_format`` is coarser (``",.0f"`` ticks for cents in tooltips)."""
    _require(frame, "at", value, *([series] if series else []))
    base = alt.Chart(frame)
    drawn = base.mark_bar() if mark == "bar" else base.mark_line(point=frame.height < 60)
    return _top(
        drawn.encode(
            x=_date_axis("at", frame, days=mark == "bar"),
            y=alt.Y(f"{value}:Q", title=y_title, axis=alt.Axis(format=axis_format or fmt), scale=alt.Scale(zero=zero)),
            tooltip=[_date_tip("at"), *_series_tip(series), alt.Tooltip(f"{value}:Q", title=y_title, format=fmt)],
            **_colour(series),
        ).properties(**_props(title))
    )
