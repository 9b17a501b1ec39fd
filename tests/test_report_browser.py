"""The HTML backtest report opened from disk in Debian's headless Chromium: every chart is drawn with its data (a
visible SVG with many marks), and the page fetches nothing (no resource entries: it works offline).

Chromium is a system package: CI installs it (`make ci-tools`); `make test` never does, so this skips without it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from betpipe.backtest.html import render_html
from betpipe.backtest.report import summarise
from fakes.chromium import CHROMIUM, chromium
from fakes.report_bets import REFUSALS, bets_frame

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium not installed: `make test` installs no system package; `make ci-tools` (as root) installs it",
)

DRAWN = """(() => {
  if (document.readyState !== 'complete') return null;
  const charts = {};
  for (const div of document.querySelectorAll('[data-chart]')) {
    const svg = div.querySelector('svg');
    const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
    const marks = svg ? svg.querySelectorAll('g[class^="mark-"] > path, g[class^="mark-"] > line, '
      + 'g[class^="mark-"] > text, g[class^="mark-"] > rect, g[class^="mark-"] > circle') : [];
    charts[div.dataset.chart] = {width: box.width, height: box.height, marks: marks.length};
  }
  return {charts, resources: performance.getEntriesByType('resource').map(r => r.name),
          verdict: (document.querySelector('.verdict') || {}).innerText || ''};
})()"""


def _drawn(browser: Any, url: str) -> dict[str, Any]:
    browser.call("Page.navigate", url=url)
    give_up = time.monotonic() + 60
    while time.monotonic() < give_up:
        found = browser.call("Runtime.evaluate", expression=DRAWN, returnByValue=True)
        value = found.get("result", {}).get("value")
        if value:
            return dict(value)
        time.sleep(0.3)
    raise TimeoutError(f"{url} did not finish loading")


def test_the_report_draws_every_chart_offline_in_chromium(tmp_path: Path) -> None:
    bets = bets_frame()
    summary = summarise(bets, starting_bankroll=1000.0, rejections=REFUSALS).to_json()
    page = render_html(
        title="betpipe backtest: browser",
        spec={"competitions": ["E0", "D1"], "first_season": "2022-2023", "last_season": "2023-2024"},
        summary=summary,
        bets=bets,
        starting_bankroll=1000.0,
    )
    path = tmp_path / "report.html"
    path.write_text(page)
    with chromium(tmp_path / "profile") as browser:
        browser.call("Emulation.setDeviceMetricsOverride", width=1280, height=2000, deviceScaleFactor=1, mobile=False)
        drawn = _drawn(browser, path.as_uri())
    charts = drawn["charts"]
    assert sorted(charts) == sorted(["equity", "drawdown", "monthly", "yearly", "clv", "calibration"]), json.dumps(
        drawn
    )
    for name, chart in charts.items():
        assert chart["width"] > 300, f"{name} is not drawn: {chart}"
        assert chart["height"] > 100, f"{name} is not drawn: {chart}"
    assert charts["clv"]["marks"] > 20  # the histogram's bars, axis labels and rules
    assert charts["monthly"]["marks"] >= 2 * 23  # a cell and a label per month with bets
    assert charts["equity"]["marks"] > 10
    assert drawn["resources"] == []
    assert drawn["verdict"].startswith("CLV +")
