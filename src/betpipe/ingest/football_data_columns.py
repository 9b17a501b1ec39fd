"""What each football-data.co.uk column means: header normalisation, odds-column classification, league names.

Pure lookups over header names, done once per file; it never reads cell values and never indexes columns by position
(the column set changes from season to season).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from betpipe.ingest.bookmakers import FOOTBALL_DATA_PREFIXES

COMPETITION_NAMES: dict[str, str] = {
    "E0": "England Premier League",
    "E1": "England Championship",
    "E2": "England League One",
    "E3": "England League Two",
    "EC": "England National League",
    "SC0": "Scotland Premiership",
    "SC1": "Scotland Championship",
    "SC2": "Scotland League One",
    "SC3": "Scotland League Two",
    "D1": "Germany Bundesliga",
    "D2": "Germany 2. Bundesliga",
    "SP1": "Spain La Liga",
    "SP2": "Spain Segunda Division",
    "I1": "Italy Serie A",
    "I2": "Italy Serie B",
    "F1": "France Ligue 1",
    "F2": "France Ligue 2",
    "N1": "Netherlands Eredivisie",
    "B1": "Belgium First Division A",
    "P1": "Portugal Primeira Liga",
    "T1": "Turkey Super Lig",
    "G1": "Greece Super League",
}

# football-data column -> results column; scores are validated separately from the other statistics.
SCORE_COLUMNS = {"FTHG": "home_score", "FTAG": "away_score"}
STAT_COLUMNS: dict[str, str] = {
    "HTHG": "ht_home_score",
    "HTAG": "ht_away_score",
    "HS": "home_shots",
    "AS": "away_shots",
    "HST": "home_shots_on_target",
    "AST": "away_shots_on_target",
    "HC": "home_corners",
    "AC": "away_corners",
    "HF": "home_fouls",
    "AF": "away_fouls",
    "HY": "home_yellow",
    "AY": "away_yellow",
    "HR": "home_red",
    "AR": "away_red",
}

# Handicap line columns (home side's handicap) for each odds kind, in order of preference.
AH_LINE_COLUMNS: dict[str, tuple[str, ...]] = {"opening": ("AHh", "BbAHh"), "closing": ("AHCh",)}

_ONE_X_TWO_SELECTIONS = {"H": "home", "D": "draw", "A": "away"}
_OVER_UNDER_SELECTIONS = {">2.5": "over", "<2.5": "under"}
_AH_SELECTIONS = {"H": "home", "A": "away"}


def _alternation(prefixes: list[str]) -> str:
    # Longest first so that "BbMx" wins over a shorter prefix sharing its start.
    return "|".join(re.escape(p) for p in sorted(prefixes, key=len, reverse=True))


# "P" alone is Pinnacle's prefix only in the over/under and Asian handicap columns; 1X2 uses "PS".
_PREFIXES_1X2 = _alternation([p for p in FOOTBALL_DATA_PREFIXES if p != "P"])
_PREFIXES_OTHER = _alternation([p for p in FOOTBALL_DATA_PREFIXES if p != "PS"])
_RE_1X2 = re.compile(rf"^({_PREFIXES_1X2})(C?)([HDA])$")
_RE_OVER_UNDER = re.compile(rf"^({_PREFIXES_OTHER})(C?)([<>]2\.5)$")
_RE_ASIAN = re.compile(rf"^({_PREFIXES_OTHER})(C?)AH([HA])$")
_RE_RENAMED_UNDER = re.compile(r"^(.*)_2_5_1$")
_RE_RENAMED_OVER = re.compile(r"^(.*)_2_5$")


@dataclass(frozen=True)
class OddsColumn:
    """One price column: which book, market, selection and kind it holds; AH lines come from another column."""

    column: str
    bookmaker: str
    market: str
    selection: str
    kind: str
    line: float  # fixed line (0 for 1x2, 2.5 for the totals); ignored for asian_handicap


def normalise_header(names: list[str]) -> list[str]:
    """One spelling per column: ``X_2_5``/``X_2_5_1`` become ``X>2.5``/``X<2.5``; blank and repeated names get
    placeholders (``_blank3``, ``HS#2``) so that nothing is addressed by position and no column overwrites another."""
    result: list[str] = []
    seen: set[str] = set()
    for index, raw in enumerate(names):
        name = raw.strip().lstrip("\ufeff")
        if not name:
            name = f"_blank{index}"
        elif under := _RE_RENAMED_UNDER.match(name):
            name = f"{under.group(1)}<2.5"
        elif over := _RE_RENAMED_OVER.match(name):
            name = f"{over.group(1)}>2.5"
        if name in seen:
            name = f"{name}#{index}"
        seen.add(name)
        result.append(name)
    return result


def classify_odds_column(name: str) -> OddsColumn | None:
    """The odds a (normalised) column holds, or None for every non-price column (counts, lines, stats)."""
    if match := _RE_1X2.match(name):
        prefix, closing, code = match.groups()
        market, selection, line = "1x2", _ONE_X_TWO_SELECTIONS[code], 0.0
    elif match := _RE_OVER_UNDER.match(name):
        prefix, closing, code = match.groups()
        market, selection, line = "total", _OVER_UNDER_SELECTIONS[code], 2.5
    elif match := _RE_ASIAN.match(name):
        prefix, closing, code = match.groups()
        market, selection, line = "asian_handicap", _AH_SELECTIONS[code], 0.0
    else:
        return None
    return OddsColumn(
        column=name,
        bookmaker=FOOTBALL_DATA_PREFIXES[prefix],
        market=market,
        selection=selection,
        kind="closing" if closing else "opening",
        line=line,
    )


def odds_columns(names: list[str]) -> list[OddsColumn]:
    return [found for name in names if (found := classify_odds_column(name)) is not None]


def competition_name(code: str) -> str:
    return COMPETITION_NAMES.get(code, code)
