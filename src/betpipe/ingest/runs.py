"""The bookkeeping around every ingested payload: run records, raw payloads, quarantine rows and the report.

Shared by ``ingest.store`` and the source drivers. It never parses a payload and never decides whether a row is
good; it only records what happened, in values every backend accepts (no NUL, nothing longer than its column), so
the record of a bad input can never itself be the thing that fails.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from betpipe.clock import SYSTEM_CLOCK, Clock
from betpipe.db.bulk import UpsertCounts, upsert
from betpipe.db.schema import ingest_runs, quarantine, raw_payloads
from betpipe.ingest.http import redact, redact_bytes
from betpipe.ingest.records import QuarantinedRow

ROW_REF_CHARS = 200  # quarantine.row_ref
REASON_CHARS = 2000  # one readable line, even for a reason quoting a huge cell
RECORD_CHARS = 20_000  # the raw payload keeps the whole input; the quarantine record is for reading


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


def clean_text(text: str, limit: int) -> str:
    """``text`` without NUL (PostgreSQL refuses it in text) and cut to ``limit`` characters with a marker."""
    text = text.replace("\x00", "\\x00")
    if len(text) <= limit:
        return text
    return f"{text[: limit - 40]}… [{len(text) - limit + 40} more characters]"


def one_line(text: str, limit: int = 300) -> str:
    """The first line of an error message, for run records and the CLI (tracebacks stay in the log)."""
    first = next((line.strip() for line in str(text).splitlines() if line.strip()), "")
    return clean_text(first, limit)


def _fit_ref(ref: str) -> str:
    ref = ref.replace("\x00", "\\x00")
    if len(ref) <= ROW_REF_CHARS:
        return ref
    digest = hashlib.sha256(ref.encode()).hexdigest()[:16]
    return f"{ref[: ROW_REF_CHARS - 20]}…{digest}"


def store_raw_payload(
    conn: Connection,
    source: str,
    locator: str,
    body: bytes,
    content_type: str,
    fetched_at: datetime | None = None,
    *,
    clock: Clock = SYSTEM_CLOCK,
) -> int:
    """Append the payload unless the identical bytes are already stored for this locator; return its id.

    ``INSERT .. ON CONFLICT DO NOTHING`` then a look-up: two writers storing the same bytes at once both get the
    one row instead of one of them failing on the unique key. Credential-like query parameters (``apiKey=..``) are
    masked in the locator and the body first: whatever path a payload came by, no key is stored (the HTTP client
    has already masked the request's own key, ``http.redact_bytes``)."""
    locator = redact(locator)
    body = redact_bytes(body)
    digest = hashlib.sha256(body).hexdigest()
    dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    conn.execute(
        dialect_insert(raw_payloads)
        .values(
            source=source,
            locator=locator,
            sha256=digest,
            fetched_at=fetched_at or clock.now(),
            content_type=content_type,
            body=body,
        )
        .on_conflict_do_nothing(index_elements=["source", "locator", "sha256"])
    )
    found = conn.execute(
        select(raw_payloads.c.id).where(
            raw_payloads.c.source == source,
            raw_payloads.c.locator == locator,
            raw_payloads.c.sha256 == digest,
        )
    ).scalar_one()
    return int(found)


def quarantine_rows(
    conn: Connection,
    source: str,
    locator: str,
    rows: Iterable[QuarantinedRow],
    raw_payload_id: int | None,
    *,
    clock: Clock = SYSTEM_CLOCK,
) -> int:
    """Upsert quarantine records (one per row reference; a later run's reason replaces an earlier one).

    A record is one per (content, row), not per path: when the same bytes were already stored under another
    locator (the file given through a symlink, a hard link, ``./``, or its folder), a row that is quarantined there
    updates that record instead of adding a second one."""
    locator = redact(locator)
    earlier = _same_content_records(conn, source, locator, raw_payload_id)
    records: dict[tuple[str, str], tuple[object, ...]] = {}
    for row in rows:
        ref = _fit_ref(row.row_ref)
        payload_id: int | None = raw_payload_id
        if (found := earlier.get(_relative_ref(ref, locator))) is not None:
            at, ref, payload_id = found
        else:
            at = locator
        records[(at, ref)] = (
            source,
            at,
            ref,
            clean_text(row.record, RECORD_CHARS),
            clean_text(row.reason or "no reason given (a reader bug: report it)", REASON_CHARS),
            payload_id,
        )
    upsert(
        conn,
        quarantine,
        list(records.values()),
        ("source", "locator", "row_ref"),
        ("record", "reason", "raw_payload_id"),
        source=source,
        log_changes=False,
        clock=clock,
    )
    return len(records)


def _relative_ref(ref: str, locator: str) -> str:
    """A row reference without its locator prefix (``E0/2022-2023.csv#row5`` -> ``#row5``): the row's place in
    the content, whatever path the content came by."""
    return ref.removeprefix(locator) if locator else ref


def _same_content_records(
    conn: Connection, source: str, locator: str, raw_payload_id: int | None
) -> dict[str, tuple[str, str, int]]:
    """Quarantine records of the same source and the same bytes stored under other locators, by relative row
    reference: (locator, row_ref, raw payload id). The oldest wins if a store already holds several."""
    if raw_payload_id is None:
        return {}
    digest = select(raw_payloads.c.sha256).where(raw_payloads.c.id == raw_payload_id).scalar_subquery()
    twins = [
        int(payload_id)
        for payload_id in conn.execute(
            select(raw_payloads.c.id).where(
                raw_payloads.c.source == source,
                raw_payloads.c.sha256 == digest,
                raw_payloads.c.locator != locator,
            )
        ).scalars()
    ]
    if not twins:
        return {}
    found: dict[str, tuple[str, str, int]] = {}
    records = conn.execute(
        select(quarantine.c.locator, quarantine.c.row_ref, quarantine.c.raw_payload_id)
        .where(quarantine.c.source == source, quarantine.c.raw_payload_id.in_(twins))
        .order_by(quarantine.c.id.desc())
    )
    for where, ref, payload_id in records:
        found[_relative_ref(str(ref), str(where))] = (str(where), str(ref), int(payload_id))
    return found


def start_run(conn: Connection, source: str, locator: str, *, clock: Clock = SYSTEM_CLOCK) -> int:
    result = conn.execute(
        insert(ingest_runs).values(source=source, locator=redact(locator), started_at=clock.now(), status="running")
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def finish_run(
    conn: Connection,
    run_id: int,
    report: IngestReport | None,
    error: str | None = None,
    *,
    clock: Clock = SYSTEM_CLOCK,
) -> None:
    totals = UpsertCounts()
    if report is not None:
        for counts in report.tables.values():
            totals = totals + counts
    conn.execute(
        update(ingest_runs)
        .where(ingest_runs.c.id == run_id)
        .values(
            finished_at=clock.now(),
            rows_read=report.rows_read if report else 0,
            inserted=totals.inserted,
            updated=totals.updated,
            unchanged=totals.unchanged,
            quarantined=report.quarantined if report else 0,
            status="failed" if error else "ok",
            message=clean_text(error, REASON_CHARS) if error else None,
        )
    )
