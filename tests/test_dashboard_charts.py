"""The chart definitions the dashboard adds to ``betpipe.charts`` (one line per account, limits on the bankroll, daily
bars, series per model, the edge histogram), the date ticks that never print one month twice, and the frames the
dashboard hands them (``dashboard_bets.equity_frame``). Specs are read as Vega-Lite dictionaries: what the browser
test checks drawn, these check encoded."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import polars as pl
import pytest

from betpipe import charts
from betpipe.monitoring import dashboard_bets as ledger
from betpipe.monitoring import dashboard_data as data

START = datetime(2024, 3, 1, tzinfo=UTC)


def _spec(chart: Any) -> dict[str, Any]:
    spec: dict[str, Any] = chart.to_dict()
    return spec


def _layers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return list(spec.get("layer", [spec]))


def _rows(spec: dict[str, Any], layer: dict[str, Any]) -> list[dict[str, Any]]:
    name = layer.get("data", spec.get("data", {})).get("name")
    return list(spec["datasets"][name])


def _days(n: int, step: int = 1) -> list[datetime]:
    return [START + timedelta(days=i * step) for i in range(n)]


@pytest.mark.parametrize(
    ("span_days", "fmt", "interval"),
    [
        (9, "%d %b", "day"),
        (27, "%d %b", "week"),
        (270, "%b %Y", "month"),
        (1400, "%b %Y", "month"),
        (3000, "%Y", "year"),
    ],
)
def test_date_ticks_are_as_fine_as_their_format_so_no_label_repeats(span_days: int, fmt: str, interval: str) -> None:
    frame = pl.DataFrame({"at": [START, START + timedelta(days=span_days)]})
    got_format, ticks = charts.date_ticks(frame, "at")
    assert (got_format, ticks["interval"]) == (fmt, interval)
    # A tick every `interval` printed with `fmt` never prints the same text twice: a month format needs month ticks.
    assert not (got_format == "%b %Y" and ticks["interval"] in ("day", "week"))


def test_a_one_month_ledger_gets_day_labels_on_every_chart_not_the_month_again() -> None:
    frame = pl.DataFrame({"at": _days(25), "bankroll": np.linspace(1000, 1100, 25), "drawdown": [0.0] * 25})
    for chart in (charts.equity_curve(frame, currency="EUR"), charts.drawdown_chart(frame)):
        axis = _layers(_spec(chart))[0]["encoding"]["x"]["axis"]
        assert axis["format"] == "%d %b"
        assert axis["tickCount"] == {"interval": "week", "step": 1}


def test_equity_curve_draws_one_line_per_account_with_the_bankroll_floor() -> None:
    frame = pl.DataFrame(
        {
            "at": _days(3) * 2,
            "bankroll": [1000.0, 990.0, 1010.0, 1000.0, 700.0, 650.0],
            "account": ["a"] * 3 + ["b"] * 3,
        }
    )
    spec = _spec(charts.equity_curve(frame, currency="EUR", starting_bankroll=1000.0, series="account",
                                     limits={"bankroll floor 500.00": 500.0}))  # fmt: skip
    line, start, floor, label = _layers(spec)
    assert line["encoding"]["color"]["field"] == "account"
    assert _rows(spec, start) == [{"start": 1000.0}]
    assert _rows(spec, floor) == [{"limit": "bankroll floor 500.00", "amount": 500.0}]
    assert label["mark"]["x"] == "width"  # the label sits at the right edge whatever width the page gives
    with pytest.raises(ValueError, match="lacks column\\(s\\) account"):
        charts.equity_curve(frame.drop("account"), currency="EUR", series="account")


def test_drawdown_of_several_accounts_is_lines_not_overlapping_areas() -> None:
    frame = pl.DataFrame({"at": _days(2) * 2, "drawdown": [0.0, 0.1, 0.0, 0.3], "account": ["a", "a", "b", "b"]})
    assert _spec(charts.drawdown_chart(frame))["mark"]["type"] == "area"
    spec = _spec(charts.drawdown_chart(frame, series="account"))
    assert spec["mark"]["type"] == "line"
    assert spec["encoding"]["color"]["field"] == "account"


def test_daily_pnl_bars_fill_their_day_coloured_by_sign_against_the_loss_limit() -> None:
    frame = pl.DataFrame({"at": _days(3), "pnl": [-8.0, 12.0, -55.0]})
    spec = _spec(charts.limit_chart(frame, value="pnl", title="Daily P&L", currency="EUR",
                                    limits={"daily loss limit -50.00": -50.0}, mark="bar"))  # fmt: skip
    bars, rule, _ = _layers(spec)
    assert bars["mark"]["type"] == "bar"
    assert bars["encoding"]["x"]["timeUnit"] == "utcyearmonthdate"  # a day wide, not a hairline at midnight
    assert bars["encoding"]["color"]["condition"]["value"] == "#2ca02c"
    assert bars["encoding"]["y"]["title"] == "Daily P&L (EUR)"
    assert _rows(spec, rule) == [{"limit": "daily loss limit -50.00", "amount": -50.0}]
    dots = _spec(charts.limit_chart(frame.with_columns(account=pl.lit("a")), value="pnl", title="Daily P&L",
                                    currency="EUR", series="account", mark="point"))  # fmt: skip
    assert dots["mark"]["type"] == "circle"
    assert dots["encoding"]["color"]["field"] == "account"


def test_series_chart_draws_a_line_per_model_and_keeps_a_null_score_as_a_gap() -> None:
    frame = pl.DataFrame(
        {"at": _days(3) * 2, "brier": [0.6, None, 0.58, 0.61, 0.6, 0.59], "model": ["v1"] * 3 + ["v2"] * 3}
    )
    spec = _spec(charts.series_chart(frame, value="brier", series="model", title="Brier", y_title="Brier", zero=False))
    assert spec["mark"]["type"] == "line"
    assert spec["encoding"]["color"]["field"] == "model"
    assert spec["encoding"]["y"]["scale"]["zero"] is False
    assert [r["brier"] for r in _rows(spec, spec)] == [0.6, None, 0.58, 0.61, 0.6, 0.59]
    bars = _spec(charts.series_chart(frame, value="brier", title="t", y_title="y", mark="bar"))
    assert bars["mark"]["type"] == "bar"


def test_edge_histogram_counts_every_edge_and_puts_the_outliers_in_its_last_bar() -> None:
    edges = pl.DataFrame({"edge": [0.001 * i for i in range(100)] + [5.0, None, float("nan")]})
    spec = _spec(charts.edge_histogram(edges, bins=10))
    bars, _, mean = _layers(spec)
    rows = _rows(spec, bars)
    assert sum(r["bets"] for r in rows) == 101  # null and NaN left out, the outlier kept
    assert rows[-1]["edge_to"] < 0.2  # ... in the last bar, not stretching the axis to 500 %
    assert bars["encoding"]["x"]["bin"] == "binned"  # bars from 0 up, each as wide as its bin
    assert _rows(spec, mean)[0]["mean"] == pytest.approx((sum(0.001 * i for i in range(100)) + 5.0) / 101)


def test_a_histogram_of_one_value_is_one_narrow_bar() -> None:
    spec = _spec(charts.clv_histogram(pl.DataFrame({"clv": [0.05] * 6})))
    (row,) = _rows(spec, _layers(spec)[0])
    assert row["bets"] == 6
    assert row["clv_to"] - row["clv_from"] == pytest.approx(0.01)  # numpy alone would make it 100 points wide


def test_calibration_of_served_predictions_is_worded_for_predictions() -> None:
    frame = pl.DataFrame({"predicted": [0.3], "observed": [0.25], "rows": [120]})
    spec = _spec(charts.calibration_chart(frame, of="predictions"))
    assert spec["title"]["text"] == "Calibration of the served predictions"
    assert _layers(spec)[1]["encoding"]["x"]["title"] == "predicted probability"
    assert _spec(charts.calibration_chart(frame))["title"]["text"] == "Calibration of the probabilities bet on"


def test_the_dashboards_equity_frame_starts_at_the_starting_bankroll_the_day_before() -> None:
    settled = pl.DataFrame(
        {
            "account": ["paper"] * 3,
            "state": ["lost", "won", "lost"],
            "stake": [10.0] * 3,
            "pnl": [-10.0, 11.0, -10.0],
            "settled_at": [START, START + timedelta(days=1), START + timedelta(days=3)],
        }
    )
    curve = ledger.bankroll_curve(settled, Decimal("1000"))
    frame = ledger.equity_frame(curve, from_start=True)
    assert frame["bankroll"].to_list() == [1000.0, 990.0, 1001.0, 991.0]
    assert frame["at"].to_list()[0] == START - timedelta(days=1)
    assert frame["drawdown"].to_list() == pytest.approx([0.0, 0.01, 0.0, 10 / 1001])  # share of the peak, positive
    assert ledger.equity_frame(curve, from_start=False).height == 3  # a later window starts where the bankroll stood
    spec = _spec(charts.equity_curve(frame, currency="EUR"))
    assert spec["encoding"]["x"]["scale"]["type"] == "utc"


def test_days_become_utc_midnights_for_the_charts() -> None:
    frame = data.at_midnight(pl.DataFrame({"day": [date(2024, 3, 1)]}))
    assert frame["at"].to_list() == [datetime(2024, 3, 1, tzinfo=UTC)]


def test_returns_per_month_are_on_the_bankroll_at_the_months_start() -> None:
    settled = pl.DataFrame(
        {
            "account": ["paper"] * 3,
            "state": ["won", "lost", "won"],
            "stake": [10.0] * 3,
            "pnl": [100.0, -55.0, 11.0],
            "settled_at": [START, START + timedelta(days=40), START + timedelta(days=41)],
        }
    )
    monthly = ledger.period_frame(settled, Decimal("1000"), "1mo")
    assert monthly["pnl"].to_list() == [100.0, -44.0]
    assert monthly["return"].to_list() == pytest.approx([0.1, -44 / 1100])  # April starts at 1,100
    assert monthly["bets"].to_list() == [1, 2]
    spec = _spec(charts.monthly_heatmap(monthly))
    assert [r["pnl"] for r in _rows(spec, _layers(spec)[0])] == [100.0, -44.0]
    yearly = ledger.period_frame(settled, Decimal("1000"), "1y")
    assert yearly["return"].to_list() == pytest.approx([0.056])
