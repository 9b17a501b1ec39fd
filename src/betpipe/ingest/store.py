"""Writes a ``NormalisedBatch`` to the store: raw payload, reference data, events, results, odds, quarantine.

Everything for one batch happens in the caller's transaction, so a file lands whole or not at all. Every write is an
upsert on a natural key, so re-running the same input changes nothing. Team names are resolved through aliases;
sources that are not authoritative for team lists (live feeds) quarantine unknown names instead of inventing teams.
A fixture the source already gave under the same id but on another date is corrected in place (logged), never
stored twice. Writers of one database take turns (a PostgreSQL advisory lock; SQLite's own write lock), so
concurrent ingests of the same input cannot trip over each other's unique keys. It never reads the machine clock:
the caller passes a ``Clock``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import polars as pl
from sqlalchemy import Connection, Engine, insert, select, text
from sqlalchemy.exc import DataError, IntegrityError

from betpipe.clock import SYSTEM_CLOCK, Clock
from betpipe.db.bulk import UpsertCounts, upsert
from betpipe.db.schema import (
    bookmakers,
    competitions,
    event_refs,
    events,
    odds_snapshots,
    results,
    seasons,
    team_aliases,
    teams,
)
from betpipe.ingest.bookmakers import bookmaker_info
from betpipe.ingest.corrections import correct_moved_events
from betpipe.ingest.records import RESULT_STAT_COLUMNS, NormalisedBatch, QuarantinedRow
from betpipe.ingest.runs import (
    IngestReport,
    finish_run,
    one_line,
    quarantine_rows,
    start_run,
    store_raw_payload,
)
from betpipe.ingest.teams import team_name_problem
from betpipe.logs import get_logger

__all__ = [
    "IngestReport",
    "Reader",
    "Resolver",
    "finish_run",
    "ingest_payload",
    "natural_key",
    "quarantine_rows",
    "record_unreadable",
    "start_run",
    "store_raw_payload",
    "write_batch",
]

log = get_logger(__name__)

EVENT_VALUE_COLUMNS = (
    "sport",
    "competition_id",
    "season_id",
    "kickoff_utc",
    "kickoff_time_known",
    "home_team_id",
    "away_team_id",
    "status",
    "neutral_site",
    "attributes",
    "source",
)
RESULT_VALUE_COLUMNS = ("home_score", "away_score", *RESULT_STAT_COLUMNS, "overtime", "source")
ODDS_KEY_COLUMNS = ("event_id", "bookmaker_id", "market", "selection", "line", "kind", "captured_at")
# Column widths the writer checks before sending (schema.py): a longer value is the row's fault, not the file's.
_TEXT_LIMITS = {"competition_code": 64, "competition_name": 200, "season": 32, "external_id": 200}
# One key for every ingest writer: they take turns on PostgreSQL (pg_advisory_xact_lock, released at commit).
INGEST_LOCK_KEY = 0x62657470_696E6765  # "betpinge"


class Resolver:
    """Looks up (and, where allowed, creates) competitions, seasons, teams and bookmakers by name."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._competitions: dict[tuple[str, str], int] = {}
        self._seasons: dict[tuple[int, str], int] = {}
        self._bookmakers: dict[str, int] = {}
        self._aliases: dict[tuple[str, str], int] = {
            (row.sport, row.alias): int(row.team_id)
            for row in conn.execute(select(team_aliases.c.sport, team_aliases.c.alias, team_aliases.c.team_id))
        }

    def competition(self, sport: str, code: str, name: str) -> int:
        key = (sport, code)
        if key not in self._competitions:
            found = self.conn.execute(
                select(competitions.c.id).where(competitions.c.sport == sport, competitions.c.code == code)
            ).scalar()
            if found is None:
                found = self.conn.execute(
                    insert(competitions).values(sport=sport, code=code, name=name)
                ).inserted_primary_key[0]  # type: ignore[index]
            self._competitions[key] = int(found)
        return self._competitions[key]

    def season(self, competition_id: int, name: str) -> int:
        key = (competition_id, name)
        if key not in self._seasons:
            found = self.conn.execute(
                select(seasons.c.id).where(seasons.c.competition_id == competition_id, seasons.c.name == name)
            ).scalar()
            if found is None:
                found = self.conn.execute(
                    insert(seasons).values(competition_id=competition_id, name=name)
                ).inserted_primary_key[0]  # type: ignore[index]
            self._seasons[key] = int(found)
        return self._seasons[key]

    def team(self, sport: str, name: str, *, create: bool, source: str) -> int | None:
        """The team an alias names; unknown names create a team only for authoritative sources."""
        key = (sport, name)
        if key in self._aliases:
            return self._aliases[key]
        if not create:
            return None
        team_id = self.conn.execute(select(teams.c.id).where(teams.c.sport == sport, teams.c.name == name)).scalar()
        if team_id is None:
            team_id = self.conn.execute(insert(teams).values(sport=sport, name=name)).inserted_primary_key[0]  # type: ignore[index]
        self.conn.execute(insert(team_aliases).values(sport=sport, alias=name, team_id=team_id, source=source))
        self._aliases[key] = int(team_id)
        return int(team_id)

    def bookmaker(self, key: str) -> int:
        if key not in self._bookmakers:
            found = self.conn.execute(select(bookmakers.c.id).where(bookmakers.c.key == key)).scalar()
            if found is None:
                name, is_aggregate = bookmaker_info(key)
                found = self.conn.execute(
                    insert(bookmakers).values(key=key, name=name, is_aggregate=is_aggregate)
                ).inserted_primary_key[0]  # type: ignore[index]
            self._bookmakers[key] = int(found)
        return self._bookmakers[key]


def natural_key(competition_code: str, kickoff: datetime, home_team_id: int, away_team_id: int) -> str:
    """One fixture, whichever source reports it: competition, UTC kickoff date and the two teams."""
    return f"{competition_code}:{kickoff.date().isoformat()}:{home_team_id}:{away_team_id}"


def _event_row_problem(row: dict[str, Any]) -> str | None:
    """Why the writer cannot store this event row at all (the readers should have caught it; this is the net)."""
    if row["kickoff_utc"] is None:
        return "no kickoff instant"
    for name, limit in _TEXT_LIMITS.items():
        value = row[name]
        if value is not None and (len(value) > limit or "\x00" in value):
            return f"{name} longer than {limit} characters or holding NUL"
    for side in ("home_team", "away_team"):
        if problem := team_name_problem(row[side]):
            return f"{side}: {problem}"
    return None


def write_batch(
    conn: Connection,
    batch: NormalisedBatch,
    *,
    raw_payload_id: int | None,
    create_teams: bool = True,
    update_events: bool = True,
    clock: Clock = SYSTEM_CLOCK,
) -> IngestReport:
    """Store a batch; returns counts per table. Unknown teams and duplicate fixtures go to quarantine."""
    resolver = Resolver(conn)
    quarantined = list(batch.quarantined)
    event_rows: list[tuple[object, ...]] = []
    row_keys: dict[str, str] = {}
    seen: dict[str, str] = {}
    seen_ids: dict[str, str] = {}
    refs: list[tuple[str, str, str]] = []
    for row in batch.events.iter_rows(named=True):
        if problem := _event_row_problem(row):
            quarantined.append(QuarantinedRow.of(row["row_ref"], row, problem))
            continue
        sport = row["sport"]
        external_id = row["external_id"]
        if external_id and external_id in seen_ids:
            reason = f"duplicate source id {external_id!r}: also row {seen_ids[external_id]}"
            quarantined.append(QuarantinedRow.of(row["row_ref"], row, reason))
            continue
        competition_id = resolver.competition(sport, row["competition_code"], row["competition_name"])
        season_id = resolver.season(competition_id, row["season"]) if row["season"] else None
        home = resolver.team(sport, row["home_team"], create=create_teams, source=batch.source)
        away = resolver.team(sport, row["away_team"], create=create_teams, source=batch.source)
        if home is None or away is None:
            unknown = [n for n, t in ((row["home_team"], home), (row["away_team"], away)) if t is None]
            reason = f"unknown team {', '.join(repr(n) for n in unknown)} in {sport}: add an alias"
            quarantined.append(QuarantinedRow.of(row["row_ref"], row, reason))
            continue
        key = natural_key(row["competition_code"], row["kickoff_utc"], home, away)
        if key in seen:
            reason = f"duplicate fixture: same teams and date as row {seen[key]}"
            quarantined.append(QuarantinedRow.of(row["row_ref"], row, reason))
            continue
        seen[key] = row["row_ref"]
        row_keys[row["row_ref"]] = key
        if external_id:
            seen_ids[external_id] = row["row_ref"]
            refs.append((batch.source, external_id, key))
        event_rows.append(
            (
                key,
                sport,
                competition_id,
                season_id,
                row["kickoff_utc"],
                bool(row["kickoff_time_known"]),
                home,
                away,
                row["status"],
                bool(row["neutral_site"]),
                json.loads(row["attributes"]) if row["attributes"] else None,
                batch.source,
            )
        )

    report = IngestReport(source=batch.source, rows_read=batch.rows_read, files=1)
    if not update_events:
        existing = set(
            conn.execute(
                select(events.c.natural_key).where(events.c.natural_key.in_([r[0] for r in event_rows]))
            ).scalars()
        )
        event_rows = [r for r in event_rows if r[0] not in existing]
    moved = 0
    if update_events:  # a source that may not update events may not move them either
        by_key = {str(r[0]): r for r in event_rows}
        moved = correct_moved_events(
            conn, batch.source, refs, by_key, ("natural_key", *EVENT_VALUE_COLUMNS), clock=clock
        )
    counts = upsert(conn, events, event_rows, ("natural_key",), EVENT_VALUE_COLUMNS, source=batch.source, clock=clock)
    if moved:  # the correction already wrote those rows; count them as updated, not as unchanged
        counts = UpsertCounts(counts.inserted, counts.updated + moved, counts.unchanged - moved)
    event_ids: dict[str, int] = {
        key: int(event_id)
        for key, event_id in conn.execute(
            select(events.c.natural_key, events.c.id).where(events.c.natural_key.in_(list(row_keys.values())))
        )
    }
    report.tables["events"] = counts
    ref_rows = [(source, ext, event_ids[key]) for source, ext, key in refs if key in event_ids]
    upsert(conn, event_refs, ref_rows, ("source", "external_id"), ("event_id",), source=batch.source, clock=clock)

    ref_to_id = {ref: event_ids[key] for ref, key in row_keys.items() if key in event_ids}
    report.tables["results"] = _write_results(conn, batch, ref_to_id, clock)
    report.tables["odds"] = _write_odds(conn, batch, ref_to_id, resolver, quarantined, clock)
    report.quarantined = quarantine_rows(conn, batch.source, batch.locator, quarantined, raw_payload_id, clock=clock)
    return report


def _with_event_ids(frame: pl.DataFrame, ref_to_id: dict[str, int]) -> pl.DataFrame:
    mapping = pl.DataFrame(
        {"row_ref": list(ref_to_id.keys()), "event_id": list(ref_to_id.values())},
        schema={"row_ref": pl.Utf8, "event_id": pl.Int64},
    )
    return frame.join(mapping, on="row_ref", how="inner")


def _write_results(conn: Connection, batch: NormalisedBatch, ref_to_id: dict[str, int], clock: Clock) -> UpsertCounts:
    frame = _with_event_ids(batch.results, ref_to_id).with_columns(pl.lit(batch.source).alias("source"))
    rows = frame.select("event_id", *RESULT_VALUE_COLUMNS).rows()
    return upsert(conn, results, rows, ("event_id",), RESULT_VALUE_COLUMNS, source=batch.source, clock=clock)


def _write_odds(
    conn: Connection,
    batch: NormalisedBatch,
    ref_to_id: dict[str, int],
    resolver: Resolver,
    quarantined: list[QuarantinedRow],
    clock: Clock,
) -> UpsertCounts:
    if batch.odds.is_empty():
        return UpsertCounts()
    book_ids = {key: resolver.bookmaker(key) for key in batch.odds["bookmaker"].unique().to_list()}
    frame = _with_event_ids(batch.odds, ref_to_id).with_columns(
        pl.col("bookmaker").replace_strict(book_ids, return_dtype=pl.Int64).alias("bookmaker_id"),
        pl.lit(batch.source).alias("source"),
    )
    duplicated = frame.filter(pl.struct(ODDS_KEY_COLUMNS).is_duplicated())
    if not duplicated.is_empty():
        # Two prices for one key within one input: keep neither silently; keep the first and record the rest.
        for row in duplicated.filter(pl.struct(ODDS_KEY_COLUMNS).is_first_distinct().not_()).iter_rows(named=True):
            ref = f"{row['row_ref']}:{row['bookmaker']}:{row['market']}:{row['selection']}:{row['kind']}"
            quarantined.append(QuarantinedRow.of(ref, row, "duplicate odds for the same key; first kept"))
        frame = frame.unique(subset=list(ODDS_KEY_COLUMNS), keep="first", maintain_order=True)
    rows = frame.select(*ODDS_KEY_COLUMNS, "price", "source").rows()
    return upsert(conn, odds_snapshots, rows, ODDS_KEY_COLUMNS, ("price", "source"), source=batch.source, clock=clock)


Reader = Callable[[bytes, str], NormalisedBatch]


def _take_writer_turn(conn: Connection) -> None:
    """Wait for other ingest writers of this database to commit (PostgreSQL); SQLite serialises writers itself,
    provided the transaction's first statement is a write (``start_run``)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": INGEST_LOCK_KEY})


def record_unreadable(
    engine: Engine,
    *,
    source: str,
    locator: str,
    reason: str,
    body: bytes | None = None,
    content_type: str = "application/octet-stream",
    clock: Clock = SYSTEM_CLOCK,
) -> IngestReport:
    """A payload that could not be read or stored: keep its bytes (when there are any), quarantine it as one record
    with ``reason`` and close a failed run, all in a fresh transaction. The caller goes on with the next payload."""
    reason = one_line(reason)
    with engine.begin() as conn:
        run_id = start_run(conn, source, locator, clock=clock)
        _take_writer_turn(conn)
        raw_id = store_raw_payload(conn, source, locator, body, content_type, clock=clock) if body else None
        record = QuarantinedRow.of("<payload>", locator, reason)
        quarantine_rows(conn, source, locator, [record], raw_id, clock=clock)
        report = IngestReport(source=source, files=1, quarantined=1)
        finish_run(conn, run_id, report, error=reason, clock=clock)
    log.warning("payload quarantined", source=source, locator=locator, reason=reason)
    return report


def ingest_payload(
    engine: Engine,
    *,
    source: str,
    locator: str,
    body: bytes,
    content_type: str,
    reader: Reader,
    create_teams: bool = True,
    update_events: bool = True,
    clock: Clock = SYSTEM_CLOCK,
) -> IngestReport:
    """Store the raw bytes, parse them with ``reader(body, locator)`` and write the batch, in one transaction.

    A payload the reader cannot parse at all, or that the database refuses, is kept (raw) and quarantined as one
    record with the reason; the run is recorded either way, and nothing raises for bad input.
    """
    try:
        batch = reader(body, locator)
    except Exception as error:  # the reader is pure: any failure is this payload's, not the run's
        expected = isinstance(error, ValueError | KeyError | pl.exceptions.PolarsError)
        log.warning("reader failed", source=source, locator=locator, exc_info=not expected)
        reason = f"unreadable payload: {type(error).__name__}: {one_line(str(error))}"
        return record_unreadable(
            engine, source=source, locator=locator, reason=reason, body=body, content_type=content_type, clock=clock
        )
    try:
        with engine.begin() as conn:
            run_id = start_run(conn, source, locator, clock=clock)
            _take_writer_turn(conn)
            raw_id = store_raw_payload(conn, source, locator, body, content_type, clock=clock)
            report = write_batch(
                conn,
                batch,
                raw_payload_id=raw_id,
                create_teams=create_teams,
                update_events=update_events,
                clock=clock,
            )
            finish_run(conn, run_id, report, clock=clock)
    except (DataError, IntegrityError) as error:  # a value the readers let through: lose the file, not the run
        log.error("payload refused by the database", source=source, locator=locator, exc_info=True)
        reason = f"refused by the database: {type(error.orig).__name__}: {one_line(str(error.orig))}"
        return record_unreadable(
            engine, source=source, locator=locator, reason=reason, body=body, content_type=content_type, clock=clock
        )
    log.info(
        "payload ingested",
        source=source,
        locator=locator,
        rows_read=report.rows_read,
        quarantined=report.quarantined,
        **{
            f"{name}_{kind}": getattr(counts, kind)
            for name, counts in report.tables.items()
            for kind in ("inserted", "updated", "unchanged")
        },
    )
    return report
