"""Benchmark: ingest the shared football-data set (parse only, then into SQLite and PostgreSQL, then a no-op re-ingest).

Each database run starts from an empty, freshly migrated store (a new SQLite file, a new PostgreSQL schema that is
dropped afterwards); it never touches a configured production database.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from betpipe.db import make_engine, upgrade
from betpipe.ingest.football_data import football_data_files, ingest_football_data, read_football_data

REPO_ROOT = Path(__file__).resolve().parents[1]
PG_URL_ENV = "BETPIPE_BENCH_DATABASE_URL"


def shared_football_data() -> Path:
    configured = os.environ.get("BETPIPE_SHARED_DATA")
    root = Path(configured) if configured else REPO_ROOT.parent / "shared" / "data"
    return root / "football-data"


@contextmanager
def fresh_sqlite() -> Iterator[Engine]:
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'bench.sqlite'}")
        upgrade(engine)
        try:
            yield engine
        finally:
            engine.dispose()


@contextmanager
def fresh_postgres(url: str) -> Iterator[Engine]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def _row(benchmark: str, backend: str, rows: int, odds_rows: int, seconds: float) -> dict[str, object]:
    return {
        "benchmark": benchmark,
        "backend": backend,
        "rows": rows,
        "odds_rows": odds_rows,
        "seconds": round(seconds, 2),
        "rows_per_s": round(rows / seconds) if seconds else None,
        "odds_rows_per_s": round(odds_rows / seconds) if seconds else None,
    }


def _ingest_twice(engine: Engine, backend: str, paths: list[Path], label: str) -> list[dict[str, object]]:
    started = time.perf_counter()
    first = ingest_football_data(engine, paths)
    first_seconds = time.perf_counter() - started
    started = time.perf_counter()
    second = ingest_football_data(engine, paths)
    second_seconds = time.perf_counter() - started
    odds = first.tables["odds"].total
    return [
        _row(f"ingest football-data ({label})", backend, first.rows_read, odds, first_seconds),
        _row(f"re-ingest football-data ({label}, no changes)", backend, second.rows_read, odds, second_seconds),
    ]


def run(quick: bool = False) -> list[dict[str, object]]:
    """Quick mode takes the England Premier League folder only (18 files) instead of all 107."""
    root = shared_football_data()
    if not root.is_dir():
        raise FileNotFoundError(f"shared football-data not found at {root} (set BETPIPE_SHARED_DATA)")
    paths = [root / "E0"] if quick else [root]
    files = football_data_files(paths)
    label = f"{len(files)} files"

    started = time.perf_counter()
    parsed = [read_football_data(path.read_bytes(), f"{path.parent.name}/{path.name}") for path in files]
    parse_seconds = time.perf_counter() - started
    rows = [
        _row(
            f"parse football-data ({label})",
            "none",
            sum(batch.rows_read for batch in parsed),
            sum(batch.odds.height for batch in parsed),
            parse_seconds,
        )
    ]
    del parsed

    with fresh_sqlite() as engine:
        rows += _ingest_twice(engine, "sqlite", paths, label)
    url = os.environ.get(PG_URL_ENV)
    if url:
        try:
            make_engine(url).connect().close()
        except OperationalError as error:  # say so in the table rather than losing the SQLite figures
            rows.append(
                {"benchmark": f"ingest football-data ({label})", "backend": f"postgresql: unreachable ({error.orig})"}
            )
            return rows
        with fresh_postgres(url) as engine:
            rows += _ingest_twice(engine, "postgresql", paths, label)
    return rows
