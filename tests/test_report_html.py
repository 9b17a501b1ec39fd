"""The HTML backtest report (backtest.html): one offline file (no script, nothing fetched), each chart drawn as
inline SVG with its marks, figures formatted (currency, %) instead of raw keys, refusals per rule, a newer report's
verdict section shown when present and not required."""

from __future__ import annotations

import re
from typing import Any

import polars as pl
import pytest

from betpipe.backtest.html import render_html
from betpipe.backtest.report import summarise
from fakes.report_bets import REFUSALS, bets_frame

CHARTS = ("equity", "drawdown", "monthly", "yearly", "clv", "calibration")
SPEC = {"competitions": ["E0", "D1"], "first_season": "2022-2023", "last_season": "2023-2024", "books": ["bet365"]}


def _page(bets: pl.DataFrame, document: dict[str, Any] | None = None) -> str:
    summary = summarise(bets, starting_bankroll=1000.0, rejections=REFUSALS).to_json()
    return render_html(
        title="betpipe backtest: test",
        spec=SPEC,
        summary=summary,
        bets=bets,
        starting_bankroll=1000.0,
        comparisons={"other": {"mean": 0.004, "low": -0.001, "high": 0.009}},
        document=document,
        currency="GBP",
    )


@pytest.fixture(scope="module")
def page() -> str:
    verdict = {
        "bets_to_detect_95": 96,
        "without_top_1pct": {"dropped": 4, "mean_clv": {"mean": 0.018, "low": 0.013, "high": 0.023}},
        "per_book": {"bet365": {"bets": 200}},
        "method": "bets_to_detect_95 = ceil((1.96 sd / mean)^2)",
    }
    return _page(bets_frame(), {"no_bet": {"sizing: no_edge": 3703, "stale price": 12}, "verdict": verdict})


def _chart(page: str, key: str) -> str:
    match = re.search(rf'<div class="chart" data-chart="{key}">(.*?)</div>', page, re.S)
    assert match, f"chart {key} missing"
    return match.group(1)


def test_the_page_loads_nothing_and_runs_nothing(page: str) -> None:
    assert "<script" not in page.lower()
    urls = re.findall(r'(?:src|href)\s*=\s*"([^"#][^"]*)"', page)
    assert urls == [], urls
    assert "cdn" not in page.lower()


@pytest.mark.parametrize("key", CHARTS)
def test_each_chart_is_inline_svg_with_marks(page: str, key: str) -> None:
    svg = _chart(page, key)
    assert svg.lstrip().startswith("<svg")
    marks = re.findall(r'<(?:path|rect|line|circle|text)\b[^>]*class="mark-|<g class="mark-(\w+)', svg)
    assert len(marks) >= 3, f"{key}: {len(marks)} mark groups"


def test_svg_ids_are_unique_across_charts(page: str) -> None:
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert ids
    assert len(ids) == len(set(ids))


def test_equity_axis_has_dates_and_money_without_scientific_notation(page: str) -> None:
    svg = _chart(page, "equity")
    assert "bankroll (GBP)" in svg
    assert re.search(r">(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) 20\d\d<", svg)
    assert not re.search(r">\d(\.\d+)?e[+-]?\d+<", svg)
    assert "1,000<" in svg or "1,100<" in svg


def test_figures_are_formatted_not_raw_keys(page: str) -> None:
    assert "max_drawdown" not in page
    assert "roi -0." not in page
    assert re.search(r"<td>yield \(profit per unit staked\)</td><td>[+-]\d+\.\d\d\u00a0% \[", page)
    assert re.search(r"<td>final bankroll</td><td>[\d,]+\.\d\d GBP</td>", page)
    assert "<td>bets with CLV &gt; 0</td><td>" in page


def test_breakdowns_refusals_and_not_bet_reasons_are_tables(page: str) -> None:
    for heading in ("Per competition", "Per book", "Per market", "Refused by a risk rule", "Not bet (before"):
        assert heading in page
    assert '<td>single_stake</td><td class="n">5</td>' in page
    assert '<td>daily_loss</td><td class="n">4</td>' in page
    assert page.count("<td>single_stake</td>") == 1
    assert '<td>sizing: no_edge</td><td class="n">3,703</td>' in page
    assert "<td>williamhill</td>" in page or "<td>bet365</td>" in page


def test_the_paragraph_reads_clv_and_profit_together(page: str) -> None:
    paragraph = re.search(r'<p class="verdict">(.*?)</p>', page, re.S)
    assert paragraph
    assert paragraph.group(1).startswith("CLV +")
    assert "bets says" in paragraph.group(1) or "bets cannot" in paragraph.group(1)


def test_verdict_section_is_shown_when_present(page: str) -> None:
    assert "<h2>Verdict figures</h2>" in page
    assert "<td>without the top 1 % of bets: bets dropped</td><td>4</td>" in page
    assert "<td>bets to tell this mean CLV from zero (95 %)</td><td>96</td>" in page
    assert "bets_to_detect_95 = ceil" in page  # the method, as a note


def test_an_older_report_and_an_empty_one_still_render() -> None:
    bets = bets_frame(40)
    older = _page(bets)
    assert "Verdict figures" not in older
    assert 'data-chart="equity"' in older
    empty = _page(bets.filter(pl.col("state") == "rejected"))
    assert "No settled bets: nothing to chart." in empty
    assert "Too few settled bets" in empty
