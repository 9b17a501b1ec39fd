"""Malformed football-data and nflverse inputs for the fault matrix, each made from a small good file built here.

Nothing is read from ../shared: every case starts from ``football_rows``/``nfl_rows`` and breaks one thing. A case
says how many input rows it holds, how many of them must end as events and which outcome the fault must have.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

FD_HEADER = (
    "Div,Date,Time,HomeTeam,AwayTeam,FTHG,FTAG,HTHG,HTAG,HS,AS,B365H,B365D,B365A,PSCH,PSCD,PSCA,AHh,B365AHH,B365AHA"
)
FD_WIDTH = len(FD_HEADER.split(","))
TEAMS = [f"Team {chr(65 + i)}" for i in range(20)]


def football_rows(n: int = 20, *, div: str = "E0", start: date = date(2022, 8, 6)) -> list[list[str]]:
    """``n`` distinct finished matches of one season, one every three days, every cell plausible."""
    rows = []
    for i in range(n):
        home, away = TEAMS[i % 20], TEAMS[(i * 7 + 3 + i // 20) % 20]
        if home == away:
            away = TEAMS[(i + 1) % 20]
        day = start + timedelta(days=3 * i)
        goals = (i % 4, (i * 3) % 5)
        rows.append(
            [
                div,
                day.strftime("%d/%m/%Y"),
                "15:00",
                home,
                away,
                str(goals[0]),
                str(goals[1]),
                str(min(goals[0], 1)),
                str(min(goals[1], 1)),
                "12",
                "9",
                "2.10",
                "3.40",
                "3.60",
                "2.05",
                "3.50",
                "3.70",
                "-0.25",
                "1.95",
                "1.93",
            ]
        )
    return rows


def football_csv(
    rows: list[list[str]], *, header: str = FD_HEADER, newline: str = "\n", terminated: bool = True
) -> bytes:
    text = newline.join([header, *(",".join(row) for row in rows)])
    return (text + (newline if terminated else "")).encode()


def with_cell(rows: list[list[str]], index: int, column: str, value: str) -> list[list[str]]:
    """A copy of ``rows`` with one cell replaced (column by header name)."""
    position = FD_HEADER.split(",").index(column)
    changed = [list(row) for row in rows]
    changed[index][position] = value
    return changed


NFL_HEADER = (
    "game_id,season,game_type,week,gameday,gametime,away_team,away_score,home_team,home_score,location,overtime,"
    "away_moneyline,home_moneyline,spread_line,away_spread_odds,home_spread_odds,total_line,under_odds,over_odds"
)
NFL_TEAMS = ["ARI", "ATL", "BAL", "BUF", "CAR", "CHI", "CIN", "CLE", "DAL", "DEN", "DET", "GB", "HOU", "IND"]


def nfl_rows(n: int = 12) -> list[dict[str, str]]:
    """``n`` distinct finished 2022 games with consensus lines."""
    rows = []
    for i in range(n):
        home, away = NFL_TEAMS[i % 14], NFL_TEAMS[(i + 5) % 14]
        day = date(2022, 9, 11) + timedelta(days=7 * (i // 7))
        rows.append(
            {
                "game_id": f"2022_{i:02d}_{away}_{home}",
                "season": "2022",
                "game_type": "REG",
                "week": str(1 + i // 7),
                "gameday": day.isoformat(),
                "gametime": "13:00",
                "away_team": away,
                "away_score": str(10 + i),
                "home_team": home,
                "home_score": str(20 + i % 9),
                "location": "Home",
                "overtime": "0",
                "away_moneyline": "150",
                "home_moneyline": "-170",
                "spread_line": "3.5",
                "away_spread_odds": "-110",
                "home_spread_odds": "-110",
                "total_line": "44.5",
                "under_odds": "-110",
                "over_odds": "-110",
            }
        )
    return rows


def nfl_csv(rows: list[dict[str, str]], *, header: str = NFL_HEADER) -> bytes:
    names = header.split(",")
    lines = [header, *(",".join(row.get(name, "") for name in names) for row in rows)]
    return ("\n".join(lines) + "\n").encode()


def nfl_with(rows: list[dict[str, str]], index: int, **cells: str) -> list[dict[str, str]]:
    changed = [dict(row) for row in rows]
    changed[index].update(cells)
    return changed


@dataclass(frozen=True)
class Case:
    """One fault. ``files`` are ingested in order as (locator, bytes); ``rows`` counts the input rows of the last
    file (0 when the file as a whole is refused) and ``events`` how many of them must land; ``check`` runs extra
    SQL assertions. Outcomes: quarantined, corrected, refused, stored (read correctly, nothing to quarantine)."""

    fault_class: str
    name: str
    source: str
    files: tuple[tuple[str, bytes], ...]
    rows: int
    events: int
    outcome: str
    reason: str = ""  # a fragment every quarantine reason or run message of the case must show
    check: Callable[..., None] | None = field(default=None, compare=False)


def _fd(fault_class: str, name: str, body: bytes, rows: int, events: int, outcome: str, reason: str = "") -> Case:
    return Case(fault_class, name, "football-data", (("E0/2022-2023.csv", body),), rows, events, outcome, reason)


def _nv(fault_class: str, name: str, body: bytes, rows: int, events: int, outcome: str, reason: str = "") -> Case:
    return Case(fault_class, name, "nflverse", (("games.csv", body),), rows, events, outcome, reason)


def _football_cases() -> list[Case]:
    good = football_rows()
    n = len(good)
    long_rows = football_rows(380)
    quote = [list(r) for r in long_rows]
    quote[369][3] = '"Team Q'
    truncated = football_csv(good).rstrip(b"\n")
    truncated = truncated[: truncated.rindex(b"3.70") + 3]  # 3.70 -> 3.7 and the rest of the row gone
    cp1252_row = ["SP1", "01/09/2022", "20:00", "Cádiz", "Betis", *good[0][5:]]
    mixed = football_csv(with_cell(good, 0, "HomeTeam", "Málaga")) + f"{','.join(cp1252_row)}\n".encode("cp1252")
    no_scores = football_csv([row[:5] + row[7:] for row in good], header=FD_HEADER.replace("FTHG,FTAG,", ""))
    extra = [*good[:3], [*good[3], "oops"], *good[4:]]
    short = [*good[:3], good[3][:8], *good[4:]]
    no_div = [*good[:3], ["", *good[3][1:]], *good[4:]]
    referees = [[*row, '"Mike\nDean"' if i == 3 else "A Ref"] for i, row in enumerate(good)]
    return [
        _fd(
            "encoding",
            "a byte neither UTF-8 nor cp1252 in one row",
            football_csv(good).replace(b"Team C,", b"Team \x81C,", 1),
            n,
            n - 1,
            "quarantined",
            "neither UTF-8",
        ),
        _fd("encoding", "one cp1252 row in a UTF-8 file", mixed, n + 1, n + 1, "stored"),
        _fd(
            "encoding",
            "UTF-16 with a byte-order mark",
            codecs.BOM_UTF16_LE + football_csv(good).decode().encode("utf-16-le"),
            n,
            n,
            "stored",
        ),
        _fd(
            "encoding",
            "UTF-8 BOM and CRLF line ends",
            codecs.BOM_UTF8 + football_csv(good, newline="\r\n"),
            n,
            n,
            "stored",
        ),
        _fd(
            "encoding",
            "NUL inside a team name",
            football_csv(with_cell(good, 2, "AwayTeam", "Team\x00X")),
            n,
            n - 1,
            "quarantined",
            "control characters",
        ),
        _fd("encoding", "gzip bytes instead of text", b"\x1f\x8b\x08\x00" + bytes(range(256)) * 4, 0, 0, "refused"),
        _fd(
            "structure",
            "unbalanced quote near the end (380 rows)",
            football_csv(quote),
            380,
            379,
            "quarantined",
            "unbalanced quotes",
        ),
        _fd("structure", "truncated last row (4.75 would become 4.7)", truncated, n, n - 1, "quarantined", "truncated"),
        _fd(
            "structure",
            "no FTHG and FTAG columns, matches long past",
            no_scores,
            n,
            0,
            "quarantined",
            "no FTHG/FTAG column",
        ),
        _fd(
            "structure",
            "a row with extra filled fields",
            football_csv(extra),
            n,
            n - 1,
            "quarantined",
            "cannot be matched",
        ),
        _fd(
            "structure",
            "a row cut short in the middle of the file",
            football_csv(short),
            n,
            n - 1,
            "quarantined",
            "cut short",
        ),
        _fd("structure", "a data row without Div", football_csv(no_div), n, n - 1, "quarantined", "missing Div"),
        _fd(
            "structure",
            "a quoted line break inside a cell (RFC 4180)",
            football_csv(referees, header=f"{FD_HEADER},Referee"),
            n,
            n,
            "stored",
        ),
        _fd("structure", "no Div column: not football-data", b"a,b\n1,2\n", 0, 0, "refused", "no Div column"),
        _fd("structure", "an empty file", b"", 0, 0, "refused", "not a football-data CSV"),
        _fd(
            "size",
            "a 5 MB line (field over 128 KiB)",
            football_csv([*good[:5], [good[5][0], good[5][1], "15:00", "X" * 5_000_000, *good[5][4:]], *good[6:]]),
            n,
            n - 1,
            "quarantined",
            "characters (at most",
        ),
        _fd(
            "size",
            "a 300-character team name",
            football_csv(with_cell(good, 1, "HomeTeam", "Y" * 300)),
            n,
            n - 1,
            "quarantined",
            "300 characters",
        ),
        _fd(
            "values",
            "odds of 1e9",
            football_csv(with_cell(good, 0, "B365H", "1000000000")),
            n,
            n,
            "quarantined",
            "implausible price",
        ),
        _fd(
            "values",
            "odds of 1e308",
            football_csv(with_cell(good, 0, "PSCH", "1e308")),
            n,
            n,
            "quarantined",
            "plain decimal",
        ),
        _fd(
            "values",
            "odds written 1e2",
            football_csv(with_cell(good, 0, "B365D", "1e2")),
            n,
            n,
            "quarantined",
            "plain decimal",
        ),
        _fd(
            "values",
            "a score of 999",
            football_csv(with_cell(good, 4, "FTHG", "999")),
            n,
            n - 1,
            "quarantined",
            "impossible score",
        ),
        _fd(
            "values",
            "a score written 1e2",
            football_csv(with_cell(good, 4, "FTAG", "1e2")),
            n,
            n - 1,
            "quarantined",
            "impossible score",
        ),
        _fd(
            "values",
            "an Asian handicap line of 1e308",
            football_csv(with_cell(good, 6, "AHh", "1e308")),
            n,
            n,
            "quarantined",
            "handicap line",
        ),
        _fd(
            "values",
            "a date in the year 2999",
            football_csv(with_cell(good, 7, "Date", "13/08/2999")),
            n,
            n - 1,
            "quarantined",
            "implausible Date",
        ),
        _fd(
            "values",
            "500 shots",
            football_csv(with_cell(good, 8, "HS", "500")),
            n,
            n,
            "quarantined",
            "not a whole number",
        ),
        _fd(
            "values",
            "half-time goals above full-time",
            football_csv(with_cell(good, 9, "HTHG", "5")),
            n,
            n,
            "quarantined",
            "above the full-time",
        ),
        _fd(
            "duplicates",
            "the same match twice in one file",
            football_csv([*good, good[3]]),
            n + 1,
            n,
            "quarantined",
            "duplicate fixture",
        ),
    ]


def _nfl_cases() -> list[Case]:
    good = nfl_rows()
    n = len(good)
    changed_copy = nfl_with(good, 4, home_score="99")
    whole = nfl_csv(good)
    cut = whole[: whole.rindex(b",Home,") - 1]  # the last game's home_score 28 -> 2, the rest of the file gone
    return [
        _nv(
            "encoding",
            "NUL in a team code",
            nfl_csv(nfl_with(good, 1, home_team="D\x00L")),
            n,
            n - 1,
            "quarantined",
            "unknown team code",
        ),
        _nv(
            "encoding",
            "invalid UTF-8 in a team code",
            nfl_csv(good).replace(b",ATL,", b",A\xffL,", 1),
            n,
            n - 1,
            "quarantined",
            "unknown team code",
        ),
        _nv(
            "structure",
            "missing required columns",
            b"season,gameday\n2022,2022-09-11\n",
            0,
            0,
            "refused",
            "missing column",
        ),
        _nv("structure", "truncated last row (28 would become 2)", cut, n, n - 1, "quarantined", "truncated"),
        _nv(
            "structure",
            "an empty gameday",
            nfl_csv(nfl_with(good, 2, gameday="")),
            n,
            n - 1,
            "quarantined",
            "unparseable gameday",
        ),
        _nv(
            "structure",
            "an empty season",
            nfl_csv(nfl_with(good, 3, season="")),
            n,
            n - 1,
            "quarantined",
            "unparseable season",
        ),
        _nv(
            "structure",
            "a row with more fields than the header",
            nfl_csv(good) + b"x,2022,REG,1,2022-09-11,13:00,ARI,1,ATL,2,Home,0,1,2,3,4,5,6,7,8,9,10\n",
            0,
            0,
            "refused",
            "more fields",
        ),
        _nv(
            "size",
            "a 300-character team code",
            nfl_csv(nfl_with(good, 0, away_team="Q" * 300)),
            n,
            n - 1,
            "quarantined",
            "unknown team code",
        ),
        _nv(
            "values",
            "a score of 999",
            nfl_csv(nfl_with(good, 5, home_score="999")),
            n,
            n - 1,
            "quarantined",
            "impossible score",
        ),
        _nv(
            "values",
            "a score written 1e2",
            nfl_csv(nfl_with(good, 5, away_score="1e2")),
            n,
            n - 1,
            "quarantined",
            "impossible score",
        ),
        _nv(
            "values",
            "a moneyline of 1e9",
            nfl_csv(nfl_with(good, 6, home_moneyline="1000000000")),
            n,
            n,
            "quarantined",
            "not valid American odds",
        ),
        _nv(
            "values",
            "a moneyline of 1e308",
            nfl_csv(nfl_with(good, 6, away_moneyline="1e308")),
            n,
            n,
            "quarantined",
            "not valid American odds",
        ),
        _nv(
            "values",
            "an unknown team code",
            nfl_csv(nfl_with(good, 7, home_team="XYZ")),
            n,
            n - 1,
            "quarantined",
            "unknown team code",
        ),
        _nv(
            "values",
            "a gameday outside its season",
            nfl_csv(nfl_with(good, 8, gameday="2030-09-11")),
            n,
            n - 1,
            "quarantined",
            "not in season",
        ),
        _nv(
            "values",
            "a total line of 1e9",
            nfl_csv(nfl_with(good, 9, total_line="1e9")),
            n,
            n,
            "quarantined",
            "without a valid line",
        ),
        _nv(
            "duplicates",
            "a game_id twice with different data",
            nfl_csv([*good, changed_copy[4]]),
            n + 1,
            n - 1,
            "quarantined",
            "different data",
        ),
        _nv(
            "duplicates",
            "an exact duplicate row",
            nfl_csv([*good, good[4]]),
            n + 1,
            n,
            "quarantined",
            "exact duplicate",
        ),
    ]


def cases() -> list[Case]:
    return _football_cases() + _nfl_cases()


def correction_inputs() -> dict[str, tuple[str, bytes, bytes]]:
    """(source, original, corrected) per correction case: the second file fixes one fact of the first."""
    fd, nv = football_rows(), nfl_rows()
    return {
        "football-data date moved in a later file": (
            "football-data",
            football_csv(fd),
            football_csv(with_cell(fd, 5, "Date", "03/09/2022")),
        ),
        "football-data score corrected in a later file": (
            "football-data",
            football_csv(fd),
            football_csv(with_cell(fd, 2, "FTHG", "3")),
        ),
        "nflverse gameday moved in a later file": (
            "nflverse",
            nfl_csv(nv),
            nfl_csv(nfl_with(nv, 3, gameday="2022-09-12")),
        ),
        "nflverse same file twice": ("nflverse", nfl_csv(nv), nfl_csv(nv)),
        "football-data same file twice": ("football-data", football_csv(fd), football_csv(fd)),
    }
