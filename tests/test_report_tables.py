"""The HTML report's derived tables (backtest.report_tables): they add up to the summary's own figures, refusals
count once per rule, and the CLV-and-profit paragraph says what the intervals support."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from betpipe.backtest import report_tables as tables
from betpipe.backtest.report import summarise
from fakes.report_bets import REFUSALS, bets_frame

START = 1000.0


@pytest.fixture(scope="module")
def bets() -> pl.DataFrame:
    return bets_frame()


def test_equity_ends_at_the_final_bankroll_and_starts_a_day_early(bets: pl.DataFrame) -> None:
    equity = tables.equity_frame(bets, START)
    summary = summarise(bets, starting_bankroll=START)
    assert equity.get_column("bankroll")[0] == START
    assert equity.get_column("bankroll")[-1] == pytest.approx(summary.final_bankroll)
    assert equity.get_column("at").is_sorted()
    assert equity.get_column("at").is_unique().all()
    assert equity.get_column("drawdown").max() == pytest.approx(summary.max_drawdown, abs=0.05)
    assert equity.get_column("drawdown").min() == 0.0


def test_equity_of_no_settled_bets_is_empty(bets: pl.DataFrame) -> None:
    assert tables.equity_frame(bets.filter(pl.col("state") == "rejected"), START).height == 0


def test_monthly_and_yearly_profit_add_up_and_returns_compound(bets: pl.DataFrame) -> None:
    profit = summarise(bets, starting_bankroll=START).profit
    for every in ("1mo", "1y"):
        periods = tables.period_frame(bets, START, every=every)
        assert periods.get_column("pnl").sum() == pytest.approx(profit)
        growth = (1 + periods.get_column("return")).product()
        assert START * growth == pytest.approx(START + profit)
    monthly = tables.period_frame(bets, START, every="1mo")
    assert monthly.get_column("period")[0] == datetime(2022, 8, 1, tzinfo=UTC)
    assert monthly.get_column("bets").sum() == summarise(bets, starting_bankroll=START).bets


def test_breakdowns_partition_the_settled_bets(bets: pl.DataFrame) -> None:
    summary = summarise(bets, starting_bankroll=START)
    for by in (["competition"], ["book"], ["market", "selection"]):
        table = tables.breakdown(bets, by, spec={"books": ["bet365"]})
        assert table.get_column("bets").sum() == summary.bets
        assert table.get_column("profit").sum() == pytest.approx(summary.profit)
        assert table.get_column("bets").is_sorted(descending=True)
    per_competition = tables.breakdown(bets, ["competition"]).sort("competition")
    d1 = bets.filter((pl.col("competition") == "D1") & pl.col("state").is_in(["won", "lost", "void"]))
    row = per_competition.row(0, named=True)
    assert row["competition"] == "D1"
    assert row["yield"] == pytest.approx(d1["pnl"].sum() / d1["stake"].sum())
    assert row["mean_clv"] == pytest.approx(d1["clv"].mean())


def test_book_and_market_come_from_the_spec_when_rows_lack_them(bets: pl.DataFrame) -> None:
    bare = bets.drop([c for c in ("book", "market") if c in bets.columns])
    assert tables.breakdown(bare, ["book"], spec={"books": ["sample_soft"]})["book"].to_list() == ["sample_soft"]
    assert tables.breakdown(bare, ["book"], spec={"book": "bet365"})["book"].to_list() == ["bet365"]
    assert tables.breakdown(bare, ["book"], spec={"books": ["a", "b"]})["book"].to_list() == ["not recorded"]
    assert tables.breakdown(bare, ["market"], spec={})["market"].to_list() == ["1x2"]
    assert tables.breakdown(bare, ["market"], spec={"sport": "american_football"})["market"].to_list() == ["moneyline"]


def test_refusals_count_once_per_rule_not_per_message() -> None:
    table = tables.refusals_by_rule(REFUSALS)
    assert table.select("rule", "bets").rows() == [("single_stake", 5), ("daily_loss", 4), ("event", 1)]
    assert table.row(0, named=True)["example"].startswith("single_stake: stake 31.50")
    assert tables.refusals_by_rule({}).height == 0


@pytest.mark.parametrize(
    ("reason", "rule"),
    [("daily_loss: loss 100 reached 50", "daily_loss"), ("stake below minimum", "other"), (None, "unknown")],
)
def test_rule_of_a_message(reason: str | None, rule: str) -> None:
    assert tables.rule_of(reason) == rule


def test_calibration_bins_cover_every_graded_bet(bets: pl.DataFrame) -> None:
    bins = tables.calibration_bins(bets)
    graded = bets.filter(pl.col("state").is_in(["won", "lost"]))
    assert bins.get_column("rows").sum() == graded.height
    assert bins.get_column("predicted").is_sorted()
    assert ((bins["observed"] >= 0) & (bins["observed"] <= 1)).all()


def test_bets_to_detect_follows_the_sample_size_formula() -> None:
    values = pl.Series([0.0, 0.02, 0.04] * 10)  # mean 0.02, sd ≈ 0.01640
    sd = float(values.std())  # type: ignore[arg-type]
    assert tables.bets_to_detect(values) == int(((1.959964 + 0.841621) * sd / 0.02) ** 2) + 1
    assert tables.bets_to_detect(pl.Series([0.0, 0.0])) is None
    assert tables.bets_to_detect(pl.Series([0.1])) is None


def _summary(clv: tuple[float, float, float], yield_: tuple[float, float, float]) -> dict[str, object]:
    keys = ("mean", "low", "high")
    return {
        "mean_clv": dict(zip(keys, clv, strict=True)),
        "yield": dict(zip(keys, yield_, strict=True)),
        "clv_bets": 7021,
    }


def test_paragraph_when_clv_is_positive_and_profit_is_noise(bets: pl.DataFrame) -> None:
    text = tables.verdict_paragraph(_summary((0.022, 0.0193, 0.0248), (0.01, -0.05, 0.07)), bets)
    assert text.startswith("CLV +2.20\u00a0% [+1.93\u00a0%, +2.48\u00a0%] on 7,021 bets says the prices taken beat")
    assert "too wide to say more: luck dominates at this sample size" in text
    assert "would need about" in text


def test_paragraph_when_both_agree_or_disagree(bets: pl.DataFrame) -> None:
    agree = tables.verdict_paragraph(_summary((0.02, 0.01, 0.03), (0.05, 0.01, 0.09)), bets)
    assert "agrees: both say the same thing" in agree
    luck = tables.verdict_paragraph(_summary((0.0, -0.01, 0.01), (0.05, 0.01, 0.09)), bets)
    assert "cannot tell these prices from the close" in luck
    assert "expect it to revert" in luck
    clash = tables.verdict_paragraph(_summary((-0.03, -0.04, -0.02), (0.05, 0.01, 0.09)), bets)
    assert "worse than the close" in clash
    assert "points the other way" in clash


def test_paragraph_quotes_the_verdicts_bets_needed_when_clv_holds_zero(bets: pl.DataFrame) -> None:
    summary = _summary((0.001, -0.01, 0.012), (0.0, -0.05, 0.05))
    text = tables.verdict_paragraph(summary, bets, {"bets_to_detect_95_power_80": 123456})
    assert "about 123,456 bets to tell from zero (80\u00a0% power)" in text


def test_paragraph_without_intervals_says_so(bets: pl.DataFrame) -> None:
    assert tables.verdict_paragraph({"mean_clv": None, "yield": None}, bets).startswith("Too few settled bets")
