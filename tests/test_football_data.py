"""football-data.co.uk reader and ingestion: every documented file quirk, quarantine, odds kinds and capture times."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Engine, func, select

from betpipe.db.bulk import as_utc
from betpipe.db.schema import bookmakers, change_log, events, odds_snapshots, quarantine, results, seasons
from betpipe.ingest.football_data import (
    download_football_data,
    football_data_url,
    ingest_football_data,
    ingest_football_data_download,
    read_football_data,
)
from betpipe.ingest.http import RateLimitedClient, SourceError
from betpipe.ingest.records import NormalisedBatch
from betpipe.ingest.store import ingest_payload

OLD_HEADER = "Div,Date,HomeTeam,AwayTeam,FTHG,FTAG,HTHG,HTAG,HS,AS,B365H,B365D,B365A,BbMxH,BbAvH"
NEW_HEADER = "Div,Date,Time,HomeTeam,AwayTeam,FTHG,FTAG,PSH,PSD,PSA,PSCH,PSCD,PSCA,MaxCH,AvgCH"


def csv_bytes(*lines: str, newline: str = "\n") -> bytes:
    return (newline.join(lines) + newline).encode()


def read(*lines: str, locator: str = "E0/2019-2020.csv") -> NormalisedBatch:
    return read_football_data(csv_bytes(*lines), locator)


def when(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def price(batch: NormalisedBatch, bookmaker: str, market: str, selection: str, kind: str) -> float:
    found = batch.odds.filter(
        (pl.col("bookmaker") == bookmaker)
        & (pl.col("market") == market)
        & (pl.col("selection") == selection)
        & (pl.col("kind") == kind)
    )
    assert found.height == 1, found
    return float(found["price"][0])


# --- the file quirks of ../shared/data/README.md section 1 ----------------------------------------------------


def test_both_over_under_header_spellings_give_identical_odds() -> None:
    original = read("Div,Date,HomeTeam,AwayTeam,BbMx>2.5,BbMx<2.5,PC>2.5", "D1,05/08/12,A,B,2.1,1.8,1.95")
    renamed = read("Div,Date,HomeTeam,AwayTeam,BbMx_2_5,BbMx_2_5_1,PC_2_5", "D1,05/08/12,A,B,2.1,1.8,1.95")
    assert original.odds.sort("bookmaker", "selection").equals(renamed.odds.sort("bookmaker", "selection"))
    assert price(renamed, "betbrain_max", "total", "under", "opening") == 1.8
    assert price(renamed, "pinnacle", "total", "over", "closing") == 1.95
    assert set(renamed.odds["line"]) == {2.5}


def test_numbers_written_with_a_decimal_point_read_as_the_same_numbers() -> None:
    batch = read(OLD_HEADER, "I1,01/09/12,Bologna,Milan,1.0,3.0,1.0,1.0,15.0,9.0,3.0,3.25,2.0,3.1,2.9")
    assert batch.results.select("home_score", "away_score", "home_shots").row(0) == (1, 3, 15)
    assert price(batch, "bet365", "1x2", "home", "opening") == 3.0


def test_two_and_four_digit_years_give_the_same_date() -> None:
    short = read("Div,Date,HomeTeam,AwayTeam", "E0,13/08/05,A,B")
    long = read("Div,Date,HomeTeam,AwayTeam", "E0,13/08/2005,A,B")
    assert short.events["kickoff_utc"].to_list() == long.events["kickoff_utc"].to_list()
    assert short.events["kickoff_utc"][0] == when("2005-08-13 14:00")  # 15:00 BST


def test_without_time_the_kickoff_is_three_pm_uk_and_marked_unknown() -> None:
    batch = read("Div,Date,HomeTeam,AwayTeam", "E0,10/12/05,A,B", "E0,10/06/06,C,D")
    assert batch.events["kickoff_utc"].to_list() == [when("2005-12-10 15:00"), when("2006-06-10 14:00")]
    assert batch.events["kickoff_time_known"].to_list() == [False, False]


def test_time_is_uk_local_and_becomes_utc_across_the_clock_change() -> None:
    batch = read(
        "Div,Date,Time,HomeTeam,AwayTeam",
        "E0,26/03/2022,15:00,A,B",  # last Saturday on GMT
        "E0,27/03/2022,15:00,C,D",  # clocks went forward at 01:00
        "E0,30/10/2022,16:30,E,F",  # back on GMT
    )
    assert batch.events["kickoff_utc"].to_list() == [
        when("2022-03-26 15:00"),
        when("2022-03-27 14:00"),
        when("2022-10-30 16:30"),
    ]
    assert batch.events["kickoff_time_known"].all()


def test_comma_only_rows_are_not_matches_and_row_numbers_stay_csv_lines() -> None:
    batch = read("Div,Date,HomeTeam,AwayTeam,FTHG,FTAG", ",,,,,", "E0,13/08/05,A,B,1,-1", ",,,,,", ",,,,,")
    assert batch.rows_read == 1
    assert batch.events.is_empty()
    assert [q.row_ref for q in batch.quarantined] == ["E0/2019-2020.csv#row3"]


def test_trailing_empty_header_fields_are_ignored() -> None:
    batch = read("Div,Date,HomeTeam,AwayTeam,FTHG,FTAG,B365H,,,", "D1,20/08/10,Bayern Munich,Wolfsburg,2,1,1.57,,,")
    assert batch.events.height == 1
    assert batch.quarantined == []
    assert batch.odds["price"].to_list() == [1.57]


def test_columns_are_found_by_name_whatever_their_order() -> None:
    one = read("Div,Date,HomeTeam,AwayTeam,FTHG,FTAG,B365H,B365A", "E0,13/08/05,A,B,2,1,2.5,3.1")
    other = read("B365A,FTAG,AwayTeam,Div,B365H,HomeTeam,Date,FTHG", "3.1,1,B,E0,2.5,A,13/08/05,2")
    assert one.events.equals(other.events)
    assert one.results.equals(other.results)
    assert one.odds.sort("selection").equals(other.odds.sort("selection"))


def test_crlf_and_lf_files_read_the_same() -> None:
    lines = (OLD_HEADER, "E0,13/08/05,A,B,2,2,2,2,3,13,2.3,3.25,3,2.4,2.2")
    lf = read_football_data(csv_bytes(*lines), "E0/x.csv")
    crlf = read_football_data(csv_bytes(*lines, newline="\r\n"), "E0/x.csv")
    assert lf.events.equals(crlf.events)
    assert lf.odds.equals(crlf.odds)
    assert crlf.odds.height == 5


def test_windows_1252_files_are_read_too() -> None:
    batch = read_football_data("Div,Date,HomeTeam,AwayTeam\nSP1,13/08/05,Málaga,Betis\n".encode("cp1252"), "x.csv")
    assert batch.events["home_team"].to_list() == ["Málaga"]


def test_season_comes_from_the_file_name_or_the_url_path_or_else_the_dates() -> None:
    lines = ("Div,Date,HomeTeam,AwayTeam", "E0,15/08/2019,A,B", "E0,01/02/2020,C,D")
    assert set(read(*lines, locator="E0/2019-2020.csv").events["season"]) == {"2019-2020"}
    assert set(read(*lines, locator="/mmz4281/1920/E0.csv").events["season"]) == {"2019-2020"}
    assert set(read(*lines, locator="upload.csv").events["season"]) == {"2019-2020"}
    assert read("Div,Date,HomeTeam,AwayTeam", "E0,01/07/2020,A,B", locator="x.csv").events["season"][0] == "2020-2021"


def test_competition_is_soccer_with_the_div_code_and_a_readable_name() -> None:
    batch = read("Div,Date,HomeTeam,AwayTeam", "SP1,19/08/13,Almeria,Villarreal", "X9,19/08/13,C,D")
    assert batch.events.select("sport", "competition_code", "competition_name").rows() == [
        ("soccer", "SP1", "Spain La Liga"),
        ("soccer", "X9", "X9"),
    ]


def test_results_carry_half_time_and_match_statistics() -> None:
    header = "Div,Date,HomeTeam,AwayTeam,FTHG,FTAG,HTHG,HTAG,HS,AS,HST,AST,HC,AC,HF,AF,HY,AY,HR,AR,Referee"
    batch = read(header, "E0,13/08/05,A,B,2,1,1,0,10,8,5,3,7,4,12,14,2,3,0,1,M Riley")
    row = batch.results.drop("row_ref", "overtime").row(0)
    assert row == (2, 1, 1, 0, 10, 8, 5, 3, 7, 4, 12, 14, 2, 3, 0, 1)
    assert batch.events["attributes"][0] == '{"referee":"M Riley"}'


def test_a_match_without_scores_is_scheduled_and_has_no_result() -> None:
    batch = read("Div,Date,HomeTeam,AwayTeam,FTHG,FTAG,B365H", "E0,13/08/05,A,B,,,2.1", "E0,13/08/05,C,D,0,0,2.2")
    assert batch.events["status"].to_list() == ["scheduled", "finished"]
    assert batch.results["row_ref"].to_list() == ["E0/2019-2020.csv#row3"]
    assert batch.odds.height == 2


# --- odds: kinds, lines, capture times --------------------------------------------------------------------------------


def test_columns_with_a_c_after_the_prefix_are_closing_prices_taken_at_kickoff() -> None:
    batch = read(NEW_HEADER, "E0,05/08/2022,20:00,Crystal Palace,Arsenal,0,2,4.5,3.65,1.89,4.58,3.63,1.88,5.01,4.56")
    assert price(batch, "pinnacle", "1x2", "home", "opening") == 4.5
    assert price(batch, "pinnacle", "1x2", "home", "closing") == 4.58
    assert price(batch, "market_max", "1x2", "home", "closing") == 5.01
    closing = batch.odds.filter(pl.col("kind") == "closing")
    assert set(closing["captured_at"]) == {when("2022-08-05 19:00")}
    assert set(batch.odds["market"]) == {"1x2"}


def test_asian_handicap_lines_come_from_ahh_for_pre_match_and_ahch_for_closing() -> None:
    batch = read(
        "Div,Date,Time,HomeTeam,AwayTeam,AHh,B365AHH,PAHA,AHCh,PCAHH,MaxCAHA",
        "E0,05/08/2022,20:00,A,B,0.5,2.04,1.89,-0.25,2.03,1.99",
    )
    rows = batch.odds.sort("kind", "bookmaker").select("bookmaker", "selection", "line", "kind").rows()
    assert rows == [
        ("market_max", "away", -0.25, "closing"),
        ("pinnacle", "home", -0.25, "closing"),
        ("bet365", "home", 0.5, "opening"),
        ("pinnacle", "away", 0.5, "opening"),
    ]
    old = read("Div,Date,HomeTeam,AwayTeam,BbAH,BbAHh,BbMxAHH,BbAvAHA", "E0,13/08/05,A,B,22,-0.25,2.1,1.84")
    assert old.odds.select("bookmaker", "line").sort("bookmaker").rows() == [
        ("betbrain_avg", -0.25),
        ("betbrain_max", -0.25),
    ]


@pytest.mark.parametrize(
    ("date", "time", "captured"),
    [
        ("06/08/2022", "15:00", "2022-08-05 16:00"),  # Saturday -> Friday 17:00 BST
        ("07/08/2022", "16:30", "2022-08-05 16:00"),  # Sunday -> Friday
        ("08/08/2022", "20:00", "2022-08-05 16:00"),  # Monday -> the previous Friday
        ("05/08/2022", "20:00", "2022-08-05 16:00"),  # Friday evening -> that Friday 17:00
        ("05/08/2022", "12:30", "2022-08-05 10:30"),  # Friday lunchtime: clamped to an hour before kickoff
        ("09/08/2022", "19:45", "2022-08-09 14:00"),  # Tuesday -> Tuesday 15:00 BST
        ("10/08/2022", "19:45", "2022-08-09 14:00"),  # Wednesday -> Tuesday
        ("11/08/2022", "20:00", "2022-08-09 14:00"),  # Thursday -> Tuesday
        ("09/08/2022", "12:00", "2022-08-09 10:00"),  # Tuesday noon: clamped to an hour before kickoff
        ("10/12/2022", "15:00", "2022-12-09 17:00"),  # winter: 17:00 GMT
        ("28/03/2022", "20:00", "2022-03-25 17:00"),  # Monday after the clock change: Friday was still GMT
    ],
)
def test_pre_match_prices_are_stamped_at_the_documented_collection_time(date: str, time: str, captured: str) -> None:
    batch = read("Div,Date,Time,HomeTeam,AwayTeam,B365H,B365CH", f"E0,{date},{time},A,B,2.0,2.1")
    opening = batch.odds.filter(pl.col("kind") == "opening")
    assert opening["captured_at"].to_list() == [when(captured)]
    assert opening["captured_at"][0] < batch.events["kickoff_utc"][0]  # pre-match: known strictly before kickoff


def test_a_match_without_time_uses_the_assumed_three_pm_for_collection_and_clamp() -> None:
    batch = read("Div,Date,HomeTeam,AwayTeam,B365H", "E0,16/08/05,A,B,2.0")  # a Tuesday
    assert batch.odds["captured_at"].to_list() == [when("2005-08-16 13:00")]  # an hour before the assumed kickoff


# --- quarantine -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("E0,13/08/05,,B,1,0", "missing HomeTeam"),
        ("E0,13/08/05,A,,1,0", "missing AwayTeam"),
        ("E0,,A,B,1,0", "missing Date"),
        ("E0,31/02/05,A,B,1,0", "unparseable Date '31/02/05'"),
        ("E0,2005-08-13,A,B,1,0", "unparseable Date '2005-08-13'"),
        ("E0,13/08/05,A,B,-1,0", "impossible score FTHG='-1'"),
        ("E0,13/08/05,A,B,1,1.5", "impossible score FTAG='1.5'"),
        ("E0,13/08/05,A,B,x,0", "impossible score FTHG='x'"),
        ("E0,13/08/05,A,B,1,", "only one side of the score is present"),
        ("E0,13/08/05,A,A,1,0", "home and away team are the same ('A')"),
    ],
)
def test_bad_rows_are_quarantined_with_a_reason_and_their_csv_line(row: str, reason: str) -> None:
    batch = read("Div,Date,HomeTeam,AwayTeam,FTHG,FTAG", "E0,13/08/05,C,D,0,0", row)
    assert batch.rows_read == 2
    assert batch.events["home_team"].to_list() == ["C"]
    assert batch.results.height == 1
    assert len(batch.quarantined) == 1
    assert batch.quarantined[0].row_ref == "E0/2019-2020.csv#row3"
    assert reason in batch.quarantined[0].reason


def test_an_unparseable_time_quarantines_the_row() -> None:
    batch = read("Div,Date,Time,HomeTeam,AwayTeam", "E0,13/08/2019,25:00,A,B", "E0,13/08/2019,,C,D")
    assert [q.reason for q in batch.quarantined] == ["unparseable Time '25:00' (expected HH:MM)"]
    assert batch.events["kickoff_time_known"].to_list() == [False]


@pytest.mark.parametrize("bad", ["1.0", "0.5", "0", "-2", "abc", "nan", "inf"])
def test_a_bad_price_drops_only_that_price_and_is_quarantined(bad: str) -> None:
    batch = read("Div,Date,HomeTeam,AwayTeam,FTHG,FTAG,B365H,B365D,B365A", f"E0,13/08/05,A,B,1,0,{bad},3.2,")
    assert batch.events.height == 1
    assert batch.results.height == 1
    assert sorted(batch.odds["selection"]) == ["draw"]  # the empty away price is simply missing
    assert [q.row_ref for q in batch.quarantined] == ["E0/2019-2020.csv#row2:B365H"]
    assert bad in batch.quarantined[0].reason
    assert "B365H" in batch.quarantined[0].reason


def test_an_asian_handicap_price_without_its_line_is_quarantined() -> None:
    batch = read("Div,Date,HomeTeam,AwayTeam,BbAHh,BbMxAHH,BbMxH", "E0,13/08/05,A,B,,1.9,2.1")
    assert batch.odds["market"].to_list() == ["1x2"]
    assert [q.row_ref for q in batch.quarantined] == ["E0/2019-2020.csv#row2:BbMxAHH"]
    assert "handicap line" in batch.quarantined[0].reason


def test_a_statistic_that_is_not_a_count_is_dropped_and_quarantined() -> None:
    batch = read("Div,Date,HomeTeam,AwayTeam,FTHG,FTAG,HS,AS", "E0,13/08/05,A,B,1,0,-3,4")
    assert batch.results.select("home_shots", "away_shots").row(0) == (None, 4)
    assert [q.row_ref for q in batch.quarantined] == ["E0/2019-2020.csv#row2:HS"]


def test_a_row_with_extra_filled_fields_is_quarantined() -> None:
    batch = read("Div,Date,HomeTeam,AwayTeam", "E0,13/08/05,A,B,oops", "E0,13/08/05,C,D,")
    assert batch.events["home_team"].to_list() == ["C"]
    assert "5 fields but the header has 4" in batch.quarantined[0].reason


def test_a_file_that_is_not_football_data_is_one_quarantined_payload(sqlite_engine: Engine) -> None:
    with pytest.raises(ValueError, match="no Div column"):
        read_football_data(b"a,b\n1,2\n", "x.csv")
    report = ingest_payload(
        sqlite_engine,
        source="football-data",
        locator="x.csv",
        body=b"a,b\n1,2\n",
        content_type="text/csv",
        reader=read_football_data,
    )
    assert report.quarantined == 1
    with sqlite_engine.connect() as conn:
        assert conn.execute(select(quarantine.c.row_ref)).scalars().all() == ["<payload>"]


# --- the store -----------------------------------------------------------------------------------------------------

FILE = (
    "Div,Date,Time,HomeTeam,AwayTeam,FTHG,FTAG,HS,AS,PSH,PSD,PSA,PSCH,PSCD,PSCA,MaxH,AvgH,P>2.5,AHh,PAHH",
    "E0,05/08/2022,20:00,Crystal Palace,Arsenal,0,2,10,10,4.5,3.65,1.89,4.58,3.63,1.88,4.6,4.39,2.14,0.5,2.03",
    "E0,06/08/2022,12:30,Fulham,Liverpool,2,2,9,11,8.0,5.0,1.4,8.5,5.1,1.38,8.4,7.9,1.6,1.5,1.95",
    "E0,06/08/2022,15:00,Fulham,Fulham,1,0,,,,,,,,,,,,,",
)


def write_season(folder: Path, body: bytes, name: str = "2022-2023.csv") -> Path:
    league = folder / "E0"
    league.mkdir(parents=True, exist_ok=True)
    (league / name).write_bytes(body)
    return folder


def table_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            table.name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
            for table in (events, results, odds_snapshots, quarantine, change_log, seasons)
        }


def test_ingesting_a_folder_stores_events_results_odds_and_is_idempotent(engine: Engine, tmp_path: Path) -> None:
    root = write_season(tmp_path / "data", csv_bytes(*FILE))
    (root / "MANIFEST.csv").write_text("file,matches\nE0/2022-2023.csv,2\n")
    seen: list[str] = []
    first = ingest_football_data(engine, [root], on_file=lambda path, _report: seen.append(path.name))
    assert seen == ["2022-2023.csv"]
    assert (first.files, first.rows_read, first.quarantined) == (1, 3, 1)
    assert first.tables["events"].inserted == 2
    assert first.tables["odds"].inserted == 20
    counts = table_counts(engine)
    assert counts == {"events": 2, "results": 2, "odds_snapshots": 20, "quarantine": 1, "change_log": 0, "seasons": 1}
    with engine.connect() as conn:
        assert conn.execute(select(quarantine.c.row_ref)).scalar_one() == "E0/2022-2023.csv#row4"
        kickoff = conn.execute(select(events.c.kickoff_utc).order_by(events.c.kickoff_utc)).scalars().first()
        assert kickoff is not None
        assert as_utc(kickoff) == when("2022-08-05 19:00")

    second = ingest_football_data(engine, [root / "E0" / "2022-2023.csv"])  # same locator given as a file
    assert all(c.inserted == 0 and c.updated == 0 for c in second.tables.values())
    assert second.tables["odds"].unchanged == 20
    assert table_counts(engine) == counts


def test_aggregates_are_stored_but_flagged(engine: Engine, tmp_path: Path) -> None:
    ingest_football_data(engine, [write_season(tmp_path, csv_bytes(*FILE))])
    with engine.connect() as conn:
        flags = dict(conn.execute(select(bookmakers.c.key, bookmakers.c.is_aggregate)).all())
        stored = conn.execute(
            select(func.count()).select_from(odds_snapshots.join(bookmakers)).where(bookmakers.c.is_aggregate)
        ).scalar_one()
    assert flags == {"pinnacle": False, "market_max": True, "market_avg": True}
    assert stored == 4


def test_a_corrected_price_updates_one_row_and_is_logged(engine: Engine, tmp_path: Path) -> None:
    root = write_season(tmp_path, csv_bytes(*FILE))
    ingest_football_data(engine, [root])
    corrected = [FILE[0], FILE[1].replace(",4.58,", ",4.62,"), *FILE[2:]]
    write_season(tmp_path, csv_bytes(*corrected))
    report = ingest_football_data(engine, [root])
    assert report.tables["odds"].updated == 1
    assert report.tables["odds"].inserted == 0
    assert report.tables["events"].updated == 0
    with engine.connect() as conn:
        log = conn.execute(select(change_log.c.table_name, change_log.c.old_values, change_log.c.new_values)).all()
        closing = conn.execute(
            select(odds_snapshots.c.price).where(
                odds_snapshots.c.kind == "closing", odds_snapshots.c.selection == "home"
            )
        ).scalars()
        assert 4.62 in set(closing)
    assert [(row[0], row[1]["price"], row[2]["price"]) for row in log] == [("odds_snapshots", 4.58, 4.62)]


# --- downloads -----------------------------------------------------------------------------------------------------


class CsvServer(ThreadingHTTPServer):
    files: dict[str, bytes]
    requests: list[str]


class CsvHandler(BaseHTTPRequestHandler):
    server: CsvServer

    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        body = self.server.files.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Type", "text/csv")
        payload = body if body is not None else b"not found"
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def csv_server() -> Iterator[CsvServer]:
    server = CsvServer(("127.0.0.1", 0), CsvHandler)
    server.files = {"/mmz4281/2223/E0.csv": csv_bytes(*FILE, newline="\r\n")}
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def client_for(server: CsvServer) -> RateLimitedClient:
    host, port = server.server_address[:2]
    return RateLimitedClient(
        f"http://{host!s}:{port}",
        requests_per_second=100.0,
        timeout_seconds=5.0,
        max_attempts=2,
        source="football-data",
        backoff_initial_seconds=0.01,
    )


def test_the_site_url_follows_the_season_folder_pattern() -> None:
    assert football_data_url("E0", "2019-2020") == "https://www.football-data.co.uk/mmz4281/1920/E0.csv"
    assert football_data_url("SP1", "1999-2000").endswith("/mmz4281/9900/SP1.csv")
    with pytest.raises(ValueError, match="season"):
        football_data_url("E0", "2019-2021")
    with pytest.raises(ValueError, match="league"):
        football_data_url("../etc", "2019-2020")


def test_a_download_is_ingested_under_its_url_path(csv_server: CsvServer, sqlite_engine: Engine) -> None:
    with client_for(csv_server) as client:
        assert download_football_data(client, "E0", "2022-2023").startswith(b"Div,Date")
        report = ingest_football_data_download(sqlite_engine, client, "E0", "2022-2023")
    assert csv_server.requests == ["/mmz4281/2223/E0.csv"] * 2
    assert report.tables["events"].inserted == 2
    with sqlite_engine.connect() as conn:
        assert conn.execute(select(seasons.c.name)).scalar_one() == "2022-2023"
        assert conn.execute(select(quarantine.c.row_ref)).scalar_one() == "/mmz4281/2223/E0.csv#row4"


def test_a_missing_league_season_is_a_source_error(csv_server: CsvServer) -> None:
    with client_for(csv_server) as client, pytest.raises(SourceError, match="404"):
        download_football_data(client, "E0", "2030-2031")
