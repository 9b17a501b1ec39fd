"""Reader for football-data.co.uk CSV files: matches, results, and 1X2 / over-under 2.5 / Asian-handicap odds.

Pure parsing (bytes in, ``NormalisedBatch`` out) plus thin file and download drivers that hand the bytes to
``ingest.store``. It never guesses a column by position and never stores a price it cannot vouch for: bad rows and
bad cells are quarantined with a reason.

Times. ``Time`` (from 2019-20) is UK local time (Europe/London) and is converted to UTC; without it the kickoff is
15:00 UK local on the match date and ``kickoff_time_known`` is False.

When prices were captured (point-in-time correctness depends on it):
- closing prices (columns with a ``C`` after the bookmaker prefix: ``PSCH``, ``B365C>2.5``, ``AvgCAHH``) are taken at
  the kickoff;
- pre-match prices (stored as kind ``opening``) are what football-data collects on Friday afternoon (by 17:00 UK) for
  weekend fixtures and on Tuesday (by 15:00 UK) for midweek ones. A match on Fri/Sat/Sun/Mon gets the Friday 17:00 UK on
  or before its date (Monday: the previous Friday); a match on Tue/Wed/Thu gets that week's Tuesday 15:00 UK; the
  result is clamped to at most kickoff - ``PREMATCH_LEAD_HOURS`` (1 h). The source collects pre-match prices before the
  fixture, so a pre-match price is known strictly before kickoff by definition; the clamp matters for Friday and
  Tuesday games whose kickoff time is unknown (defaulted to 15:00, not after the collection). See docs/features.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

import polars as pl
from sqlalchemy import Engine

from betpipe.clock import SYSTEM_CLOCK, Clock
from betpipe.ingest.football_data_columns import COMPETITION_NAMES, SCORE_COLUMNS, STAT_COLUMNS
from betpipe.ingest.football_data_odds import no_problems, odds_rows
from betpipe.ingest.football_data_table import read_table
from betpipe.ingest.http import RateLimitedClient, SourceError
from betpipe.ingest.records import NormalisedBatch, QuarantinedRow
from betpipe.ingest.store import IngestReport, finish_run, ingest_payload, record_unreadable, start_run
from betpipe.ingest.teams import team_name_problem_expr

SOURCE = "football-data"
UK = "Europe/London"
DEFAULT_KICKOFF_HOUR = 15  # the traditional UK Saturday kickoff, used when the file has no Time
PREMATCH_LEAD_HOURS = 1  # pre-match prices are stamped at least this long before kickoff (see the module doc)
_SEASON_FILE = re.compile(r"(?:^|/)(\d{4})-(\d{4})\.csv$")
_LEAGUE = re.compile(r"[A-Z]{1,3}[0-9]?")
_SEASON = re.compile(r"(\d{4})-(\d{4})")
FOOTBALL_DATA_BASE_URL = "https://www.football-data.co.uk"
_SEASON_URL = re.compile(r"(?:^|/)(\d{2})(\d{2})/[^/]+\.csv$")

# Plausibility bounds (docs/faults.md): outside them a value is a broken cell, not a rare event.
MAX_GOALS = 30  # the record professional score is 149-0 (own goals, in protest); league football stays far below 30
MAX_STAT = 100  # shots, corners, fouls, cards per side
FIRST_YEAR, LAST_YEAR = 1888, 2100
RESULT_GRACE = timedelta(days=2)  # a match this long past kickoff without a score has lost its result
_WHOLE = r"^\d{1,3}(\.0+)?$"  # "2" or "2.0"; never "1e2", "+2" or "2.5"


def read_football_data(body: bytes, locator: str, *, now: datetime | None = None) -> NormalisedBatch:
    """Parse one football-data CSV; ``locator`` names it in row references and may carry the season.

    With ``now`` (the caller's clock), a match well past its kickoff without a score is quarantined: its result is
    missing (e.g. a file without ``FTHG``/``FTAG``), not still to come."""
    frame, quarantined, given = read_table(body, locator)
    rows_read = frame.height + len(quarantined)
    if frame.is_empty():
        return NormalisedBatch(source=SOURCE, locator=locator, rows_read=rows_read, quarantined=quarantined)
    frame = _with_kickoff(frame)
    frame = frame.with_columns(_row_problems(given, now).alias("_problem"))
    bad = frame.filter(pl.col("_problem") != "")
    quarantined += [
        QuarantinedRow.of(row.pop("_ref"), {k: v for k, v in row.items() if v is not None}, reason)
        for row, reason in zip(
            bad.select("_ref", *_source_columns(frame)).iter_rows(named=True), bad["_problem"], strict=True
        )
    ]
    good = frame.filter(pl.col("_problem") == "")
    season = _season_expr(locator)
    events = _events(good.with_columns(season.alias("_season")))
    results, stat_problems = _results(good)
    odds, odds_problems = odds_rows(good)
    return NormalisedBatch(
        source=SOURCE,
        locator=locator,
        rows_read=rows_read,
        events=events,
        results=results,
        odds=odds,
        quarantined=quarantined + _cell_quarantine(stat_problems) + _cell_quarantine(odds_problems),
    )


def _source_columns(frame: pl.DataFrame) -> list[str]:
    return [name for name in frame.columns if not name.startswith("_")]


def _number(name: str) -> pl.Expr:
    return pl.col(name).cast(pl.Float64, strict=False)


def _with_kickoff(frame: pl.DataFrame) -> pl.DataFrame:
    """Adds ``_date`` (UK match date), ``_kickoff`` (UTC), ``_time_known`` and ``_captured_open`` (see module doc)."""
    parts = pl.col("Date").str.extract_groups(r"^(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})$")
    year = parts.struct.field("3").cast(pl.Int32)
    year = (
        pl.when(parts.struct.field("3").str.len_bytes() == 2)
        .then(year + pl.when(year >= 70).then(1900).otherwise(2000))
        .otherwise(year)
    )
    iso = pl.format("{}-{}-{}", year, parts.struct.field("2").str.zfill(2), parts.struct.field("1").str.zfill(2))
    has_time = pl.col("Time").is_not_null()
    time_parts = pl.col("Time").str.extract_groups(r"^(\d{1,2})[:.](\d{2})(?::\d{2})?$")
    hour = time_parts.struct.field("1").cast(pl.Int64)
    minute = time_parts.struct.field("2").cast(pl.Int64)
    time_ok = has_time & (hour < 24) & (minute < 60)
    frame = frame.with_columns(
        iso.str.to_date("%Y-%m-%d", strict=False).alias("_date"),
        has_time.alias("_has_time"),
        time_ok.fill_null(False).alias("_time_known"),
        pl.when(time_ok).then(hour).otherwise(DEFAULT_KICKOFF_HOUR).alias("_hour"),
        pl.when(time_ok).then(minute).otherwise(0).alias("_minute"),
    )
    weekday = pl.col("_date").dt.weekday()  # Monday 1 .. Sunday 7
    midweek = weekday.is_between(2, 4)
    days_back = pl.when(midweek).then(weekday - 2).when(weekday == 1).then(3).otherwise(weekday - 5)
    collected = (pl.col("_date") - pl.duration(days=days_back)).cast(pl.Datetime("us")) + pl.duration(
        hours=pl.when(midweek).then(15).otherwise(17)
    )
    local = pl.col("_date").cast(pl.Datetime("us")) + pl.duration(hours=pl.col("_hour"), minutes=pl.col("_minute"))
    frame = frame.with_columns(_to_utc(local).alias("_kickoff"), _to_utc(collected).alias("_collected"))
    lead = pl.duration(hours=PREMATCH_LEAD_HOURS)
    return frame.with_columns(pl.min_horizontal("_collected", pl.col("_kickoff") - lead).alias("_captured_open"))


def _to_utc(local: pl.Expr) -> pl.Expr:
    # A local time that does not exist (clocks going forward) becomes null and the row is quarantined.
    return local.dt.replace_time_zone(UK, ambiguous="earliest", non_existent="null").dt.convert_time_zone("UTC")


def _row_problems(given: list[str], now: datetime | None) -> pl.Expr:
    """Why a row cannot be a match ('' when it can); every applicable reason is listed."""
    home, away, div = pl.col("HomeTeam"), pl.col("AwayTeam"), pl.col("Div")
    fthg, ftag = pl.col("FTHG"), pl.col("FTAG")
    year = pl.col("_date").dt.year()
    checks = [
        pl.when(~div.str.contains(r"^[A-Za-z0-9]{1,8}$")).then(pl.lit("implausible Div (want 1-8 letters/digits)")),
        pl.when(home.is_null()).then(pl.lit("missing HomeTeam")),
        pl.when(away.is_null()).then(pl.lit("missing AwayTeam")),
        team_name_problem_expr(home, "HomeTeam"),
        team_name_problem_expr(away, "AwayTeam"),
        pl.when(pl.col("Date").is_null()).then(pl.lit("missing Date")),
        pl.when(pl.col("Date").is_not_null() & pl.col("_date").is_null()).then(
            pl.format("unparseable Date '{}' (expected dd/mm/yy or dd/mm/yyyy)", pl.col("Date"))
        ),
        pl.when(~year.is_between(FIRST_YEAR, LAST_YEAR)).then(
            pl.format("implausible Date '{}' (years {}..{})", pl.col("Date"), FIRST_YEAR, LAST_YEAR)
        ),
        pl.when(pl.col("_has_time") & ~pl.col("_time_known")).then(
            pl.format("unparseable Time '{}' (expected HH:MM)", pl.col("Time"))
        ),
        pl.when(pl.col("_date").is_not_null() & pl.col("_kickoff").is_null()).then(
            pl.lit("kickoff time does not exist in UK local time (clocks went forward)")
        ),
        pl.when(fthg.is_null() != ftag.is_null()).then(
            pl.format(
                "only one side of the score is present (FTHG='{}', FTAG='{}')", fthg.fill_null(""), ftag.fill_null("")
            )
        ),
        pl.when(home.is_not_null() & (home == away)).then(pl.format("home and away team are the same ('{}')", home)),
    ]
    for column, value in zip(SCORE_COLUMNS, (fthg, ftag), strict=True):
        impossible = value.is_not_null() & ~_bounded_count(value, MAX_GOALS)
        checks.append(
            pl.when(impossible).then(
                pl.format("impossible score {}='{}' (want a whole number 0..{})", pl.lit(column), value, MAX_GOALS)
            )
        )
    if now is not None:
        stale = fthg.is_null() & ftag.is_null() & (pl.col("_kickoff") < pl.lit(now - RESULT_GRACE))
        missing = [name for name in SCORE_COLUMNS if name not in given]
        where = f"the file has no {'/'.join(missing)} column" if missing else "FTHG/FTAG are empty"
        checks.append(
            pl.when(stale).then(pl.lit(f"no score for a match kicked off over {RESULT_GRACE.days} days ago ({where})"))
        )
    return pl.concat_str(checks, separator="; ", ignore_nulls=True).fill_null("")


def _is_count(number: pl.Expr) -> pl.Expr:
    return number.is_finite() & (number >= 0) & (number == number.floor())


def _bounded_count(text: pl.Expr, maximum: int) -> pl.Expr:
    """A cell written as a whole number (``2`` or ``2.0``) no larger than ``maximum``; null cells are not counts."""
    return (text.str.contains(_WHOLE) & (text.cast(pl.Float64, strict=False) <= maximum)).fill_null(False)


def _season_expr(locator: str) -> pl.Expr:
    if match := _SEASON_FILE.search(locator):
        first, second = int(match.group(1)), int(match.group(2))
        if second == first + 1:
            return pl.lit(f"{first}-{second}")
    if match := _SEASON_URL.search(locator):
        first, second = 2000 + int(match.group(1)), 2000 + int(match.group(2))
        if second % 100 == (first + 1) % 100:
            first -= 100 if first > 2070 else 0
            return pl.lit(f"{first}-{first + 1}")
    # Otherwise from the match date: a season runs July to June.
    start = pl.col("_date").dt.year() - pl.when(pl.col("_date").dt.month() >= 7).then(0).otherwise(1)
    return pl.format("{}-{}", start, start + 1)


def _events(good: pl.DataFrame) -> pl.DataFrame:
    """Event rows; ``external_id`` (division, season, teams, n-th meeting) lets a later file move a match's date."""
    finished = pl.col("FTHG").is_not_null()
    referee = pl.col("Referee")
    attributes = pl.when(referee.is_not_null()).then(pl.struct(referee.alias("referee")).struct.json_encode())
    pairing = ["Div", "_season", "HomeTeam", "AwayTeam"]
    meeting = pl.struct("_date", "_line").rank("ordinal").over(pairing)
    return good.select(
        pl.col("_ref").alias("row_ref"),
        pl.lit("soccer").alias("sport"),
        pl.col("Div").alias("competition_code"),
        pl.col("Div")
        .replace_strict(COMPETITION_NAMES, default=pl.col("Div"), return_dtype=pl.Utf8)
        .alias("competition_name"),
        pl.col("_season").alias("season"),
        pl.col("_kickoff").alias("kickoff_utc"),
        pl.col("_time_known").alias("kickoff_time_known"),
        pl.col("HomeTeam").alias("home_team"),
        pl.col("AwayTeam").alias("away_team"),
        pl.when(finished).then(pl.lit("finished")).otherwise(pl.lit("scheduled")).alias("status"),
        pl.lit(False).alias("neutral_site"),
        attributes.alias("attributes"),
        pl.format("{}:{}:{}:{}:{}", *[pl.col(c) for c in pairing], meeting).alias("external_id"),
    )


def _results(good: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Result rows for finished matches, and the statistic cells that were not plausible counts (dropped, to
    quarantine). A half-time score above the full-time one is one of those."""
    finished = good.filter(pl.col("FTHG").is_not_null())
    stats = [column for column in STAT_COLUMNS if column in finished.columns]
    full_time = {"HTHG": "FTHG", "HTAG": "FTAG"}

    def plausible(column: str) -> pl.Expr:
        ok = _bounded_count(pl.col(column), MAX_STAT)
        if column in full_time:
            ok = ok & (_number(column) <= _number(full_time[column])).fill_null(False)
        return ok

    values = [
        pl.col("_ref").alias("row_ref"),
        _number("FTHG").cast(pl.Int64).alias("home_score"),
        _number("FTAG").cast(pl.Int64).alias("away_score"),
    ]
    values += [pl.when(plausible(c)).then(_number(c)).cast(pl.Int64).alias(STAT_COLUMNS[c]) for c in stats]
    problems = [
        finished.filter(pl.col(c).is_not_null() & ~plausible(c)).select(
            "_ref",
            pl.lit(c).alias("column"),
            pl.col(c).alias("raw"),
            pl.format("not a whole number 0..{} (or above the full-time score): '{}'", MAX_STAT, pl.col(c)).alias(
                "problem"
            ),
        )
        for c in stats
    ]
    return finished.select(values), pl.concat([no_problems(), *problems])


def _cell_quarantine(problems: pl.DataFrame) -> list[QuarantinedRow]:
    return [
        QuarantinedRow.of(f"{ref}:{column}", {"column": column, "value": raw}, f"{column}: {problem}; value dropped")
        for ref, column, raw, problem in problems.iter_rows()
    ]


def _locator(path: Path) -> str:
    """``<folder>/<file>``, e.g. ``E0/2022-2023.csv``: the same whether a file, its league folder or the data root
    was given, and free of anything machine-specific."""
    return f"{path.parent.name}/{path.name}" if path.parent.name else path.name


def football_data_files(paths: Sequence[Path]) -> list[Path]:
    """The CSV files named or found (recursively) under ``paths``, sorted; ``MANIFEST.csv`` is not data."""
    found: set[Path] = set()
    for path in paths:
        if path.is_dir():
            found.update(p for p in path.rglob("*.csv") if p.is_file() and p.name.upper() != "MANIFEST.CSV")
        elif path.is_file():
            found.add(path)
        else:
            raise FileNotFoundError(f"no such file or folder: {path}")
    return sorted(found, key=lambda p: (_locator(p), str(p)))


def ingest_football_data(
    engine: Engine,
    paths: Sequence[Path],
    *,
    on_file: Callable[[Path, IngestReport], None] | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> IngestReport:
    """Ingest files and folders of football-data CSVs, one transaction per file; returns the summed report.

    A file that cannot be read (or parsed, or stored) is recorded as one quarantined payload and the next file goes
    on: one bad file never stops the ones after it."""
    total = IngestReport(source=SOURCE)
    for path in football_data_files(paths):
        locator = _locator(path)
        try:
            body = path.read_bytes()
        except OSError as error:
            reason = f"cannot read the file: {error.strerror or error}"
            report = record_unreadable(engine, source=SOURCE, locator=locator, reason=reason, clock=clock)
        else:
            report = ingest_payload(
                engine,
                source=SOURCE,
                locator=locator,
                body=body,
                content_type="text/csv",
                reader=partial(read_football_data, now=clock.now()),
                clock=clock,
            )
        total = total + report
        if on_file is not None:
            on_file(path, report)
    return total


def football_data_path(league: str, season: str) -> str:
    """The site's path for one league-season, e.g. ``("E0", "2019-2020")`` -> ``/mmz4281/1920/E0.csv``."""
    if not _LEAGUE.fullmatch(league):
        raise ValueError(f"not a football-data league code: {league!r} (e.g. E0, SP1, D1)")
    match = _SEASON.fullmatch(season)
    if not match or int(match.group(2)) != int(match.group(1)) + 1:
        raise ValueError(f"not a season: {season!r} (expected YYYY-YYYY, e.g. 2019-2020)")
    return f"/mmz4281/{match.group(1)[2:]}{match.group(2)[2:]}/{league}.csv"


def football_data_url(league: str, season: str) -> str:
    return f"{FOOTBALL_DATA_BASE_URL}{football_data_path(league, season)}"


def _request_path(client: RateLimitedClient, site_path: str) -> str:
    """``site_path`` relative to the client's base URL, whose path may already hold the ``/mmz4281`` folder (the
    configured default does): joined naively, the request went to ``.../mmz4281/mmz4281/...``."""
    folder = site_path.rsplit("/", 2)[0]
    return site_path.removeprefix(folder) if client.base_url.path.rstrip("/").endswith(folder) else site_path


def download_football_data(client: RateLimitedClient, league: str, season: str) -> bytes:
    """The CSV bytes for one league-season; a missing file or an HTML error page is a ``SourceError``."""
    path = football_data_path(league, season)
    response = client.get(_request_path(client, path))
    if response.status_code != 200:
        raise SourceError(f"football-data: GET {path} answered HTTP {response.status_code}; no such league-season?")
    body = response.content
    if not body.lstrip(b"\xef\xbb\xbf").startswith(b"Div"):
        raise SourceError(f"football-data: GET {path} did not return a football-data CSV (starts {body[:40]!r})")
    return body


def ingest_football_data_download(
    engine: Engine, client: RateLimitedClient, league: str, season: str, *, clock: Clock = SYSTEM_CLOCK
) -> IngestReport:
    """Download one league-season and store it under its URL path as locator (season read from the path).

    A failed download is recorded as a failed run, then re-raised (the CLI prints it as one line)."""
    try:
        body = download_football_data(client, league, season)
    except SourceError as error:
        with engine.begin() as conn:
            run_id = start_run(conn, SOURCE, football_data_path(league, season), clock=clock)
            finish_run(conn, run_id, None, error=str(error), clock=clock)
        raise
    return ingest_payload(
        engine,
        source=SOURCE,
        locator=football_data_path(league, season),
        body=body,
        content_type="text/csv",
        reader=partial(read_football_data, now=clock.now()),
        clock=clock,
    )
