"""The dashboard's ledger views (issue 17 item 5): the bankroll and drawdown, the settled-bet history with teams,
the sidebar filters, refused bets with their rule, limit lines on the risk charts, the currency on every amount and
"yield" (P&L / turnover) as the report and the CLI call it.

The pure functions of ``dashboard_bets`` are checked on hand-made frames; the pages through Streamlit's AppTest on
the store ``test_dashboard.seed_everything`` plants through the ledger API.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import polars as pl
import pytest
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from betpipe.betting import PaperBook, halt_account, place_bets
from betpipe.charts import date_ticks
from betpipe.clock import FixedClock
from betpipe.monitoring import dashboard_bets as ledger
from fakes.betting import DECIDED, candidate
from test_dashboard import LIMITS, metrics, page, seed_everything, store, texts

__all__ = ["store"]  # the fixture, shared with test_dashboard

DAY = datetime(2024, 1, 1, 18, tzinfo=UTC)


def bets_frame(pnls: list[float | None], days: list[int], accounts: list[str] | None = None) -> pl.DataFrame:
    """Settled (or open, P&L None) bets of 10.00, one per entry, settled ``days`` after DAY."""
    n = len(pnls)
    states = ["placed" if p is None else "won" if p > 0 else "lost" for p in pnls]
    return pl.DataFrame(
        {
            "account": accounts or ["paper"] * n,
            "event_id": list(range(1, n + 1)),
            "competition": ["E0"] * n,
            "market": ["1x2"] * n,
            "book": ["bet365"] * n,
            "state": states,
            "stake": [10.0] * n,
            "pnl": pnls,
            "kickoff": [DAY + timedelta(days=d) for d in days],
            "settled_at": [
                None if p is None else DAY + timedelta(days=d, hours=3) for p, d in zip(pnls, days, strict=True)
            ],
        },
        schema_overrides={"pnl": pl.Float64, "settled_at": pl.Datetime("us", "UTC")},
    )


def test_the_bankroll_starts_at_the_starting_bankroll_and_the_drawdown_is_measured_from_the_peak() -> None:
    frame = bets_frame([20.0, -10.0, -15.0, 30.0, None], [0, 1, 2, 3, 4])
    curve = ledger.bankroll_curve(frame, Decimal("100"))
    assert curve["bankroll"].to_list() == [120.0, 110.0, 95.0, 125.0]  # the open bet is not in the bankroll
    assert curve["peak"].to_list() == [120.0, 120.0, 120.0, 125.0]
    assert curve["drawdown"].to_list() == [0.0, -10.0, -25.0, 0.0]
    assert curve["drawdown_share"][2] == pytest.approx(-25 / 120)


def test_a_losing_start_is_a_drawdown_from_the_starting_bankroll() -> None:
    curve = ledger.bankroll_curve(bets_frame([-10.0, 5.0], [0, 1]), Decimal("100"))
    assert curve["drawdown"].to_list() == [-10.0, -5.0]  # never above the starting bankroll: the peak is 100


def test_a_date_window_keeps_the_earlier_profit_in_the_bankroll() -> None:
    frame = bets_frame([20.0, -10.0, 5.0], [0, 10, 20])
    window = ledger.BetFilters(start=(DAY + timedelta(days=5)).date())
    curve = ledger.bankroll_curve(frame, Decimal("100"), window)
    assert curve["bankroll"].to_list() == [110.0, 115.0]  # starts from 120 won before the window, not from 100
    assert curve["drawdown"].to_list() == [-10.0, -5.0]


def test_many_accounts_are_pooled_into_one_bankroll() -> None:
    accounts = [f"backtest:{i}" for i in range(ledger.MAX_ACCOUNT_LINES + 1)]
    frame = bets_frame([1.0] * len(accounts), [0] * len(accounts), accounts)
    curve = ledger.bankroll_curve(frame, Decimal("100"))
    assert curve["account"].to_list() == [f"all {len(accounts)} accounts"]
    assert curve["bankroll"].to_list() == [100.0 * len(accounts) + len(accounts)]


def test_filters_narrow_on_every_chosen_field_and_kickoff_dates_inclusive() -> None:
    frame = bets_frame([1.0, 2.0, 3.0], [0, 1, 2], ["a", "b", "a"]).with_columns(
        pl.Series("book", ["bet365", "pinnacle", "pinnacle"])
    )
    assert ledger.BetFilters(accounts=("a",), books=("pinnacle",)).apply(frame)["pnl"].to_list() == [3.0]
    first, last = (DAY + timedelta(days=1)).date(), (DAY + timedelta(days=2)).date()
    assert ledger.BetFilters(start=first, end=last).apply(frame)["pnl"].to_list() == [2.0, 3.0]
    assert ledger.BetFilters(end=first).apply(frame, dates=False).height == 3
    assert not ledger.BetFilters().active
    assert "book: pinnacle" in ledger.BetFilters(books=("pinnacle",)).describe()


def test_date_ticks_name_days_within_a_month_and_years_across_seasons() -> None:
    days = pl.DataFrame({"day": [date(2025, 3, 1), date(2025, 3, 28)]})
    assert date_ticks(days, "day") == ("%d %b", {"interval": "week", "step": 1})  # not "2025-03" on every tick
    season = pl.DataFrame({"day": [date(2024, 8, 1), date(2025, 5, 1)]})
    assert date_ticks(season, "day") == ("%b %Y", {"interval": "month", "step": 1})  # one tick per month
    assert date_ticks(pl.DataFrame({"day": [date(2015, 8, 1), date(2023, 5, 1)]}), "day")[0] == "%Y"


def test_refusals_carry_the_rule_that_refused_them(sqlite_engine: Engine) -> None:
    bets = [candidate(1), candidate(1, selection="draw")]
    place_bets(sqlite_engine, bets, account="paper", book=PaperBook(), clock=FixedClock(DECIDED), limits=LIMITS)
    halt_account(sqlite_engine, "paper", reason="test", actor="test", clock=FixedClock(DECIDED))
    place_bets(
        sqlite_engine, [candidate(2)], account="paper", book=PaperBook(), clock=FixedClock(DECIDED), limits=LIMITS
    )
    refused = ledger.load_rejections([sqlite_engine], "paper")
    assert sorted(refused["rule"].to_list()) == ["event", "halt"]
    assert refused["stake"].to_list() == [10.0, 10.0]
    counts = ledger.rejection_counts(refused)
    assert counts["bets"].to_list() == [1, 1]
    assert counts.filter(pl.col("rule") == "halt")["latest_reason"][0].startswith("halt: account is halted")


def test_a_refusal_without_a_recorded_control_is_counted_under_its_reason_prefix() -> None:
    frame = pl.DataFrame(
        {
            "rule": [None, None],
            "reason": ["paper: order not placed (rejected)", "paper: price moved"],
            "stake": [5.0, 5.0],
            "created_at": [DAY, DAY + timedelta(hours=1)],
        }
    )
    prefix = frame.with_columns(pl.col("reason").str.split(":").list.first().alias("rule"))
    counts = ledger.rejection_counts(prefix)
    assert counts.rows() == [("paper", 2, 10.0, "paper: price moved")]


def _chart_specs(at: AppTest) -> list[dict[str, Any]]:
    return [json.loads(chart.proto.spec) for chart in at.get("vega_lite_chart")]


def _chart_values(at: AppTest) -> list[Any]:
    """Every value of every dataset the page's charts carry (Arrow IPC streams)."""
    values: list[Any] = []
    for chart in at.get("vega_lite_chart"):
        blobs = [d.data.data for d in chart.proto.datasets] + [chart.proto.data.data]
        for blob in filter(None, blobs):
            frame = pl.read_ipc_stream(io.BytesIO(blob))
            for column in frame.columns:
                values += frame[column].to_list()
    return values


def test_the_betting_page_shows_bankroll_history_with_teams_and_yield(store: Engine) -> None:
    seed_everything(store)
    at = page("betting.py")
    shown = metrics(at)
    assert shown["Yield"] == "-10.00 %"  # -7.00 over 70.00 staked, written as the CLI writes it
    assert shown["Turnover (EUR)"] == "70.00"
    assert not [m for m in shown if "ROI" in m]
    said = texts(at)
    assert "Starting bankroll 1,000.00 EUR per account" in said
    assert "Deepest drawdown: 8.00 EUR (0.8% below the peak) on 02 Mar 2024." in said
    assert any("bankroll floor 500.00" in str(v) for v in _chart_values(at))  # the floor drawn on the curve
    frames = {tuple(d.value.columns): d.value for d in at.dataframe}
    (history,) = [f for cols, f in frames.items() if "pnl" in cols and "match" in cols and "clv" in cols]
    assert len(history) == 7
    assert set(history["match"]) == {"E0 Home v E0 Away"}  # teams from the store, never a bare event id
    for column in ("kickoff", "book", "price", "stake", "pnl", "clv"):
        assert column in history.columns
    assert history["price"].tolist() == [2.1] * 7
    (open_bets,) = [f for cols, f in frames.items() if "edge" in cols and "match" in cols]
    assert list(open_bets["match"]) == ["E0 Home v E0 Away"]
    assert {"price", "stake"} <= set(open_bets.columns)


def test_sidebar_filters_narrow_every_figure(store: Engine) -> None:
    seed_everything(store)
    at = page("betting.py")
    at.multiselect(key="filter_competition").set_value(["SP1"]).run()
    assert metrics(at)["Settled bets"] == "2"
    assert "Filtered bets (competition: SP1)." in texts(at)
    at.multiselect(key="filter_competition").set_value([]).run()
    at.date_input(key="filter_dates").set_value((date(2024, 3, 9), date(2024, 3, 10))).run()
    shown = metrics(at)
    assert (shown["Settled bets"], shown["Open bets"]) == ("2", "1")  # the second matchday only
    at.switch_page("risk.py").run()
    assert "0 of 1 settlement day(s) lost" in texts(at)  # the risk history follows the same filter


def test_the_risk_page_lists_refusals_per_rule_and_draws_its_limits(store: Engine) -> None:
    seed_everything(store)
    at = page("risk.py")
    said = texts(at)
    assert "2 decision(s) refused, counted per rule" in said
    counts = next(d.value for d in at.dataframe if "latest_reason" in d.value.columns)
    assert sorted(counts["rule"]) == ["event", "halt"]
    refused = next(d.value for d in at.dataframe if "reason" in d.value.columns and "match" in d.value.columns)
    assert set(refused["match"]) >= {"E0 Home v E0 Away"}
    values = [str(v) for v in _chart_values(at)]
    assert "limit 200.00" in values  # open exposure limit
    assert "daily loss limit -50.00" in values
    rules = [layer for spec in _chart_specs(at) for layer in spec.get("layer", []) if "rule" in str(layer["mark"])]
    assert len(rules) == 2


def test_the_configured_currency_labels_every_amount(store: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BETPIPE_BANKROLL__CURRENCY", "gbp")
    seed_everything(store)
    betting = page("betting.py")
    assert metrics(betting)["P&L (GBP)"] == "-7.00"
    assert any(m.value.endswith("GBP") for m in page("risk.py").metric)
    assert "amounts in GBP" in [c.value for c in betting.sidebar.caption][-1]


def test_backtest_accounts_are_named_by_their_competitions_in_legends() -> None:
    frame = bets_frame([1.0, 2.0, 3.0], [0, 1, 2], ["backtest:8cb02c22544e0d4f", "paper", "backtest:8cb02c22544e0d4f"])
    frame = frame.with_columns(pl.Series("competition", ["E0", "E0", "SP1"]))
    assert ledger.account_names(frame) == {"backtest:8cb02c22544e0d4f": "E0, SP1 · backtest:8cb02c", "paper": "paper"}
