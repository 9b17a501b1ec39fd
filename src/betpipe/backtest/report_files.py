"""One strategy's report files, as text: the JSON document (summary, verdict, refusals, per-book restriction, paired
CLV differences) and the HTML page, built from the strategy's run results (``runner.run_one_json``).

One function builds both wherever it runs, so a grid task can build its strategy's report on the Dask worker that
ran it and return the text (the client only writes it) and the page is byte-identical to one built in the client:
same rows in, same bytes out. Never writes a file and never reads the store.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from betpipe.backtest.html import render_html
from betpipe.backtest.report import summarise
from betpipe.backtest.spec import BacktestSpec
from betpipe.backtest.verdict import verdict

__all__ = ["ReportText", "report_text"]


@dataclass(frozen=True)
class ReportText:
    """A strategy's report: its name, summary (for the CLI's tables and the strategy lineage) and the two files."""

    name: str
    summary: dict[str, Any]
    json: str
    html: str

    def to_json(self) -> dict[str, Any]:
        """Plain values, for a Dask task's result."""
        return {"name": self.name, "summary": self.summary, "json": self.json, "html": self.html}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ReportText:
        return cls(str(data["name"]), dict(data["summary"]), str(data["json"]), str(data["html"]))


def report_text(
    runs: Sequence[Mapping[str, Any]],
    bets: pl.DataFrame,
    *,
    comparisons: Mapping[str, Any] | None = None,
    equal_count: Mapping[str, Any] | None = None,
) -> ReportText:
    """The JSON and HTML report of one strategy from its runs (``run_one_json`` results) and their pooled ``bets``
    (``runner.bets_frame``). ``comparisons``/``equal_count``: the paired CLV differences to other strategies, which
    need their bets too, so a report built alone (a grid task) has none."""
    specs = [BacktestSpec.from_json(r["spec"]) for r in runs]
    name = specs[0].name
    bankroll = float(specs[0].bankroll)  # one account: one bankroll, whatever the competitions
    no_bet: dict[str, int] = {}
    for r in runs:
        for reason, n in r["no_bet"].items():
            no_bet[reason] = no_bet.get(reason, 0) + int(n)
    rejected = bets.filter(pl.col("state") == "rejected").get_column("reason").value_counts()
    rejections = {str(row[0]): int(row[1]) for row in rejected.iter_rows()}
    summary = summarise(bets, starting_bankroll=bankroll, rejections=rejections).to_json()
    first = specs[0].to_json()
    first["competitions"] = sorted({c for s in specs for c in s.competitions})
    paired = dict(comparisons or {})
    document: dict[str, Any] = {
        "strategy": name,
        "spec": first,
        "summary": summary,
        "no_bet": dict(sorted(no_bet.items())),
        "paired_clv_difference": paired,
        "equal_count_clv_difference": dict(equal_count or {}),
        "verdict": verdict(bets),
        "runs": [
            {"run_id": r["run_id"], "refits": r["refits"], "bets": len(r["bets"]), "books": r.get("books", [])}
            for r in runs
        ],
    }
    page = render_html(
        title=f"betpipe backtest: {name}",
        spec=first,
        summary=summary,
        bets=bets,
        starting_bankroll=bankroll,
        comparisons=paired,
        document=document,
    )
    return ReportText(name, summary, json.dumps(document, indent=2, sort_keys=True) + "\n", page)
