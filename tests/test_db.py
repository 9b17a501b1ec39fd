"""The store: migrations, idempotent upserts with exact counts, change log, append-only raw payloads."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest
from sqlalchemy import Engine, func, select, text, update
from sqlalchemy.exc import DBAPIError

from betpipe.db import current_revision
from betpipe.db.schema import change_log, events, odds_snapshots, quarantine, raw_payloads, results
from betpipe.ingest.records import NormalisedBatch, QuarantinedRow
from betpipe.ingest.store import store_raw_payload, write_batch

KICKOFF = datetime(2023, 3, 4, 15, 0, tzinfo=UTC)


def _batch(price: float = 2.10, home_score: int = 2) -> NormalisedBatch:
    events_frame = pl.DataFrame(
        {
            "row_ref": ["r1", "r2"],
            "sport": ["soccer", "soccer"],
            "competition_code": ["E0", "E0"],
            "competition_name": ["Premier League", "Premier League"],
            "season": ["2022-2023", "2022-2023"],
            "kickoff_utc": [KICKOFF, KICKOFF],
            "kickoff_time_known": [True, True],
            "home_team": ["Arsenal", "Chelsea"],
            "away_team": ["Everton", "Fulham"],
            "status": ["finished", "finished"],
            "neutral_site": [False, False],
        }
    )
    results_frame = pl.DataFrame({"row_ref": ["r1", "r2"], "home_score": [home_score, 0], "away_score": [0, 1]})
    odds_frame = pl.DataFrame(
        {
            "row_ref": ["r1", "r1", "r1"],
            "bookmaker": ["pinnacle", "pinnacle", "market_max"],
            "market": ["1x2"] * 3,
            "selection": ["home", "draw", "home"],
            "line": [0.0, 0.0, 0.0],
            "price": [price, 3.4, 2.3],
            "kind": ["closing"] * 3,
            "captured_at": [KICKOFF] * 3,
        }
    )
    return NormalisedBatch(
        source="test",
        locator="unit",
        rows_read=3,
        events=events_frame,
        results=results_frame,
        odds=odds_frame,
        quarantined=[QuarantinedRow.of("r3", {"HomeTeam": ""}, "missing home team")],
    )


def _count(engine: Engine, table: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_migrations_reach_head(engine: Engine) -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from betpipe.db.engine import MIGRATIONS_DIR

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert current_revision(engine) == ScriptDirectory.from_config(config).get_current_head()


def test_rewriting_the_same_batch_changes_nothing(engine: Engine) -> None:
    with engine.begin() as conn:
        first = write_batch(conn, _batch(), raw_payload_id=None)
    with engine.begin() as conn:
        second = write_batch(conn, _batch(), raw_payload_id=None)
    assert first.tables["events"].inserted == 2
    assert first.tables["odds"].inserted == 3
    assert second.tables["events"].unchanged == 2
    assert second.tables["odds"].unchanged == 3
    assert second.tables["results"].unchanged == 2
    assert sum(c.inserted + c.updated for c in second.tables.values()) == 0
    assert _count(engine, events) == 2
    assert _count(engine, odds_snapshots) == 3
    assert _count(engine, quarantine) == 1
    assert _count(engine, change_log) == 0


def test_a_corrected_input_updates_and_is_recorded(engine: Engine) -> None:
    with engine.begin() as conn:
        write_batch(conn, _batch(), raw_payload_id=None)
    with engine.begin() as conn:
        report = write_batch(conn, _batch(price=2.15, home_score=3), raw_payload_id=None)
    assert report.tables["odds"].updated == 1
    assert report.tables["results"].updated == 1
    with engine.connect() as conn:
        price = conn.execute(
            select(odds_snapshots.c.price).where(odds_snapshots.c.selection == "home", odds_snapshots.c.price < 2.2)
        ).scalar_one()
        logged = conn.execute(select(change_log.c.table_name, change_log.c.old_values, change_log.c.new_values)).all()
        score = conn.execute(select(func.max(results.c.home_score))).scalar_one()
    assert price == pytest.approx(2.15)
    assert score == 3
    assert {row.table_name for row in logged} == {"odds_snapshots", "results"}
    odds_entry = next(row for row in logged if row.table_name == "odds_snapshots")
    assert odds_entry.old_values == {"price": 2.1}
    assert odds_entry.new_values == {"price": 2.15}


def test_unknown_teams_from_a_non_authoritative_source_are_quarantined(engine: Engine) -> None:
    with engine.begin() as conn:
        report = write_batch(conn, _batch(), raw_payload_id=None, create_teams=False)
    assert report.tables["events"].inserted == 0
    assert report.quarantined == 3
    with engine.connect() as conn:
        reasons = conn.execute(select(quarantine.c.reason)).scalars().all()
    assert any("unknown team 'Arsenal', 'Everton'" in reason for reason in reasons)


def test_raw_payloads_are_append_only_and_deduplicated(engine: Engine) -> None:
    with engine.begin() as conn:
        first = store_raw_payload(conn, "test", "a.csv", b"x,y\n1,2\n", "text/csv")
        again = store_raw_payload(conn, "test", "a.csv", b"x,y\n1,2\n", "text/csv")
        changed = store_raw_payload(conn, "test", "a.csv", b"x,y\n1,3\n", "text/csv")
    assert first == again != changed
    assert _count(engine, raw_payloads) == 2
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(update(raw_payloads).values(body=b"tampered"))
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(text("DELETE FROM raw_payloads"))
