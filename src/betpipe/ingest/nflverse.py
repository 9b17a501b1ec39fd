"""nflverse ``games.csv`` reader: NFL games, final scores and consensus closing lines as normalised records.

The reader is pure and vectorised (polars expressions over the whole file). It must never guess: a game with a missing
team, an unparseable date or an impossible score is quarantined with its row number; a price that is not valid
American odds is quarantined on its own while the game itself is kept. Relocated franchises map to one team
(OAK->LV, SD->LAC, STL->LA) so a rating follows the franchise; the code as written is kept in the attributes. A code
that is no NFL franchise is quarantined, never made a new team; a ``game_id`` given twice with different data keeps
neither row; a last row cut short by a truncated transfer (no final line break, fewer fields than the header) is
quarantined, not padded with nulls. Plausibility bounds are in docs/faults.md.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import Engine

from betpipe.clock import SYSTEM_CLOCK, Clock
from betpipe.ingest.aliases import NFL
from betpipe.ingest.records import UTC_DATETIME, NormalisedBatch, QuarantinedRow
from betpipe.ingest.store import IngestReport, ingest_payload, record_unreadable
from betpipe.odds import american_to_decimal

SOURCE = "nflverse"
SPORT = "american_football"
COMPETITION_CODE = "NFL"
COMPETITION_NAME = "National Football League"
BOOKMAKER = "consensus"
EASTERN = "America/New_York"
DEFAULT_KICKOFF = "13:00"  # the usual Sunday slot, used when nflverse has no time (all 1999 games)
# Plausibility bounds (docs/faults.md): the highest NFL score is 73, the highest total 113.
MAX_SCORE = 120
FIRST_SEASON, LAST_SEASON = 1920, 2100
MIN_DECIMAL_ODDS, MAX_DECIMAL_ODDS = 1.001, 1000.0  # as American odds: -100000..-100 and 100..99900
MAX_SPREAD_LINE = 60.0
MAX_TOTAL_LINE = 150.0

RELOCATIONS: dict[str, str] = {"OAK": "LV", "SD": "LAC", "STL": "LA"}
KNOWN_CODES = frozenset(NFL) | frozenset(RELOCATIONS)
REQUIRED_COLUMNS = ("game_id", "season", "gameday", "away_team", "home_team")

# market, selection, price column, expression for the line (home's handicap for spreads, the total for totals)
_PRICES: tuple[tuple[str, str, str, pl.Expr], ...] = (
    ("moneyline", "home", "home_moneyline", pl.lit(0.0)),
    ("moneyline", "away", "away_moneyline", pl.lit(0.0)),
    ("spread", "home", "home_spread_odds", -pl.col("_spread_line") + 0.0),
    ("spread", "away", "away_spread_odds", -pl.col("_spread_line") + 0.0),
    ("total", "over", "over_odds", pl.col("_total_line")),
    ("total", "under", "under_odds", pl.col("_total_line")),
)
_INT_ATTRIBUTES = ("week", "temp", "wind", "away_rest", "home_rest")
_TEXT_ATTRIBUTES = ("game_type", "roof", "surface", "stadium", "game_id")


def _text(name: str) -> pl.Expr:
    """A column as stripped text with empty strings as null (absent columns read as null)."""
    return pl.col(name).str.strip_chars().replace("", None)


def _number(name: str) -> pl.Expr:
    return _text(name).cast(pl.Float64, strict=False)


def read_nflverse(body: bytes, locator: str) -> NormalisedBatch:
    """Parse one nflverse games file; raises ``ValueError`` only when the file as a whole is unusable."""
    # Invalid UTF-8 becomes U+FFFD: a mangled team code is then unknown (quarantined), a mangled stadium harmless.
    raw = pl.read_csv(body, infer_schema_length=0, encoding="utf8-lossy")
    truncated = _truncated_last_row(body, len(raw.columns))
    missing = [name for name in REQUIRED_COLUMNS if name not in raw.columns]
    if missing:
        raise ValueError(f"not an nflverse games file: missing column(s) {', '.join(missing)}")
    optional = [
        "gametime",
        "home_score",
        "away_score",
        "overtime",
        "location",
        "spread_line",
        "total_line",
        "div_game",
        *(p[2] for p in _PRICES),
        *_INT_ATTRIBUTES,
        *_TEXT_ATTRIBUTES,
    ]
    raw = raw.with_columns(
        pl.lit(None, dtype=pl.Utf8).alias(c) for c in dict.fromkeys(optional) if c not in raw.columns
    )
    content = pl.concat_str([pl.col(c).fill_null("") for c in raw.columns], separator="\x1f").hash()
    frame = _parse(raw.with_row_index("_row", offset=1).with_columns(content.alias("_content")))
    last_row = pl.col("_row") == raw.height
    frame = frame.with_columns(
        pl.when(last_row).then(pl.lit(truncated, dtype=pl.Utf8)).otherwise(pl.lit(None, dtype=pl.Utf8)).alias("_cut")
    )
    # Evaluated once on the whole file: the duplicate checks are window expressions over every row.
    frame = frame.with_columns(_event_problems(frame).alias("_problem"))
    bad = frame.filter(pl.col("_problem").is_not_null())
    quarantined = [
        QuarantinedRow.of(str(row["_row"]), {c: row[c] for c in raw.columns}, row["_problem"])
        for row in bad.iter_rows(named=True)
    ]
    good = frame.filter(pl.col("_problem").is_null())
    odds, odds_quarantine = _odds(good)
    return NormalisedBatch(
        source=SOURCE,
        locator=locator,
        rows_read=raw.height,
        events=_events(good),
        results=good.filter(pl.col("_finished")).select(
            pl.col("row_ref"),
            pl.col("_home_score").alias("home_score"),
            pl.col("_away_score").alias("away_score"),
            pl.col("_overtime").alias("overtime"),
        ),
        odds=odds,
        quarantined=quarantined + odds_quarantine,
    )


def _truncated_last_row(body: bytes, width: int) -> str | None:
    """Why the last row is cut off, or None. A file that ends without a line break inside a row with fewer fields
    than the header was cut in transfer: polars pads the missing cells with nulls (and keeps a half-written score,
    ``28`` read as ``2``), so the row would land as a game with a wrong or partial result. Same rule as the
    football-data reader's."""
    if not body or body.endswith((b"\n", b"\r")):
        return None
    last: list[str] = []
    for record in csv.reader(io.StringIO(body.decode("utf-8", errors="replace"), newline="")):
        if any(cell.strip() for cell in record):
            last = record
    if not last or len(last) >= width:
        return None
    return f"file ends inside this row ({len(last)} of {width} fields, no line break): truncated"


def _parse(raw: pl.DataFrame) -> pl.DataFrame:
    home_code, away_code = _text("home_team").str.to_uppercase(), _text("away_team").str.to_uppercase()
    gametime = _text("gametime")
    clock = gametime.fill_null(DEFAULT_KICKOFF).str.to_time("%H:%M", strict=False)
    day = _text("gameday").str.to_date("%Y-%m-%d", strict=False)
    kickoff_local = day.dt.combine(clock)
    scores = {side: _text(f"{side}_score") for side in ("home", "away")}
    return raw.with_columns(
        pl.col("_row").cast(pl.Utf8).alias("row_ref"),
        home_code.alias("_home_code"),
        away_code.alias("_away_code"),
        home_code.replace(RELOCATIONS).alias("_home"),
        away_code.replace(RELOCATIONS).alias("_away"),
        _text("season").cast(pl.Int64, strict=False).alias("_season"),
        day.alias("_day"),
        gametime.is_not_null().alias("_time_known"),
        (gametime.is_not_null() & clock.is_null()).alias("_bad_time"),
        kickoff_local.dt.replace_time_zone(EASTERN, ambiguous="earliest", non_existent="null")
        .dt.convert_time_zone("UTC")
        .cast(UTC_DATETIME)
        .alias("_kickoff"),
        scores["home"].alias("_home_score_text"),
        scores["away"].alias("_away_score_text"),
        scores["home"].cast(pl.Int64, strict=False).alias("_home_score"),
        scores["away"].cast(pl.Int64, strict=False).alias("_away_score"),
        (scores["home"].is_not_null() & scores["away"].is_not_null()).alias("_finished"),
        _text("overtime")
        .replace_strict({"1": True, "0": False}, default=None, return_dtype=pl.Boolean)
        .alias("_overtime"),
        _number("spread_line").alias("_spread_line"),
        _number("total_line").alias("_total_line"),
    )


def _event_problems(frame: pl.DataFrame) -> pl.Expr:
    """The first reason a game cannot be stored, or null. Every reason quotes its cells null-safely: a null
    reason would wave the row through."""

    def shown(name: str) -> pl.Expr:
        return pl.col(name).fill_null("")

    def impossible(side: str) -> pl.Expr:
        text, value = pl.col(f"_{side}_score_text"), pl.col(f"_{side}_score")
        return text.is_not_null() & (value.is_null() | (value < 0) | (value > MAX_SCORE))

    game_id = _text("game_id")
    versions = pl.col("_content").n_unique().over(game_id)
    first_row = pl.col("_row").min().over(game_id)
    one_score = pl.col("_home_score_text").is_null() != pl.col("_away_score_text").is_null()
    year = pl.col("_day").dt.year()
    checks: list[tuple[pl.Expr, pl.Expr]] = [
        (pl.col("_cut").is_not_null(), pl.col("_cut")),
        (game_id.is_null(), pl.lit("missing game_id")),
        (
            versions > 1,
            pl.format("game_id {} is given {} times with different data: none kept", game_id, pl.len().over(game_id)),
        ),
        (pl.col("_row") != first_row, pl.format("exact duplicate of row {}", first_row)),
        (pl.col("_home").is_null() | pl.col("_away").is_null(), pl.lit("missing home_team or away_team")),
        (
            ~pl.col("_home_code").is_in(KNOWN_CODES) | ~pl.col("_away_code").is_in(KNOWN_CODES),
            pl.format("unknown team code {} or {} (not an NFL franchise)", shown("home_team"), shown("away_team")),
        ),
        (pl.col("_home") == pl.col("_away"), pl.format("home_team and away_team are both {}", pl.col("_home"))),
        (pl.col("_season").is_null(), pl.format("unparseable season '{}'", shown("season"))),
        (
            ~pl.col("_season").is_between(FIRST_SEASON, LAST_SEASON),
            pl.format("implausible season {} (want {}..{})", pl.col("_season"), FIRST_SEASON, LAST_SEASON),
        ),
        (pl.col("_day").is_null(), pl.format("unparseable gameday '{}' (want YYYY-MM-DD)", shown("gameday"))),
        (
            (year != pl.col("_season")) & (year != pl.col("_season") + 1),
            pl.format("gameday {} is not in season {}", shown("gameday"), pl.col("_season")),
        ),
        (pl.col("_bad_time"), pl.format("unparseable gametime '{}' (want HH:MM)", shown("gametime"))),
        (pl.col("_kickoff").is_null(), pl.lit("kickoff does not exist in US/Eastern (clock change)")),
        (one_score, pl.lit("only one of home_score/away_score is present")),
        (
            impossible("home") | impossible("away"),
            pl.format(
                "impossible score {}-{} (want whole numbers 0..{})",
                shown("home_score"),
                shown("away_score"),
                pl.lit(MAX_SCORE),
            ),
        ),
    ]
    expression: Any = pl.when(checks[0][0]).then(checks[0][1])
    for condition, reason in checks[1:]:
        expression = expression.when(condition).then(reason)
    result: pl.Expr = expression.otherwise(pl.lit(None, dtype=pl.Utf8))
    return result


def _events(good: pl.DataFrame) -> pl.DataFrame:
    attributes = pl.struct(
        *(_text(c).alias(c) for c in _TEXT_ATTRIBUTES),
        *(_text(c).cast(pl.Int64, strict=False).alias(c) for c in _INT_ATTRIBUTES),
        (_text("div_game") == "1").alias("div_game"),
        pl.col("_home_code").alias("home_team_code"),
        pl.col("_away_code").alias("away_team_code"),
        pl.col("_spread_line").alias("spread_line"),
        pl.col("_total_line").alias("total_line"),
    ).struct.json_encode()
    return good.select(
        pl.col("row_ref"),
        pl.lit(SPORT).alias("sport"),
        pl.lit(COMPETITION_CODE).alias("competition_code"),
        pl.lit(COMPETITION_NAME).alias("competition_name"),
        pl.col("_season").cast(pl.Utf8).alias("season"),
        pl.col("_kickoff").alias("kickoff_utc"),
        pl.col("_time_known").alias("kickoff_time_known"),
        pl.col("_home").alias("home_team"),
        pl.col("_away").alias("away_team"),
        pl.when(pl.col("_finished")).then(pl.lit("finished")).otherwise(pl.lit("scheduled")).alias("status"),
        (_text("location") == "Neutral").fill_null(False).alias("neutral_site"),
        attributes.alias("attributes"),
        _text("game_id").alias("external_id"),
    )


def _odds(good: pl.DataFrame) -> tuple[pl.DataFrame, list[QuarantinedRow]]:
    """Consensus closing prices in long form; bad prices (or a price without its line) go to quarantine."""
    long = pl.concat(
        [
            good.select(
                pl.col("row_ref"),
                pl.lit(market).alias("market"),
                pl.lit(selection).alias("selection"),
                line.cast(pl.Float64).alias("line"),
                _text(column).alias("_text"),
                _number(column).alias("_american"),
                pl.col("_kickoff").alias("captured_at"),
            )
            for market, selection, column, line in _PRICES
        ]
    ).filter(pl.col("_text").is_not_null())
    american = long["_american"].to_numpy()
    with np.errstate(all="ignore"):  # the same conversion as odds.american_to_decimal, NaN where invalid
        decimal = np.where(
            american >= 100.0, 1 + american / 100, np.where(american <= -100.0, 1 - 100 / american, np.nan)
        )
    valid = np.isfinite(decimal) & (decimal >= MIN_DECIMAL_ODDS) & (decimal <= MAX_DECIMAL_ODDS)
    reason = (
        pl.when(~pl.Series(valid))
        .then(
            pl.format(
                "{} price '{}' is not valid American odds (want -100000..-100 or 100..99900)",
                pl.col("market"),
                pl.col("_text"),
            )
        )
        .when(
            pl.col("line").is_null()
            | ((pl.col("market") == "total") & ~pl.col("line").is_between(0.5, MAX_TOTAL_LINE))
            | ((pl.col("market") == "spread") & (pl.col("line").abs() > MAX_SPREAD_LINE))
        )
        .then(pl.format("{} price without a valid line", pl.col("market")))
        .otherwise(pl.lit(None, dtype=pl.Utf8))
    )
    long = long.with_columns(reason.alias("_reason"))
    rejected = long.filter(pl.col("_reason").is_not_null())
    quarantined = [
        QuarantinedRow.of(
            f"{row['row_ref']}:{row['market']}:{row['selection']}",
            {"row": row["row_ref"], "market": row["market"], "selection": row["selection"], "price": row["_text"]},
            row["_reason"],
        )
        for row in rejected.iter_rows(named=True)
    ]
    accepted = long.filter(pl.col("_reason").is_null())
    odds = accepted.select(
        "row_ref",
        pl.lit(BOOKMAKER).alias("bookmaker"),
        "market",
        "selection",
        "line",
        pl.Series("price", american_to_decimal(accepted["_american"].to_numpy())),
        pl.lit("closing").alias("kind"),
        "captured_at",
    )
    return odds, quarantined


def ingest_nflverse(engine: Engine, path: Path, *, clock: Clock = SYSTEM_CLOCK) -> IngestReport:
    """Store one nflverse games file (raw bytes kept); re-running the same file changes nothing."""
    locator = path.resolve().as_posix()
    try:
        body = path.read_bytes()
    except OSError as error:
        reason = f"cannot read the file: {error.strerror or error}"
        return record_unreadable(engine, source=SOURCE, locator=locator, reason=reason, clock=clock)
    return ingest_payload(
        engine,
        source=SOURCE,
        locator=locator,
        body=body,
        content_type="text/csv",
        reader=read_nflverse,
        clock=clock,
    )
