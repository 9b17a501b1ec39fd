"""All 107 real football-data files: every match stored or quarantined, known values read back, re-ingest is a no-op."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, Table, func, select

from betpipe.db.bulk import as_utc
from betpipe.db.schema import (
    bookmakers,
    change_log,
    competitions,
    events,
    odds_snapshots,
    quarantine,
    raw_payloads,
    results,
    team_aliases,
    teams,
)
from betpipe.ingest.football_data import ingest_football_data

pytestmark = [pytest.mark.shared_data, pytest.mark.slow]

TABLES: tuple[Table, ...] = (
    events,
    results,
    odds_snapshots,
    raw_payloads,
    quarantine,
    teams,
    team_aliases,
    change_log,
)

# The only bad cells in the shared set (checked by hand in the CSVs): bookmaker prices of 0 or below 1.
KNOWN_BAD_CELLS = {
    "D1/2019-2020.csv#row261:AvgC>2.5",  # written AvgC_2_5 in the file: 0.42
    "E0/2021-2022.csv#row168:B365C>2.5",  # 0.0
    "E0/2021-2022.csv#row168:B365C<2.5",  # 0.0
    "E1/2012-2013.csv#row532:B365H",  # 0
    "E1/2018-2019.csv#row348:B365H",  # 0
}

# (competition, kickoff UTC, home, away, score, Pinnacle closing H/D/A or None); looked up in the CSVs by hand.
PINNED = [
    # E0 2022-23, current revision, Time given (20:00 BST)
    ("E0", "2022-08-05 19:00", "Crystal Palace", "Arsenal", (0, 2), (4.58, 3.63, 1.88)),
    # E0 2019-20, byte-original, first season with Time, GMT date
    ("E0", "2019-11-02 12:30", "Bournemouth", "Man United", (1, 0), (3.67, 3.6, 2.11)),
    # E1 2016-17, byte-original, dd/mm/yy, CRLF, no Time (15:00 BST assumed)
    ("E1", "2016-08-06 14:00", "Huddersfield", "Brentford", (2, 1), (2.03, 3.65, 3.94)),
    # SP1 2013-14, pandas re-written, dd/mm/yy
    ("SP1", "2013-08-19 14:00", "Almeria", "Villarreal", (2, 3), (2.87, 3.33, 2.7)),
    # D1 2020-21, over/under header renamed; Time 14:30 is UK time (BST) -> 13:30 UTC
    ("D1", "2020-09-19 13:30", "Stuttgart", "Freiburg", (2, 3), (2.18, 3.88, 3.26)),
    # I1 2012-13, scores written 1.0/3.0, file ends with comma-only rows
    ("I1", "2012-09-01 14:00", "Bologna", "Milan", (1, 3), (4.34, 3.63, 1.94)),
    # F1 2005-06, no Pinnacle at all in that era
    ("F1", "2005-07-30 14:00", "Nantes", "Lens", (2, 0), None),
]


def manifest_matches(root: Path) -> int:
    with (root / "MANIFEST.csv").open(newline="") as handle:
        return sum(int(row["matches"]) for row in csv.DictReader(handle))


def table_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one()) for t in TABLES}


def test_every_shared_file_ingests_completely_correctly_and_idempotently(engine: Engine, shared_data: Path) -> None:
    root = shared_data / "football-data"
    # Speed is measured in bench/ (docs/benchmarks.md), never asserted here: CI shares a busy 2-core box.
    first = ingest_football_data(engine, [root])

    counts = table_counts(engine)
    with engine.connect() as conn:
        problems = conn.execute(select(quarantine.c.row_ref, quarantine.c.reason)).all()
    row_problems = [ref for ref, _ in problems if ":" not in ref.rsplit("#", 1)[-1]]
    assert first.files == 107
    assert first.rows_read == manifest_matches(root) == 42_151
    assert counts["events"] + len(row_problems) == manifest_matches(root)
    assert counts["events"] == 42_151
    assert counts["results"] == 42_151
    assert {ref for ref, _ in problems} == KNOWN_BAD_CELLS
    assert all("impossible price" in reason for _, reason in problems)
    assert counts["raw_payloads"] == 107
    assert counts["odds_snapshots"] == first.tables["odds"].inserted > 2_000_000

    for code, kickoff, home, away, score, pinnacle in PINNED:
        check_match(engine, code, kickoff, home, away, score, pinnacle)

    second = ingest_football_data(engine, [root])
    assert all(c.inserted == 0 and c.updated == 0 for c in second.tables.values()), second.tables
    assert second.tables["odds"].unchanged == counts["odds_snapshots"]
    assert table_counts(engine) == counts


def check_match(
    engine: Engine,
    code: str,
    kickoff: str,
    home: str,
    away: str,
    score: tuple[int, int],
    pinnacle: tuple[float, float, float] | None,
) -> None:
    home_team, away_team = teams.alias("home_team"), teams.alias("away_team")
    with engine.connect() as conn:
        found = conn.execute(
            select(events.c.id, events.c.kickoff_utc, results.c.home_score, results.c.away_score)
            .join(competitions, competitions.c.id == events.c.competition_id)
            .join(home_team, home_team.c.id == events.c.home_team_id)
            .join(away_team, away_team.c.id == events.c.away_team_id)
            .join(results, results.c.event_id == events.c.id)
            .where(competitions.c.code == code, home_team.c.name == home, away_team.c.name == away)
        ).all()
        wanted = datetime.fromisoformat(kickoff).replace(tzinfo=UTC)
        match = [row for row in found if as_utc(row.kickoff_utc) == wanted]
        assert len(match) == 1, (code, home, away, [as_utc(r.kickoff_utc) for r in found])
        event_id, _, home_score, away_score = match[0]
        assert (home_score, away_score) == score
        closing = dict(
            conn.execute(
                select(odds_snapshots.c.selection, odds_snapshots.c.price)
                .join(bookmakers, bookmakers.c.id == odds_snapshots.c.bookmaker_id)
                .where(
                    odds_snapshots.c.event_id == event_id,
                    bookmakers.c.key == "pinnacle",
                    odds_snapshots.c.market == "1x2",
                    odds_snapshots.c.kind == "closing",
                )
            ).all()
        )
    if pinnacle is None:
        assert closing == {}
    else:
        assert closing == dict(zip(("home", "draw", "away"), pinnacle, strict=True))
