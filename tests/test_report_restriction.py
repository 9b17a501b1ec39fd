"""A grid's reports are built in its tasks and the HTML report shows account restriction per book (issue 15).

- ``run_many(reports=True)`` builds each strategy's JSON and HTML inside its task (on a Dask worker, in parallel);
  ``write_reports(paired=False)`` writes them, and they are byte-identical to the report the client builds from the
  same results, so a report does not depend on where it was built.
- The page's "Account restriction per book" table: per book the bets cut, the day its maximum stake fell (its N-th
  CLV win), and the stake the restriction kept off, equal to the run's own per-book summary; a strategy without
  restriction says it is off.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from betpipe.backtest import UNCAPPED_LIMITS, BacktestSpec, run_many, write_reports
from betpipe.backtest.report_tables import restriction_frame
from betpipe.config import Settings
from betpipe.db import make_engine, upgrade
from betpipe.ingest.sample_league import ingest_sample
from betpipe.ingest.sample_league_model import SHARP, SOFT, SampleLeagueConfig

RESTRICTION = {"restrict_after_clv_wins": "5", "restricted_max_stake": "0.40"}


@pytest.fixture(scope="module")
def grid_results(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, Any]], Path]:
    """Two strategies on a one-season sample league with two soft books, run with their reports built in-task:
    one restricted after 5 CLV wins per book (max stake 0.40), one not restricted."""
    root = tmp_path_factory.mktemp("restriction_store")
    settings = Settings(data_dir=root, database_url=f"sqlite:///{root / 'store.sqlite'}")
    store = make_engine(settings.effective_database_url)
    upgrade(store)
    other = replace(SOFT, key="sample_soft_b", opening_noise=0.2)
    config = SampleLeagueConfig(n_teams=10, n_seasons=2, n_upcoming_matchdays=0, bookmakers=(SHARP, SOFT, other))
    ingest_sample(store, config)
    with store.connect() as conn:
        season = sorted(str(r[0]) for r in conn.execute(text("SELECT name FROM seasons")))[-1]
    store.dispose()
    base = BacktestSpec(
        competitions=("SAMPLE",), first_season=season, last_season=season, books=("sample_soft", "sample_soft_b"),
        sharp_book="sample_sharp", strategy="market", staking="flat:1,simultaneous", min_edge=0.0,
        limits=UNCAPPED_LIMITS,
    )  # fmt: skip
    specs = [base, replace(base, limits=UNCAPPED_LIMITS | RESTRICTION)]
    out = root / "out"
    return run_many(specs, settings=settings, out_dir=out, executor="inprocess", reports=True), out


def _restricted(results: list[dict[str, Any]]) -> dict[str, Any]:
    (found,) = [r for r in results if "restricted@" in r["report"]["name"]]
    return found


def test_reports_built_in_the_tasks_are_byte_identical_to_the_clients(
    grid_results: tuple[list[dict[str, Any]], Path], tmp_path: Path
) -> None:
    results, out = grid_results
    assert all("report" in r for r in results)
    in_task = write_reports(results, out_dir=out, paired=False)
    bare = [{k: v for k, v in r.items() if k != "report"} for r in results]
    in_client = write_reports(bare, out_dir=tmp_path, paired=False)
    assert [r.name for r in in_task] == [r.name for r in in_client]
    for built, made in zip(in_task, in_client, strict=True):
        assert built.json_path.read_bytes() == made.json_path.read_bytes()
        assert built.html_path.read_bytes() == made.html_path.read_bytes()
        assert built.summary == made.summary
        document = json.loads(built.json_path.read_text())
        assert document["paired_clv_difference"] == {}  # a grid's table compares; reports pair nothing
    paired = write_reports(bare, out_dir=tmp_path / "paired")  # outside a grid the reports still pair
    assert all(json.loads(r.json_path.read_text())["paired_clv_difference"] for r in paired)


def test_the_report_shows_per_book_restriction_as_the_run_recorded_it(
    grid_results: tuple[list[dict[str, Any]], Path],
) -> None:
    results, _ = grid_results
    result = _restricted(results)
    page = result["report"]["html"]
    assert "<h2>Account restriction per book</h2>" in page
    section = page.split("<h2>Account restriction per book</h2>", 1)[1].split("<h2>", 1)[0]
    assert "lost 5 settled bets to the account by CLV" in html.unescape(section)
    books = {row["book"]: row for row in result["books"]}
    assert set(books) == {"sample_soft", "sample_soft_b"}
    rows = re.findall(r"<tr>(.*?)</tr>", section)[1:]  # the header row first
    shown = {re.findall(r"<td[^>]*>(.*?)</td>", row)[0]: re.findall(r"<td[^>]*>(.*?)</td>", row) for row in rows}
    assert set(shown) == set(books)
    kept_off = Decimal(0)
    for book, row in books.items():
        cells = shown[book]
        assert row["restricted_at"] is not None, "each book loses five bets by CLV over a season"
        assert row["bets_restricted"] > 0
        assert cells[4] == row["restricted_at"][:10]  # restricted from: the day of its 5th CLV win
        assert cells[5] == f"{row['bets_restricted']:,}"  # bets cut
        asked, taken = Decimal(row["stake_asked_restricted"]), Decimal(row["stake_restricted"])
        assert asked > taken
        assert cells[8] == f"{asked - taken:,.2f} EUR"  # not staked
        kept_off += asked - taken
    assert f"{kept_off:,.2f} EUR could not really have been staked" in html.unescape(section)


def test_a_strategy_without_restriction_says_it_is_off(grid_results: tuple[list[dict[str, Any]], Path]) -> None:
    results, _ = grid_results
    (plain,) = [r for r in results if "restricted@" not in r["report"]["name"]]
    section = plain["report"]["html"].split("<h2>Account restriction per book</h2>", 1)[1].split("<h2>", 1)[0]
    assert "Account restriction off" in section
    assert "<table>" not in section


def test_restriction_rows_of_several_runs_add_up_exactly_and_take_the_earliest_date() -> None:
    row = {"book": "b", "bets": 3, "stake": "0.10", "clv_wins": 2, "bets_restricted": 1, "refused_restricted": 0}
    runs = [
        {"books": [row | {"restricted_at": "2020-03-01T10:00:00+00:00", "stake_asked_restricted": "0.20",
                          "stake_restricted": "0.10"}]},
        {"books": [row | {"restricted_at": "2019-11-02T10:00:00+00:00", "stake_asked_restricted": "0.10",
                          "stake_restricted": "0.05"}]},
        {"books": []},
    ]  # fmt: skip
    frame = restriction_frame(runs)
    assert frame.to_dicts() == [
        {
            "book": "b", "bets": 6, "staked": 0.2, "CLV wins": 4, "restricted from": "2019-11-02", "bets cut": 2,
            "asked on cut bets": 0.3, "staked on cut bets": 0.15, "not staked": 0.15, "refused": 0,
        }
    ]  # fmt: skip
    assert restriction_frame([{"runs": []}]).height == 0
