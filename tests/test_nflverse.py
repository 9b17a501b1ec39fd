"""nflverse games.csv: one synthetic file per rule, then the whole shared file on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlalchemy import Engine, func, select

from betpipe.db.bulk import as_utc
from betpipe.db.schema import event_refs, events, ingest_runs, odds_snapshots, quarantine, results, teams
from betpipe.ingest.nflverse import ingest_nflverse, read_nflverse

HEADER_LINE = (
    "game_id,season,game_type,week,gameday,weekday,gametime,away_team,away_score,home_team,home_score,location,"
    "result,total,overtime,old_game_id,gsis,nfl_detail_id,pfr,pff,espn,ftn,away_rest,home_rest,away_moneyline,"
    "home_moneyline,spread_line,away_spread_odds,home_spread_odds,total_line,under_odds,over_odds,div_game,roof,"
    "surface,temp,wind,away_qb_id,home_qb_id,away_qb_name,home_qb_name,away_coach,home_coach,referee,stadium_id,"
    "stadium"
)
HEADER = HEADER_LINE.split(",")

BASE = {
    "game_id": "2020_01_MIA_NE",
    "season": "2020",
    "game_type": "REG",
    "week": "1",
    "gameday": "2020-09-13",
    "gametime": "13:00",
    "away_team": "MIA",
    "away_score": "11",
    "home_team": "NE",
    "home_score": "21",
    "location": "Home",
    "overtime": "0",
    "away_rest": "7",
    "home_rest": "7",
    "away_moneyline": "278",
    "home_moneyline": "-327",
    "spread_line": "7.5",
    "away_spread_odds": "-112",
    "home_spread_odds": "102",
    "total_line": "41.5",
    "under_odds": "-110",
    "over_odds": "-101",
    "div_game": "1",
    "roof": "outdoors",
    "surface": "grass",
    "temp": "65",
    "wind": "10",
    "stadium": "Gillette Stadium",
}


def csv_bytes(*rows: dict[str, str]) -> bytes:
    lines = [",".join(HEADER)]
    lines += [",".join({**BASE, **row}.get(name, "") for name in HEADER) for row in rows]
    return ("\n".join(lines) + "\n").encode()


def odds_of(batch_odds: pl.DataFrame, market: str, selection: str) -> dict[str, object]:
    rows = batch_odds.filter((pl.col("market") == market) & (pl.col("selection") == selection)).to_dicts()
    assert len(rows) == 1
    return rows[0]


def test_a_finished_game_gives_event_result_and_consensus_closing_prices() -> None:
    batch = read_nflverse(csv_bytes({}), "t")
    event = batch.events.to_dicts()[0]
    assert (event["home_team"], event["away_team"], event["season"]) == ("NE", "MIA", "2020")
    assert (event["sport"], event["competition_code"], event["status"]) == ("american_football", "NFL", "finished")
    assert event["kickoff_utc"] == datetime(2020, 9, 13, 17, 0, tzinfo=UTC)  # 13:00 EDT
    assert event["kickoff_time_known"] is True
    assert event["external_id"] == "2020_01_MIA_NE"
    attributes = json.loads(event["attributes"])
    assert attributes["week"] == 1
    assert attributes["div_game"] is True
    assert attributes["home_rest"] == 7
    assert attributes["roof"] == "outdoors"
    assert batch.results.select("home_score", "away_score", "overtime").row(0) == (21, 11, False)
    home = odds_of(batch.odds, "moneyline", "home")
    assert home["price"] == pytest.approx(1 + 100 / 327)
    assert odds_of(batch.odds, "moneyline", "away")["price"] == pytest.approx(3.78)
    assert (home["bookmaker"], home["kind"], home["line"]) == ("consensus", "closing", 0.0)
    assert home["captured_at"] == event["kickoff_utc"]
    assert batch.quarantined == []


def test_spread_line_is_stored_as_the_home_handicap_and_totals_as_the_line() -> None:
    batch = read_nflverse(csv_bytes({}), "t")
    home_spread = odds_of(batch.odds, "spread", "home")
    away_spread = odds_of(batch.odds, "spread", "away")
    assert home_spread["line"] == -7.5, "positive spread_line = home favoured = negative home handicap"
    assert away_spread["line"] == -7.5, "both sides carry the home side's handicap"
    assert home_spread["price"] == pytest.approx(2.02)
    assert away_spread["price"] == pytest.approx(1 + 100 / 112)
    over = odds_of(batch.odds, "total", "over")
    assert (over["line"], over["price"]) == (41.5, pytest.approx(1 + 100 / 101))
    assert odds_of(batch.odds, "total", "under")["price"] == pytest.approx(1 + 100 / 110)


def test_winter_kickoffs_use_eastern_standard_time() -> None:
    batch = read_nflverse(csv_bytes({"season": "2022", "gameday": "2023-02-12", "gametime": "18:30"}), "t")
    assert batch.events["kickoff_utc"][0] == datetime(2023, 2, 12, 23, 30, tzinfo=UTC)


def test_a_missing_gametime_means_1pm_eastern_and_an_unknown_time() -> None:
    batch = read_nflverse(csv_bytes({"season": "1999", "gameday": "1999-09-12", "gametime": ""}), "t")
    event = batch.events.to_dicts()[0]
    assert event["kickoff_utc"] == datetime(1999, 9, 12, 17, 0, tzinfo=UTC)
    assert event["kickoff_time_known"] is False


def test_relocated_franchises_map_to_the_current_code_and_keep_the_original() -> None:
    batch = read_nflverse(
        csv_bytes(
            {"game_id": "2019_01_DEN_OAK", "home_team": "OAK", "away_team": "DEN"},
            {
                "game_id": "2016_01_SD_STL",
                "season": "2016",
                "home_team": "STL",
                "away_team": "SD",
                "gameday": "2016-09-18",
            },
        ),
        "t",
    )
    assert batch.events.select("home_team", "away_team").rows() == [("LV", "DEN"), ("LA", "LAC")]
    first, second = (json.loads(a) for a in batch.events["attributes"])
    assert first["home_team_code"] == "OAK"
    assert (second["home_team_code"], second["away_team_code"]) == ("STL", "SD")


def test_neutral_site_games_are_flagged() -> None:
    batch = read_nflverse(csv_bytes({"location": "Neutral"}, {"game_id": "g2", "gameday": "2020-09-20"}), "t")
    assert batch.events["neutral_site"].to_list() == [True, False]


def test_a_game_without_scores_is_scheduled_with_no_result() -> None:
    batch = read_nflverse(csv_bytes({"home_score": "", "away_score": ""}), "t")
    assert batch.events["status"].to_list() == ["scheduled"]
    assert batch.results.is_empty()
    assert not batch.odds.is_empty(), "pre-game lines are still stored"


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ({"home_team": ""}, "missing home_team or away_team"),
        ({"away_team": "NE"}, "home_team and away_team are both NE"),
        ({"gameday": "13/09/2020"}, "unparseable gameday '13/09/2020'"),
        ({"gametime": "1pm"}, "unparseable gametime '1pm'"),
        ({"home_score": "-3"}, "impossible score -3-11"),
        ({"away_score": "ten"}, "impossible score 21-ten"),
        ({"away_score": ""}, "only one of home_score/away_score is present"),
        ({"season": "twenty"}, "unparseable season 'twenty'"),
    ],
)
def test_bad_games_are_quarantined_with_their_row_number_and_a_reason(row: dict[str, str], reason: str) -> None:
    good = {"game_id": "ok", "gameday": "2020-09-20"}
    batch = read_nflverse(csv_bytes(good, row), "t")
    assert batch.events["external_id"].to_list() == ["ok"]
    assert batch.rows_read == 2
    [bad] = batch.quarantined
    assert bad.row_ref == "2"
    assert reason in bad.reason
    assert json.loads(bad.record)["game_id"] == BASE["game_id"]


@pytest.mark.parametrize("value", ["50", "0", "-99.5", "abc", "nan"])
def test_an_invalid_moneyline_is_quarantined_alone_and_the_game_kept(value: str) -> None:
    batch = read_nflverse(csv_bytes({"home_moneyline": value}), "t")
    assert batch.events.height == 1
    assert batch.results.height == 1
    [bad] = batch.quarantined
    assert bad.row_ref == "1:moneyline:home"
    assert "not valid American odds" in bad.reason
    assert odds_of(batch.odds, "moneyline", "away")["price"] == pytest.approx(3.78)
    assert batch.odds.filter((pl.col("market") == "moneyline") & (pl.col("selection") == "home")).is_empty()


def test_lines_without_prices_store_no_price_rows_but_keep_the_line_in_attributes() -> None:
    no_prices = dict.fromkeys(
        ("away_moneyline", "home_moneyline", "away_spread_odds", "home_spread_odds", "under_odds", "over_odds"), ""
    )
    batch = read_nflverse(csv_bytes({**no_prices, "spread_line": "-4", "total_line": "49"}), "t")
    assert batch.odds.is_empty()
    attributes = json.loads(batch.events["attributes"][0])
    assert (attributes["spread_line"], attributes["total_line"]) == (-4.0, 49.0)
    assert batch.quarantined == []


def test_a_file_missing_required_columns_is_an_unreadable_payload(tmp_path: Path, sqlite_engine: Engine) -> None:
    path = tmp_path / "games.csv"
    path.write_bytes(b"season,gameday\n2020,2020-09-13\n")
    with pytest.raises(ValueError, match="missing column"):
        read_nflverse(path.read_bytes(), "t")
    report = ingest_nflverse(sqlite_engine, path)
    assert report.quarantined == 1
    with sqlite_engine.connect() as conn:
        assert conn.execute(select(ingest_runs.c.status)).scalar_one() == "failed"
        assert "missing column(s) game_id" in conn.execute(select(quarantine.c.reason)).scalar_one()


def test_ingesting_a_synthetic_file_twice_changes_nothing(tmp_path: Path, sqlite_engine: Engine) -> None:
    path = tmp_path / "games.csv"
    path.write_bytes(csv_bytes({}, {"game_id": "2020_02_NE_OAK", "home_team": "OAK", "away_team": "NE"}))
    first = ingest_nflverse(sqlite_engine, path)
    second = ingest_nflverse(sqlite_engine, path)
    assert first.tables["events"].inserted == 2
    assert first.tables["odds"].inserted == 12
    assert second.tables["events"].inserted == second.tables["events"].updated == 0
    assert second.tables["odds"].inserted == second.tables["odds"].updated == 0


def _count(engine: Engine, table: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


@pytest.mark.shared_data
def test_the_shared_games_file_ingests_every_game_with_odds_and_relocations(shared_data: Path, engine: Engine) -> None:
    path = shared_data / "nflverse" / "games.csv"
    report = ingest_nflverse(engine, path)
    assert report.rows_read == 6421
    assert report.quarantined == 0, "the shared file has no bad rows; any quarantine here is a reader bug"
    assert _count(engine, events) == 6421
    assert _count(engine, results) == 6421
    with engine.connect() as conn:
        priced_games = conn.execute(
            select(func.count(func.distinct(odds_snapshots.c.event_id))).where(odds_snapshots.c.market == "moneyline")
        ).scalar_one()
        assert priced_games == 4440
        team_ids: dict[str, int] = {row.name: row.id for row in conn.execute(select(teams.c.name, teams.c.id))}
        assert {"OAK", "SD", "STL"}.isdisjoint(team_ids), "relocated codes are not separate teams"
        assert len(team_ids) == 32

        def game(game_id: str) -> tuple[Any, ...]:
            return tuple(
                conn.execute(
                    select(events.c.home_team_id, events.c.away_team_id, events.c.kickoff_utc, events.c.id)
                    .join(event_refs, event_refs.c.event_id == events.c.id)
                    .where(event_refs.c.source == "nflverse", event_refs.c.external_id == game_id)
                ).one()
            )

        oakland_home, _, _, oak_id = game("2019_01_DEN_OAK")
        vegas_away = game("2022_01_LV_LAC")[1]
        assert oakland_home == vegas_away == team_ids["LV"]

        home, away, kickoff, sb_id = game("2022_22_KC_PHI")
        assert (home, away) == (team_ids["PHI"], team_ids["KC"])
        assert as_utc(kickoff) == datetime(2023, 2, 12, 23, 30, tzinfo=UTC)
        assert conn.execute(
            select(results.c.home_score, results.c.away_score).where(results.c.event_id == sb_id)
        ).one() == (35, 38)
        assert conn.execute(select(events.c.neutral_site).where(events.c.id == sb_id)).scalar_one() is True
        prices: dict[str, float] = dict(
            conn.execute(
                select(odds_snapshots.c.selection, odds_snapshots.c.price).where(
                    odds_snapshots.c.event_id == sb_id, odds_snapshots.c.market == "moneyline"
                )
            ).all()
        )
        assert prices == {"home": pytest.approx(1 + 100 / 115), "away": pytest.approx(2.04)}
        oak_prices: dict[str, float] = dict(
            conn.execute(
                select(odds_snapshots.c.selection, odds_snapshots.c.price).where(
                    odds_snapshots.c.event_id == oak_id, odds_snapshots.c.market == "moneyline"
                )
            ).all()
        )
        assert oak_prices == {"home": pytest.approx(2.35), "away": pytest.approx(1 + 100 / 149)}

    counts = {t.name: _count(engine, t) for t in (events, results, odds_snapshots, teams)}
    again = ingest_nflverse(engine, path)
    assert {t.name: _count(engine, t) for t in (events, results, odds_snapshots, teams)} == counts
    assert all(c.inserted == c.updated == 0 for c in again.tables.values())
