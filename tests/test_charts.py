"""The shared chart definitions (betpipe.charts): each spec encodes the columns it documents, with the house
formats (UTC dates as dates, money with its currency and no scientific notation, rates in %), and carries the
frame's rows as its data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
import pytest

from betpipe import charts


def _spec(chart: Any) -> dict[str, Any]:
    spec: dict[str, Any] = chart.to_dict()
    return spec


def _layers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return list(spec.get("layer", [spec]))


def _data(spec: dict[str, Any], layer: dict[str, Any]) -> list[dict[str, Any]]:
    name = layer.get("data", spec.get("data", {})).get("name")
    return list(spec["datasets"][name])


def _curve() -> pl.DataFrame:
    start = datetime(2023, 1, 1, tzinfo=UTC)
    return pl.DataFrame(
        {
            "at": [start + timedelta(days=i) for i in range(4)],
            "bankroll": [1000.0, 1250.5, 900.0, 1100.0],
            "drawdown": [0.0, 0.0, 0.2803, 0.1204],
        }
    )


def test_equity_curve_draws_bankroll_over_utc_dates_in_the_currency() -> None:
    spec = _spec(charts.equity_curve(_curve(), currency="GBP", starting_bankroll=1000.0))
    line, start = _layers(spec)
    x, y = line["encoding"]["x"], line["encoding"]["y"]
    assert (x["field"], x["type"], x["scale"]["type"], x["axis"]["format"]) == (
        "at",
        "temporal",
        "utc",
        "%d %b",
    )  # 4 days: day ticks
    assert (y["field"], y["title"], y["axis"]["format"]) == ("bankroll", "bankroll (GBP)", ",.0f")
    assert [row["bankroll"] for row in _data(spec, line)] == [1000.0, 1250.5, 900.0, 1100.0]
    assert start["mark"]["type"] == "rule"
    assert _data(spec, start) == [{"start": 1000.0}]
    assert spec["title"]["text"] == "Bankroll"


def test_equity_curve_without_a_start_is_one_line() -> None:
    spec = _spec(charts.equity_curve(_curve(), currency="EUR"))
    assert "layer" not in spec
    assert spec["mark"]["type"] == "line"


def test_drawdown_is_drawn_below_zero_in_percent() -> None:
    spec = _spec(charts.drawdown_chart(_curve()))
    y = spec["encoding"]["y"]
    assert (y["field"], y["axis"]["format"]) == ("below_peak", ".0%")
    assert [row["below_peak"] for row in _data(spec, spec)] == [0.0, 0.0, -0.2803, -0.1204]


def _periods() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "period": [datetime(2023, 1, 1, tzinfo=UTC), datetime(2023, 2, 1, tzinfo=UTC)],
            "pnl": [150.0, -80.0],
            "return": [0.15, -0.0696],
            "bets": [40, 35],
        }
    )


@pytest.mark.parametrize(
    ("period", "unit", "title"), [("month", "utcyearmonth", "Monthly"), ("year", "utcyear", "Yearly")]
)
def test_period_returns_are_money_bars_coloured_by_sign(period: Any, unit: str, title: str) -> None:
    spec = _spec(charts.period_returns(_periods(), currency="EUR", period=period))
    assert spec["mark"]["type"] == "bar"
    assert spec["title"]["text"] == f"{title} returns"
    x, y, colour = (spec["encoding"][k] for k in ("x", "y", "color"))
    assert (x["timeUnit"], x["field"]) == (unit, "period")
    assert (y["field"], y["title"], y["axis"]["format"]) == ("pnl", "profit (EUR)", ",.0f")
    assert colour["condition"]["value"] == "#2ca02c"
    assert colour["value"] == "#d62728"
    assert [row["pnl"] for row in _data(spec, spec)] == [150.0, -80.0]


def test_monthly_heatmap_is_year_by_month_with_a_symmetric_diverging_scale() -> None:
    spec = _spec(charts.monthly_heatmap(_periods()))
    cells, labels = _layers(spec)
    encoding = spec["encoding"] if "encoding" in spec else cells["encoding"]
    assert encoding["x"]["timeUnit"] == "utcmonth"
    assert encoding["y"]["timeUnit"] == "utcyear"
    colour = cells["encoding"]["color"]
    assert colour["field"] == "return"
    assert colour["scale"]["domain"] == [-0.15, 0.15]
    assert labels["mark"]["type"] == "text"
    assert labels["encoding"]["text"]["format"] == "+.1%"


def test_clv_histogram_bins_clv_in_percent_with_zero_and_mean_rules() -> None:
    frame = pl.DataFrame({"clv": [0.01, -0.02, 0.05, None, float("nan")]})
    spec = _spec(charts.clv_histogram(frame, bins=20))
    bars, zero, mean = _layers(spec)
    x = bars["encoding"]["x"]
    assert (x["field"], x["axis"]["format"]) == ("clv_from", ".0%")
    rows = _data(spec, bars)
    assert len(rows) == 20
    assert sum(row["bets"] for row in rows) == 3  # null and NaN left out
    assert rows[0]["clv_from"] == pytest.approx(-0.02)
    assert rows[-1]["clv_to"] == pytest.approx(0.05)
    assert zero["mark"]["type"] == "rule"
    assert _data(spec, mean)[0]["mean"] == pytest.approx(0.04 / 3)


def test_clv_histogram_of_more_bets_than_altairs_row_limit_draws_its_bins() -> None:
    """A 7,021-bet line-shopping run failed with Altair's MaxRowsError when every bet was a row of the spec."""
    frame = pl.DataFrame({"clv": np.linspace(-0.1, 0.1, 20_000)})
    spec = _spec(charts.clv_histogram(frame, bins=40))
    bars, _, _ = _layers(spec)
    assert sum(row["bets"] for row in _data(spec, bars)) == 20_000


def test_calibration_points_are_sized_by_bets_on_a_unit_square() -> None:
    frame = pl.DataFrame({"predicted": [0.3, 0.5], "observed": [0.25, 0.55], "rows": [120, 40]})
    spec = _spec(charts.calibration_chart(frame))
    diagonal, points = _layers(spec)
    assert diagonal["mark"]["strokeDash"] == [4, 4]
    encoding = points["encoding"]
    assert encoding["x"]["scale"]["domain"] == [0, 1]
    assert encoding["y"]["axis"]["format"] == ".0%"
    assert encoding["size"]["field"] == "rows"
    assert [row["rows"] for row in _data(spec, points)] == [120, 40]


def test_limit_chart_draws_each_limit_as_a_labelled_rule() -> None:
    frame = pl.DataFrame({"at": _curve().get_column("at"), "exposure": [10.0, 40.0, 80.0, 20.0]})
    spec = _spec(charts.limit_chart(frame, value="exposure", title="open exposure", currency="EUR",
                                    limits={"exposure cap": 100.0, "daily loss limit": 50.0}))  # fmt: skip
    line, rules, labels = _layers(spec)
    assert line["encoding"]["y"]["title"] == "open exposure (EUR)"
    assert rules["mark"]["type"] == "rule"
    assert labels["encoding"]["text"]["field"] == "limit"
    assert _data(spec, rules) == [
        {"limit": "exposure cap", "amount": 100.0},
        {"limit": "daily loss limit", "amount": 50.0},
    ]


def test_a_frame_without_the_documented_columns_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="lacks column\\(s\\) bankroll"):
        charts.equity_curve(pl.DataFrame({"at": [], "value": []}), currency="EUR")
