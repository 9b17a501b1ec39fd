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
  result is clamped so it is never after the kickoff.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import polars as pl
from sqlalchemy import Engine

from betpipe.ingest.football_data_columns import (
    AH_LINE_COLUMNS,
    COMPETITION_NAMES,
    SCORE_COLUMNS,
    STAT_COLUMNS,
    normalise_header,
    odds_columns,
)
from betpipe.ingest.http import RateLimitedClient, SourceError
from betpipe.ingest.records import ODDS_SCHEMA, NormalisedBatch, QuarantinedRow
from betpipe.ingest.store import IngestReport, ingest_payload

SOURCE = "football-data"
UK = "Europe/London"
DEFAULT_KICKOFF_HOUR = 15  # the traditional UK Saturday kickoff, used when the file has no Time
# Absent columns are added as all-null, so the rest of the reader need not ask which columns a season has.
EXPECTED_COLUMNS = ("Date", "Time", "HomeTeam", "AwayTeam", "FTHG", "FTAG", "Referee")
TEAM_COLUMN_ALIASES = {"HT": "HomeTeam", "AT": "AwayTeam"}  # the site's oldest files
_SEASON_FILE = re.compile(r"(?:^|/)(\d{4})-(\d{4})\.csv$")
_LEAGUE = re.compile(r"[A-Z]{1,3}[0-9]?")
_SEASON = re.compile(r"(\d{4})-(\d{4})")
FOOTBALL_DATA_BASE_URL = "https://www.football-data.co.uk"
_SEASON_URL = re.compile(r"(?:^|/)(\d{2})(\d{2})/[^/]+\.csv$")


def read_football_data(body: bytes, locator: str) -> NormalisedBatch:
    """Parse one football-data CSV; ``locator`` names it in row references and may carry the season."""
    frame, quarantined = _read_table(body, locator)
    rows_read = frame.height + len(quarantined)
    if frame.is_empty():
        return NormalisedBatch(source=SOURCE, locator=locator, rows_read=rows_read, quarantined=quarantined)
    frame = _with_kickoff(frame)
    frame = frame.with_columns(_row_problems().alias("_problem"))
    bad = frame.filter(pl.col("_problem") != "")
    quarantined += [
        QuarantinedRow.of(row.pop("_ref"), {k: v for k, v in row.items() if v is not None}, reason)
        for row, reason in zip(
            bad.select("_ref", *_source_columns(frame)).iter_rows(named=True), bad["_problem"], strict=True
        )
    ]
    good = frame.filter(pl.col("_problem") == "")
    events = _events(good, _season_expr(locator))
    results, stat_problems = _results(good)
    odds, odds_problems = _odds(good)
    return NormalisedBatch(
        source=SOURCE,
        locator=locator,
        rows_read=rows_read,
        events=events,
        results=results,
        odds=odds,
        quarantined=quarantined + _cell_quarantine(stat_problems) + _cell_quarantine(odds_problems),
    )


def _read_table(body: bytes, locator: str) -> tuple[pl.DataFrame, list[QuarantinedRow]]:
    """All cells as stripped strings (empty -> null) plus ``_line`` and ``_ref``; rows with an empty ``Div`` are
    separators, not matches, and are left out entirely."""
    try:
        text = body.decode("utf-8").lstrip("\ufeff")
    except UnicodeDecodeError:
        text = body.decode("cp1252")  # the site's older files; undecodable bytes raise and quarantine the payload
    reader = csv.reader(io.StringIO(text, newline=""))
    header = normalise_header(next(reader, []))
    if "HomeTeam" not in header:
        header = [TEAM_COLUMN_ALIASES.get(name, name) for name in header]
    if "Div" not in header:
        raise ValueError(f"{locator}: not a football-data CSV (no Div column in the header)")
    div = header.index("Div")
    width = len(header)
    rows: list[list[str]] = []
    lines: list[int] = []
    quarantined: list[QuarantinedRow] = []
    line = 1
    for row in reader:
        start, line = line + 1, reader.line_num
        if len(row) <= div or not row[div].strip():
            continue
        if len(row) > width and any(cell.strip() for cell in row[width:]):
            reason = f"row has {len(row)} fields but the header has {width}: columns cannot be matched"
            quarantined.append(QuarantinedRow.of(f"{locator}#row{start}", row, reason))
            continue
        rows.append(row[:width] + [""] * (width - len(row)))
        lines.append(start)
    columns = {name: [row[i] for row in rows] for i, name in enumerate(header)}
    frame = pl.DataFrame(columns, schema=dict.fromkeys(header, pl.Utf8))
    frame = frame.select(
        pl.when(pl.col(name).str.strip_chars() != "").then(pl.col(name).str.strip_chars()).alias(name)
        for name in header
        if not name.startswith("_blank")
    )
    for required in EXPECTED_COLUMNS:
        if required not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.Utf8).alias(required))
    line_numbers = pl.Series("_line", lines, dtype=pl.Int64)
    frame = frame.with_columns(line_numbers, pl.format("{}#row{}", pl.lit(locator), line_numbers).alias("_ref"))
    return frame, quarantined


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
    return frame.with_columns(pl.min_horizontal("_collected", "_kickoff").alias("_captured_open"))


def _to_utc(local: pl.Expr) -> pl.Expr:
    # A local time that does not exist (clocks going forward) becomes null and the row is quarantined.
    return local.dt.replace_time_zone(UK, ambiguous="earliest", non_existent="null").dt.convert_time_zone("UTC")


def _row_problems() -> pl.Expr:
    """Why a row cannot be a match ('' when it can); every applicable reason is listed."""
    home, away = pl.col("HomeTeam"), pl.col("AwayTeam")
    fthg, ftag = pl.col("FTHG"), pl.col("FTAG")
    checks = [
        pl.when(home.is_null()).then(pl.lit("missing HomeTeam")),
        pl.when(away.is_null()).then(pl.lit("missing AwayTeam")),
        pl.when(pl.col("Date").is_null()).then(pl.lit("missing Date")),
        pl.when(pl.col("Date").is_not_null() & pl.col("_date").is_null()).then(
            pl.format("unparseable Date '{}' (expected dd/mm/yy or dd/mm/yyyy)", pl.col("Date"))
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
        number = value.cast(pl.Float64, strict=False)
        impossible = value.is_not_null() & (number.is_null() | ~_is_count(number))
        checks.append(pl.when(impossible).then(pl.format("impossible score {}='{}'", pl.lit(column), value)))
    return pl.concat_str(checks, separator="; ", ignore_nulls=True).fill_null("")


def _is_count(number: pl.Expr) -> pl.Expr:
    return number.is_finite() & (number >= 0) & (number == number.floor())


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


def _events(good: pl.DataFrame, season: pl.Expr) -> pl.DataFrame:
    finished = pl.col("FTHG").is_not_null()
    referee = pl.col("Referee")
    attributes = pl.when(referee.is_not_null()).then(pl.struct(referee.alias("referee")).struct.json_encode())
    return good.select(
        pl.col("_ref").alias("row_ref"),
        pl.lit("soccer").alias("sport"),
        pl.col("Div").alias("competition_code"),
        pl.col("Div")
        .replace_strict(COMPETITION_NAMES, default=pl.col("Div"), return_dtype=pl.Utf8)
        .alias("competition_name"),
        season.alias("season"),
        pl.col("_kickoff").alias("kickoff_utc"),
        pl.col("_time_known").alias("kickoff_time_known"),
        pl.col("HomeTeam").alias("home_team"),
        pl.col("AwayTeam").alias("away_team"),
        pl.when(finished).then(pl.lit("finished")).otherwise(pl.lit("scheduled")).alias("status"),
        pl.lit(False).alias("neutral_site"),
        attributes.alias("attributes"),
        pl.lit(None, dtype=pl.Utf8).alias("external_id"),
    )


def _results(good: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Result rows for finished matches, and the statistic cells that were not counts (dropped, to quarantine)."""
    finished = good.filter(pl.col("FTHG").is_not_null())
    stats = [column for column in STAT_COLUMNS if column in finished.columns]
    values = [
        pl.col("_ref").alias("row_ref"),
        _number("FTHG").cast(pl.Int64).alias("home_score"),
        _number("FTAG").cast(pl.Int64).alias("away_score"),
    ]
    values += [pl.when(_is_count(_number(c))).then(_number(c)).cast(pl.Int64).alias(STAT_COLUMNS[c]) for c in stats]
    not_count = _is_count(pl.col("raw").cast(pl.Float64, strict=False)).fill_null(False).not_()
    problems = _cell_problems(
        finished, stats, not_count, pl.format("not a non-negative whole number: '{}'", pl.col("raw"))
    )
    return finished.select(values), problems


def _odds(good: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Every present price as one long row; cells that are not a price > 1 or lack their handicap line are set apart."""
    columns = odds_columns(good.columns)
    if not columns:
        return pl.DataFrame(schema=ODDS_SCHEMA), _no_problems()
    meta = pl.DataFrame(
        [(c.column, c.bookmaker, c.market, c.selection, c.kind, c.line) for c in columns],
        schema={
            "column": pl.Utf8,
            "bookmaker": pl.Utf8,
            "market": pl.Utf8,
            "selection": pl.Utf8,
            "kind": pl.Utf8,
            "fixed_line": pl.Float64,
        },
        orient="row",
    )
    lines = {
        kind: pl.coalesce(*[_number(c) for c in names if c in good.columns], pl.lit(None, dtype=pl.Float64))
        for kind, names in AH_LINE_COLUMNS.items()
    }
    base = good.select(
        "_ref",
        "_kickoff",
        "_captured_open",
        *[pl.col(c.column) for c in columns],
        pl.when(lines["opening"].is_finite()).then(lines["opening"]).alias("_ah_opening"),
        pl.when(lines["closing"].is_finite()).then(lines["closing"]).alias("_ah_closing"),
    )
    long = (
        base.unpivot(
            on=[c.column for c in columns],
            index=["_ref", "_kickoff", "_captured_open", "_ah_opening", "_ah_closing"],
            variable_name="column",
            value_name="raw",
        )
        .filter(pl.col("raw").is_not_null())
        .join(meta, on="column", how="left")
    )
    price = pl.col("raw").cast(pl.Float64, strict=False)
    is_ah = pl.col("market") == "asian_handicap"
    long = long.with_columns(
        price.alias("price"),
        pl.when(~is_ah)
        .then(pl.col("fixed_line"))
        .when(pl.col("kind") == "closing")
        .then(pl.col("_ah_closing"))
        .otherwise(pl.col("_ah_opening"))
        .alias("line"),
        pl.when(pl.col("kind") == "closing")
        .then(pl.col("_kickoff"))
        .otherwise(pl.col("_captured_open"))
        .alias("captured_at"),
    )
    problem = (
        pl.when(pl.col("price").is_null())
        .then(pl.format("non-numeric price '{}'", pl.col("raw")))
        .when(~pl.col("price").is_finite())
        .then(pl.format("non-finite price '{}'", pl.col("raw")))
        .when(pl.col("price") <= 1.0)
        .then(pl.format("impossible price '{}' (decimal odds must be > 1)", pl.col("raw")))
        .when(pl.col("line").is_null())
        .then(pl.lit("asian handicap price without a valid handicap line (AHh/BbAHh/AHCh)"))
    )
    long = long.with_columns(problem.alias("problem"))
    odds = long.filter(pl.col("problem").is_null()).select(
        pl.col("_ref").alias("row_ref"), "bookmaker", "market", "selection", "line", "price", "kind", "captured_at"
    )
    problems = long.filter(pl.col("problem").is_not_null()).select("_ref", "column", "raw", "problem")
    return odds, problems


def _cell_problems(frame: pl.DataFrame, columns: list[str], is_bad: pl.Expr, reason: pl.Expr) -> pl.DataFrame:
    if not columns:
        return _no_problems()
    long = frame.select("_ref", *columns).unpivot(on=columns, index="_ref", variable_name="column", value_name="raw")
    long = long.filter(pl.col("raw").is_not_null() & is_bad)
    return long.select("_ref", "column", "raw", reason.alias("problem"))


def _no_problems() -> pl.DataFrame:
    return pl.DataFrame(schema={"_ref": pl.Utf8, "column": pl.Utf8, "raw": pl.Utf8, "problem": pl.Utf8})


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
) -> IngestReport:
    """Ingest files and folders of football-data CSVs, one transaction per file; returns the summed report."""
    total = IngestReport(source=SOURCE)
    for path in football_data_files(paths):
        report = ingest_payload(
            engine,
            source=SOURCE,
            locator=_locator(path),
            body=path.read_bytes(),
            content_type="text/csv",
            reader=read_football_data,
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


def download_football_data(client: RateLimitedClient, league: str, season: str) -> bytes:
    """The CSV bytes for one league-season; a missing file or an HTML error page is a ``SourceError``."""
    path = football_data_path(league, season)
    response = client.get(path)
    if response.status_code != 200:
        raise SourceError(f"football-data: GET {path} answered HTTP {response.status_code}; no such league-season?")
    body = response.content
    if not body.lstrip(b"\xef\xbb\xbf").startswith(b"Div"):
        raise SourceError(f"football-data: GET {path} did not return a football-data CSV (starts {body[:40]!r})")
    return body


def ingest_football_data_download(engine: Engine, client: RateLimitedClient, league: str, season: str) -> IngestReport:
    """Download one league-season and store it under its URL path as locator (season read from the path)."""
    body = download_football_data(client, league, season)
    return ingest_payload(
        engine,
        source=SOURCE,
        locator=football_data_path(league, season),
        body=body,
        content_type="text/csv",
        reader=read_football_data,
    )
