"""Reads what features are built from (events with results, odds) out of the system of record into polars frames.

Read-only: never writes to the database. One set-based query per table; SQLite's naive timestamp text and
PostgreSQL's aware datetimes both come back as ``Datetime("us", "UTC")``. ``fingerprint`` is a cheap summary of
the source tables so a reader can tell whether a stored build still matches the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl
from sqlalchemy import Engine

from betpipe.features.form import RESULT_STATS
from betpipe.ingest.records import UTC_DATETIME

EVENT_COLUMNS: dict[str, Any] = {
    "event_id": pl.Int64,
    "sport": pl.Utf8,
    "competition": pl.Utf8,
    "season": pl.Utf8,
    "kickoff_utc": UTC_DATETIME,
    "kickoff_time_known": pl.Boolean,
    "home_team_id": pl.Int64,
    "away_team_id": pl.Int64,
    "neutral_site": pl.Boolean,
    "status": pl.Utf8,
    "home_score": pl.Int64,
    "away_score": pl.Int64,
    **dict.fromkeys(RESULT_STATS, pl.Int64),
}
QUOTE_SCHEMA: dict[str, Any] = {
    "event_id": pl.Int64,
    "bookmaker": pl.Utf8,
    "is_aggregate": pl.Boolean,
    "market": pl.Utf8,
    "kind": pl.Utf8,
    "captured_at": UTC_DATETIME,
    "home": pl.Float64,
    "draw": pl.Float64,
    "away": pl.Float64,
    "line": pl.Float64,
}
QUOTE_SELECT = (
    "SELECT o.event_id, b.key, b.is_aggregate, o.market, o.kind, o.captured_at, "
    "MAX(CASE WHEN o.selection = 'home' THEN o.price END), MAX(CASE WHEN o.selection = 'draw' THEN o.price END), "
    "MAX(CASE WHEN o.selection = 'away' THEN o.price END), MAX(CASE WHEN o.selection = 'home' THEN o.line END) "
    "FROM odds_snapshots o JOIN bookmakers b ON b.id = o.bookmaker_id "
)
QUOTE_GROUP = " GROUP BY o.event_id, b.key, b.is_aggregate, o.market, o.kind, o.captured_at"
"""One row per quoted market: prices pivoted by selection in SQL, which cuts the rows to transfer threefold.
A (book, market, kind, instant) quoted at several lines keeps the highest price per selection and the highest
home line; only the bench spread line uses lines, and nflverse quotes one line per game."""
_STATS_SQL = ", ".join(f"r.{c}" for c in RESULT_STATS)


def _frame(engine: Engine, sql: str, params: dict[str, Any], schema: dict[str, Any]) -> pl.DataFrame:
    """Run ``sql`` on the DB-API cursor (skipping per-row SQLAlchemy processing) and build typed columns."""
    with engine.connect() as conn:
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(sql, _qmark(params) if engine.dialect.name == "sqlite" else params)
            rows = cursor.fetchall()
        finally:
            cursor.close()
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in schema]
    frame = pl.DataFrame(
        [pl.Series(name, list(values), strict=False) for name, values in zip(schema, columns, strict=True)]
    )
    return frame.select([_cast(frame, name, dtype) for name, dtype in schema.items()])


def _qmark(params: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(params.values())


def _cast(frame: pl.DataFrame, name: str, dtype: Any) -> pl.Expr:
    column = frame[name]
    if dtype == UTC_DATETIME:
        if column.dtype == pl.Utf8:
            return pl.col(name).str.to_datetime("%Y-%m-%d %H:%M:%S%.f", time_unit="us").dt.replace_time_zone("UTC")
        if column.dtype == pl.Null:
            return pl.col(name).cast(dtype)
        if isinstance(column.dtype, pl.Datetime) and column.dtype.time_zone is None:  # type: ignore[union-attr]
            return pl.col(name).dt.cast_time_unit("us").dt.replace_time_zone("UTC")
        return pl.col(name).dt.convert_time_zone("UTC").dt.cast_time_unit("us")
    return pl.col(name).cast(dtype)


def _placeholder(engine: Engine, name: str) -> str:
    return "?" if engine.dialect.name == "sqlite" else f"%({name})s"


def load_events(engine: Engine, sport: str) -> pl.DataFrame:
    """Every event of ``sport`` with its competition code, season name and result (null when unplayed)."""
    sql = (
        "SELECT e.id, e.sport, c.code, s.name, e.kickoff_utc, e.kickoff_time_known, e.home_team_id, e.away_team_id, "
        "e.neutral_site, "
        f"e.status, r.home_score, r.away_score, {_STATS_SQL} "
        "FROM events e JOIN competitions c ON c.id = e.competition_id "
        "LEFT JOIN seasons s ON s.id = e.season_id LEFT JOIN results r ON r.event_id = e.id "
        f"WHERE e.sport = {_placeholder(engine, 'sport')}"
    )
    return _frame(engine, sql, {"sport": sport}, EVENT_COLUMNS)


def load_quotes(
    engine: Engine, sport: str, market: str, kinds: Sequence[str], bench_books: Sequence[str]
) -> pl.DataFrame:
    """The quotes features and bench columns can use: ``market`` quotes of executable books in ``kinds``, plus
    every 1x2/moneyline/spread quote of the ``bench_books``. Filtering in SQL keeps the transfer small."""
    kind_marks = ", ".join(_placeholder(engine, f"k{i}") for i in range(len(kinds)))
    book_marks = ", ".join(_placeholder(engine, f"b{i}") for i in range(len(bench_books)))
    sql = (
        QUOTE_SELECT + "JOIN events e ON e.id = o.event_id "
        f"WHERE e.sport = {_placeholder(engine, 'sport')} AND ("
        f"(o.market = {_placeholder(engine, 'market')} AND o.kind IN ({kind_marks}) AND NOT b.is_aggregate) "
        f"OR (b.key IN ({book_marks}) AND o.market IN ('1x2', 'moneyline', 'spread')))" + QUOTE_GROUP
    )
    params: dict[str, Any] = {
        "sport": sport,
        "market": market,
        **{f"k{i}": k for i, k in enumerate(kinds)},
        **{f"b{i}": b for i, b in enumerate(bench_books)},
    }
    return _frame(engine, sql, params, QUOTE_SCHEMA)


def sports(engine: Engine, competition: str | None = None) -> list[str]:
    sql = "SELECT DISTINCT e.sport FROM events e JOIN competitions c ON c.id = e.competition_id"
    params: dict[str, Any] = {}
    if competition is not None:
        sql += f" WHERE c.code = {_placeholder(engine, 'code')}"
        params["code"] = competition
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(sql, params if engine.dialect.name != "sqlite" else _qmark(params)).fetchall()
    return sorted(str(r[0]) for r in rows)


def fingerprint(engine: Engine) -> str:
    """Counts and highest ids of the source tables plus the change log's head: moves on any ingest write."""
    sql = (
        "SELECT (SELECT COUNT(*) FROM events), (SELECT MAX(id) FROM events), (SELECT COUNT(*) FROM results), "
        "(SELECT MAX(event_id) FROM results), (SELECT COUNT(*) FROM odds_snapshots), "
        "(SELECT MAX(id) FROM odds_snapshots), (SELECT MAX(id) FROM change_log)"
    )
    with engine.connect() as conn:
        row = conn.exec_driver_sql(sql).one()
    return ":".join("-" if v is None else str(v) for v in row)
