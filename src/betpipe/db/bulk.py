"""Set-based idempotent upserts on a natural key, with exact inserted/updated/unchanged counts and a change log.

Rows are staged into a temporary table (SQLite ``executemany``, PostgreSQL ``COPY``), compared with the target in
one join, then updated and inserted with two statements. Re-running the same input therefore writes nothing, and a
corrected input updates the row and leaves a ``change_log`` record with the old and new values. Never call it with
rows that repeat a key: the caller de-duplicates (and quarantines) first. It never reads the machine clock: change-log
stamps come from the caller's ``Clock``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from itertools import count
from typing import Any

from sqlalchemy import Connection, Table, insert

from betpipe.clock import SYSTEM_CLOCK, Clock
from betpipe.db.schema import change_log

_stage_numbers = count()
SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"


@dataclass(frozen=True)
class UpsertCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    def __add__(self, other: UpsertCounts) -> UpsertCounts:
        return UpsertCounts(
            self.inserted + other.inserted,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
        )

    @property
    def total(self) -> int:
        return self.inserted + self.updated + self.unchanged


def utc_now(clock: Clock = SYSTEM_CLOCK) -> datetime:
    """The clock's instant. Kept for callers not yet handed a clock; new code passes its ``Clock`` down instead."""
    return clock.now()


def as_utc(value: datetime) -> datetime:
    """Timestamps are stored in UTC; SQLite hands them back naive, PostgreSQL aware."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _sqlite_value(value: Any) -> Any:
    # Match SQLAlchemy's own SQLite storage format so values written here read back through the ORM types.
    if isinstance(value, datetime):
        return as_utc(value).replace(tzinfo=None).strftime(SQLITE_DATETIME)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return value


def _pg_value(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return value


def _null_safe_equal(dialect: str, left: str, right: str) -> str:
    if dialect == "sqlite":
        return f"{left} IS {right}"
    return f"{left} IS NOT DISTINCT FROM {right}"


def _json_text(dialect: str, expression: str, is_json: bool) -> str:
    # PostgreSQL has no equality operator for json; compare its text form.
    if is_json and dialect != "sqlite":
        return f"CAST({expression} AS TEXT)"
    return expression


def upsert(
    conn: Connection,
    table: Table,
    rows: Sequence[Sequence[Any]],
    key_columns: Sequence[str],
    value_columns: Sequence[str],
    *,
    source: str,
    log_changes: bool = True,
    clock: Clock = SYSTEM_CLOCK,
) -> UpsertCounts:
    """Upsert ``rows`` (tuples ordered as ``key_columns + value_columns``) into ``table``; returns exact counts.

    ``clock`` stamps the ``change_log`` rows, so a backtest or a test sees its own time there, not the machine's."""
    if not rows:
        return UpsertCounts()
    dialect = conn.dialect.name
    columns = [*key_columns, *value_columns]
    json_columns = {name for name in value_columns if table.c[name].type.__class__.__name__ == "JSON"}
    stage = f"_stage_{table.name}_{next(_stage_numbers)}"
    column_list = ", ".join(columns)
    conn.exec_driver_sql(f"CREATE TEMP TABLE {stage} AS SELECT {column_list} FROM {table.name} WHERE 1 = 0")
    _load_stage(conn, table, stage, columns, rows)
    if dialect == "postgresql":
        # During bulk loads the target's statistics lag far behind its size and the planner picks full-table
        # hash/merge joins that grow with every batch; every key has a unique index, so probe it instead.
        conn.exec_driver_sql("SET LOCAL enable_hashjoin = off")
        conn.exec_driver_sql("SET LOCAL enable_mergejoin = off")
    key_match = " AND ".join(f"t.{name} = s.{name}" for name in key_columns)

    def differs(target: str) -> str:
        """Any value column of the target row (``target`` is its alias or table name) differs from the staged."""
        if not value_columns:
            return "1 = 0"
        same = " AND ".join(
            _null_safe_equal(
                dialect,
                _json_text(dialect, f"{target}.{name}", name in json_columns),
                _json_text(dialect, f"s.{name}", name in json_columns),
            )
            for name in value_columns
        )
        return f"NOT ({same})"

    matched = conn.exec_driver_sql(f"SELECT COUNT(*) FROM {stage} s JOIN {table.name} t ON {key_match}").scalar_one()
    changed = conn.exec_driver_sql(
        f"SELECT {', '.join(f's.{c}' for c in key_columns)}"
        f"{''.join(f', t.{c}, s.{c}' for c in value_columns)} "
        f"FROM {stage} s JOIN {table.name} t ON {key_match} WHERE {differs('t')}"
    ).all()
    if changed:
        assignments = ", ".join(f"{name} = s.{name}" for name in value_columns)
        key_target = " AND ".join(f"{table.name}.{name} = s.{name}" for name in key_columns)
        conn.exec_driver_sql(
            f"UPDATE {table.name} SET {assignments} FROM {stage} s WHERE {key_target} AND {differs(table.name)}"
        )
        if log_changes:
            _log_changes(conn, table.name, key_columns, value_columns, changed, source, clock.now())
    inserted = len(rows) - int(matched)
    if inserted:
        conn.exec_driver_sql(
            f"INSERT INTO {table.name} ({column_list}) SELECT {', '.join(f's.{c}' for c in columns)} "
            f"FROM {stage} s WHERE NOT EXISTS (SELECT 1 FROM {table.name} t WHERE {key_match})"
        )
    # No try/finally: after an error the caller's transaction rolls back, which drops the temporary table too.
    conn.exec_driver_sql(f"DROP TABLE {stage}")
    if dialect == "postgresql":
        conn.exec_driver_sql("SET LOCAL enable_hashjoin TO DEFAULT")
        conn.exec_driver_sql("SET LOCAL enable_mergejoin TO DEFAULT")
    return UpsertCounts(inserted, len(changed), int(matched) - len(changed))


def _converted(
    table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]], sqlite: bool
) -> list[tuple[Any, ...]]:
    """Convert only the columns that need it (timestamps for SQLite, JSON for both), column-wise."""
    converters: dict[int, Any] = {}
    for index, name in enumerate(columns):
        kind = table.c[name].type.__class__.__name__
        if kind == "JSON" or (sqlite and kind in {"DateTime", "Date"}):
            converters[index] = _sqlite_value if sqlite else _pg_value
    if not converters:
        return [tuple(row) for row in rows]
    transposed = list(zip(*rows, strict=True))
    for index, convert in converters.items():
        transposed[index] = tuple(convert(value) for value in transposed[index])
    return list(zip(*transposed, strict=True))


def _load_stage(
    conn: Connection, table: Table, stage: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    sqlite = conn.dialect.name == "sqlite"
    converted = _converted(table, columns, rows, sqlite)
    if sqlite:
        placeholders = ", ".join("?" for _ in columns)
        conn.exec_driver_sql(f"INSERT INTO {stage} VALUES ({placeholders})", converted)  # type: ignore[arg-type]
        return
    dbapi = conn.connection.driver_connection
    assert dbapi is not None
    with (
        dbapi.cursor() as cursor,  # type: ignore[attr-defined]
        cursor.copy(f"COPY {stage} ({', '.join(columns)}) FROM STDIN") as copy,
    ):
        for row in converted:
            copy.write_row(row)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _log_changes(
    conn: Connection,
    table_name: str,
    key_columns: Sequence[str],
    value_columns: Sequence[str],
    changed: Iterable[Sequence[Any]],
    source: str,
    now: datetime,
) -> None:
    n_keys = len(key_columns)
    entries = []
    for row in changed:
        keys = row[:n_keys]
        old = {c: _jsonable(row[n_keys + 2 * i]) for i, c in enumerate(value_columns)}
        new = {c: _jsonable(row[n_keys + 2 * i + 1]) for i, c in enumerate(value_columns)}
        differing = [c for c in value_columns if old[c] != new[c]]
        entries.append(
            {
                "table_name": table_name,
                "record_key": json.dumps([_jsonable(k) for k in keys]),
                "old_values": {c: old[c] for c in differing},
                "new_values": {c: new[c] for c in differing},
                "source": source,
                "changed_at": now,
            }
        )
    conn.execute(insert(change_log), entries)
