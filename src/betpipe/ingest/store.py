"""Writes a ``NormalisedBatch`` to the store: raw payload, reference data, events, results, odds, quarantine.

Everything for one batch happens in the caller's transaction, so a file lands whole or not at all. Every write is an
upsert on a natural key, so re-running the same input changes nothing. Team names are resolved through aliases;
sources that are not authoritative for team lists (live feeds) quarantine unknown names instead of inventing teams.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

import polars as pl
from sqlalchemy import Connection, Engine, insert, select, update

from betpipe.db.bulk import UpsertCounts, upsert, utc_now
from betpipe.db.schema import (
    bookmakers,
    competitions,
    event_refs,
    events,
    ingest_runs,
    odds_snapshots,
    quarantine,
    raw_payloads,
    results,
    seasons,
    team_aliases,
    teams,
)
from betpipe.ingest.bookmakers import bookmaker_info
from betpipe.ingest.records import RESULT_STAT_COLUMNS, NormalisedBatch, QuarantinedRow
from betpipe.logs import get_logger

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


@dataclass
class IngestReport:
    """Per-batch outcome, summed over files by ``__add__`` for the CLI's summary table."""

    source: str
    rows_read: int = 0
    quarantined: int = 0
    files: int = 0
    tables: dict[str, UpsertCounts] = field(default_factory=dict)

    def __add__(self, other: IngestReport) -> IngestReport:
        tables = dict(self.tables)
        for name, counts in other.tables.items():
            tables[name] = tables.get(name, UpsertCounts()) + counts
        return IngestReport(
            source=self.source,
            rows_read=self.rows_read + other.rows_read,
            quarantined=self.quarantined + other.quarantined,
            files=self.files + other.files,
            tables=tables,
        )


def store_raw_payload(
    conn: Connection,
    source: str,
    locator: str,
    body: bytes,
    content_type: str,
    fetched_at: datetime | None = None,
) -> int:
    """Append the payload unless the identical bytes are already stored for this locator; return its id."""
    digest = hashlib.sha256(body).hexdigest()
    existing = conn.execute(
        select(raw_payloads.c.id).where(
            raw_payloads.c.source == source,
            raw_payloads.c.locator == locator,
            raw_payloads.c.sha256 == digest,
        )
    ).scalar()
    if existing is not None:
        return int(existing)
    result = conn.execute(
        insert(raw_payloads).values(
            source=source,
            locator=locator,
            sha256=digest,
            fetched_at=fetched_at or utc_now(),
            content_type=content_type,
            body=body,
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def quarantine_rows(
    conn: Connection, source: str, locator: str, rows: Iterable[QuarantinedRow], raw_payload_id: int | None
) -> int:
    records = [(source, locator, row.row_ref, row.record, row.reason, raw_payload_id) for row in rows]
    upsert(
        conn,
        quarantine,
        records,
        ("source", "locator", "row_ref"),
        ("record", "reason", "raw_payload_id"),
        source=source,
        log_changes=False,
    )
    return len(records)


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


def write_batch(
    conn: Connection,
    batch: NormalisedBatch,
    *,
    raw_payload_id: int | None,
    create_teams: bool = True,
    update_events: bool = True,
) -> IngestReport:
    """Store a batch; returns counts per table. Unknown teams and duplicate fixtures go to quarantine."""
    resolver = Resolver(conn)
    quarantined = list(batch.quarantined)
    event_rows: list[tuple[object, ...]] = []
    row_keys: dict[str, str] = {}
    seen: dict[str, str] = {}
    refs: list[tuple[str, str, str]] = []
    for row in batch.events.iter_rows(named=True):
        sport = row["sport"]
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
        if row["external_id"]:
            refs.append((batch.source, row["external_id"], key))
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
    counts = upsert(conn, events, event_rows, ("natural_key",), EVENT_VALUE_COLUMNS, source=batch.source)
    event_ids: dict[str, int] = {
        key: int(event_id)
        for key, event_id in conn.execute(
            select(events.c.natural_key, events.c.id).where(events.c.natural_key.in_(list(row_keys.values())))
        )
    }
    report.tables["events"] = counts
    ref_rows = [(source, ext, event_ids[key]) for source, ext, key in refs if key in event_ids]
    upsert(conn, event_refs, ref_rows, ("source", "external_id"), ("event_id",), source=batch.source)

    ref_to_id = {ref: event_ids[key] for ref, key in row_keys.items() if key in event_ids}
    report.tables["results"] = _write_results(conn, batch, ref_to_id)
    report.tables["odds"] = _write_odds(conn, batch, ref_to_id, resolver, quarantined)
    report.quarantined = quarantine_rows(conn, batch.source, batch.locator, quarantined, raw_payload_id)
    return report


def _with_event_ids(frame: pl.DataFrame, ref_to_id: dict[str, int]) -> pl.DataFrame:
    mapping = pl.DataFrame(
        {"row_ref": list(ref_to_id.keys()), "event_id": list(ref_to_id.values())},
        schema={"row_ref": pl.Utf8, "event_id": pl.Int64},
    )
    return frame.join(mapping, on="row_ref", how="inner")


def _write_results(conn: Connection, batch: NormalisedBatch, ref_to_id: dict[str, int]) -> UpsertCounts:
    frame = _with_event_ids(batch.results, ref_to_id).with_columns(pl.lit(batch.source).alias("source"))
    rows = frame.select("event_id", *RESULT_VALUE_COLUMNS).rows()
    counts = upsert(conn, results, rows, ("event_id",), RESULT_VALUE_COLUMNS, source=batch.source)
    return counts


def _write_odds(
    conn: Connection,
    batch: NormalisedBatch,
    ref_to_id: dict[str, int],
    resolver: Resolver,
    quarantined: list[QuarantinedRow],
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
    counts = upsert(conn, odds_snapshots, rows, ODDS_KEY_COLUMNS, ("price", "source"), source=batch.source)
    return counts


def start_run(conn: Connection, source: str, locator: str) -> int:
    result = conn.execute(
        insert(ingest_runs).values(source=source, locator=locator, started_at=utc_now(), status="running")
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def finish_run(conn: Connection, run_id: int, report: IngestReport | None, error: str | None = None) -> None:
    totals = UpsertCounts()
    if report is not None:
        for counts in report.tables.values():
            totals = totals + counts
    conn.execute(
        update(ingest_runs)
        .where(ingest_runs.c.id == run_id)
        .values(
            finished_at=utc_now(),
            rows_read=report.rows_read if report else 0,
            inserted=totals.inserted,
            updated=totals.updated,
            unchanged=totals.unchanged,
            quarantined=report.quarantined if report else 0,
            status="failed" if error else "ok",
            message=error,
        )
    )


Reader = Callable[[bytes, str], NormalisedBatch]


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
) -> IngestReport:
    """Store the raw bytes, parse them with ``reader(body, locator)`` and write the batch, in one transaction.

    A payload the reader cannot parse at all is kept (raw) and quarantined as one record with the reader's reason;
    the run is recorded either way, and nothing raises for bad input.
    """
    with engine.begin() as conn:
        run_id = start_run(conn, source, locator)
        raw_id = store_raw_payload(conn, source, locator, body, content_type)
        try:
            batch = reader(body, locator)
        except (ValueError, KeyError, pl.exceptions.PolarsError) as error:
            reason = f"unreadable payload: {error}"
            quarantine_rows(conn, source, locator, [QuarantinedRow.of("<payload>", locator, reason)], raw_id)
            report = IngestReport(source=source, files=1, quarantined=1)
            finish_run(conn, run_id, report, error=reason)
            log.warning("payload quarantined", source=source, locator=locator, reason=reason)
            return report
        report = write_batch(conn, batch, raw_payload_id=raw_id, create_teams=create_teams, update_events=update_events)
        finish_run(conn, run_id, report)
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
