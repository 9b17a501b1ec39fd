"""football-data.co.uk bytes to a table of text cells, one physical line per row, every odd line accounted for.

Each line is decoded and split on its own: an unbalanced quote, an undecodable byte, a 5 MB line or a row cut short
costs that row (quarantined with its line number and a reason), never the rows after it, and never the file. The one
exception is RFC 4180's: a quoted cell that holds a line break joins the lines it spans into one row, provided the
quote closes within a few lines into a row of the header's shape (``_quoted_line_breaks``); otherwise the line with
the open quote is quarantined alone. Row references keep the physical number of a row's first line. It never
interprets a cell beyond splitting it and never addresses a column by position except ``Div`` to tell separator rows
from matches.
"""

from __future__ import annotations

import codecs
import csv
import re

import polars as pl

from betpipe.ingest.football_data_columns import normalise_header
from betpipe.ingest.records import QuarantinedRow

# Absent columns are added as all-null, so the rest of the reader need not ask which columns a season has.
EXPECTED_COLUMNS = ("Date", "Time", "HomeTeam", "AwayTeam", "FTHG", "FTAG", "Referee")
TEAM_COLUMN_ALIASES = {"HT": "HomeTeam", "AT": "AwayTeam"}  # the site's oldest files
# A real row is under 1,000 characters (about 110 short columns); anything this long is not a row.
MAX_LINE_CHARS = 64 * 1024
_LINE_BREAK = re.compile(rb"\r\n|\n|\r")
_TEXT_LINE_BREAK = re.compile(r"\r\n|\n|\r")
_SHOWN_CHARS = 200
# A quoted cell may hold line breaks (RFC 4180; a referee's name typed over two lines). More lines than this in one
# cell is not a cell but an unclosed quote.
MAX_CELL_LINES = 10


def _decode_lines(body: bytes) -> tuple[list[str | None], bool]:
    """Each physical line as text (None where neither UTF-8 nor Windows-1252 can decode it), and whether the last
    line ended with a line break. Decoding per line keeps one stray byte from turning every name into mojibake."""
    if body.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        body = body.decode("utf-16").encode("utf-8")  # a UTF-16 export; undecodable -> the payload is refused
    body = body.removeprefix(codecs.BOM_UTF8)
    terminated = body.endswith((b"\n", b"\r"))
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        decoded: list[str | None] = list(_TEXT_LINE_BREAK.split(text))
        return (decoded[:-1] if terminated else decoded), terminated
    raw_lines = _LINE_BREAK.split(body)
    if terminated:
        raw_lines.pop()
    lines: list[str | None] = []
    for raw in raw_lines:
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            try:
                lines.append(raw.decode("cp1252"))  # the site's older files
            except UnicodeDecodeError:
                lines.append(None)
    return lines, terminated


def _split(line: str) -> list[str]:
    """The cells of one line; quotes are honoured within the line only (``csv.Error`` when they do not balance)."""
    if '"' not in line:
        return line.split(",")
    return next(csv.reader([line], strict=True))


def _quoted_line_breaks(
    first: str, lines: list[str | None], number: int, needed: int, width: int
) -> tuple[list[str], int] | None:
    """The row that starts on line ``number`` (1-based) and whose quoted cell holds line breaks (RFC 4180), with
    the number of the line it ends on; None when the open quote is a stray one.

    The join is accepted only when it closes within ``MAX_CELL_LINES`` lines and ``MAX_LINE_CHARS`` characters, gives
    a row of the header's shape, and no continuation line is a whole row by itself: an unclosed quote and a stray
    closing quote further down then cost their own lines only, never the match rows between them."""
    text = first
    for end in range(number + 1, min(number + MAX_CELL_LINES, len(lines)) + 1):
        line = lines[end - 1]
        if line is None or len(text) + len(line) + 1 > MAX_LINE_CHARS or _whole_row(line, needed):
            return None
        text = f"{text}\n{line}"
        try:
            row = _split(text)
        except csv.Error:
            continue
        return (row, end) if needed <= len(row) <= width else None
    return None


def _whole_row(line: str, needed: int) -> bool:
    try:
        return len(_split(line)) >= needed
    except csv.Error:
        return False


def _shown(line: str) -> str:
    return line if len(line) <= _SHOWN_CHARS else f"{line[:_SHOWN_CHARS]}… ({len(line)} characters)"


def read_table(body: bytes, locator: str) -> tuple[pl.DataFrame, list[QuarantinedRow], list[str]]:
    """All cells as stripped strings (empty -> null) plus ``_line`` and ``_ref``, the rows that could not be split,
    and the header's column names as the file gave them (before absent expected columns were added).

    Rows whose cells are all empty are separators, not matches, and are left out entirely."""
    lines, terminated = _decode_lines(body)
    if not lines or lines[0] is None or len(lines[0]) > MAX_LINE_CHARS:
        raise ValueError(f"{locator}: no readable header line")
    try:
        header = normalise_header(_split(lines[0]))
    except csv.Error as error:
        raise ValueError(f"{locator}: header line cannot be split ({error})") from error
    if "HomeTeam" not in header:
        header = [TEAM_COLUMN_ALIASES.get(name, name) for name in header]
    if "Div" not in header:
        raise ValueError(f"{locator}: not a football-data CSV (no Div column in the header)")
    div = header.index("Div")
    width = len(header)
    needed = max(i for i, name in enumerate(header) if not name.startswith("_blank")) + 1
    rows: list[list[str]] = []
    numbers: list[int] = []
    quarantined: list[QuarantinedRow] = []
    last = len(lines)
    number = 1  # the header is line 1
    while number < last:
        number += 1
        line = lines[number - 1]
        ref = f"{locator}#row{number}"

        def reject(record: object, reason: str, ref: str = ref) -> None:
            quarantined.append(QuarantinedRow.of(ref, record, reason))

        if line is None:
            reject("<undecodable bytes>", "line is neither UTF-8 nor Windows-1252 text")
            continue
        if len(line) > MAX_LINE_CHARS:
            reject(_shown(line), f"row of {len(line)} characters (at most {MAX_LINE_CHARS}): not a match row")
            continue
        try:
            row = _split(line)
        except csv.Error as error:
            joined = _quoted_line_breaks(line, lines, number, needed, width)
            if joined is None:
                if line.replace(",", "").replace('"', "").strip():
                    reject(_shown(line), f"unbalanced quotes: the row cannot be split into columns ({error})")
                continue
            row, end = joined
        else:
            end = number
        if not any(cell.strip() for cell in row):
            continue
        if len(row) <= div or not row[div].strip():
            reject(row, "missing Div: a row with data but no division code")
        elif len(row) > width and any(cell.strip() for cell in row[width:]):
            reject(row, f"row has {len(row)} fields but the header has {width}: columns cannot be matched")
        elif len(row) < needed and end == last and not terminated:
            reject(row, f"file ends inside this row ({len(row)} of {width} fields, no line break): truncated")
        elif len(row) < needed:
            reject(row, f"row has {len(row)} fields but the header has {width}: cut short")
        else:
            rows.append(row[:width] + [""] * (width - len(row)))
            numbers.append(number)
        number = end
    columns = {name: [row[i] for row in rows] for i, name in enumerate(header)}
    frame = pl.DataFrame(columns, schema=dict.fromkeys(header, pl.Utf8))
    frame = frame.select(
        pl.when(pl.col(name).str.strip_chars() != "").then(pl.col(name).str.strip_chars()).alias(name)
        for name in header
        if not name.startswith("_blank")
    )
    given = list(frame.columns)
    for required in EXPECTED_COLUMNS:
        if required not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.Utf8).alias(required))
    line_numbers = pl.Series("_line", numbers, dtype=pl.Int64)
    frame = frame.with_columns(line_numbers, pl.format("{}#row{}", pl.lit(locator), line_numbers).alias("_ref"))
    return frame, quarantined, given
