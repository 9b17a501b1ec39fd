"""What every command shares: settings, the engine (with its schema checked), and printing reports.

No business logic lives here. Opening the store must never create it: before `betpipe db upgrade` a command says
so in one line instead of leaving an empty SQLite file behind. Every command module imports this one at start-up
(`betpipe --help` included), so it imports only typer and rich at module level: settings, SQLAlchemy and the store
load inside the functions that need them (tests/test_cli_startup.py keeps it so).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console, ConsoleDimensions
from rich.table import Table

from betpipe.cli._errors import CliError

if TYPE_CHECKING:
    import sqlite3

    from rich.progress import Progress
    from sqlalchemy import Engine

    from betpipe.cli._settings import QuickSettings
    from betpipe.config import Settings
    from betpipe.ingest.store import IngestReport

PIPED_WIDTH = 160


class _EnvironWithoutColumns(Mapping[str, str]):
    """``os.environ``, live, minus COLUMNS: rich reads COLUMNS once when a console is made and freezes it."""

    def __getitem__(self, key: str) -> str:
        if key == "COLUMNS":
            raise KeyError(key)
        return os.environ[key]

    def __iter__(self) -> Iterator[str]:
        return (key for key in os.environ if key != "COLUMNS")

    def __len__(self) -> int:
        return sum(1 for _ in self)


class _OutputConsole(Console):
    """Piped output (CI logs, files) gets wide tables instead of rich's 80-column default, unless COLUMNS says how
    wide. Decided at each print, not at import: the CLI is imported lazily, and a width frozen by whichever command
    happened to import it first (with or without COLUMNS) would then cut every later command's tables."""

    def __init__(self, **options: Any) -> None:
        super().__init__(_environ=_EnvironWithoutColumns(), **options)

    @property
    def size(self) -> ConsoleDimensions:
        dimensions = super().size
        if self._width is not None:
            return dimensions
        columns = os.environ.get("COLUMNS", "")
        if columns.isdigit() and int(columns) > 0:
            return ConsoleDimensions(int(columns), dimensions.height)
        return dimensions if self.is_terminal else ConsoleDimensions(PIPED_WIDTH, dimensions.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        self._width, self._height = new_size


console = _OutputConsole()
error_console = Console(stderr=True)


def settings() -> Settings:
    from betpipe.config import load_settings

    return load_settings()


def store_settings() -> QuickSettings | Settings:
    """What a command that reads only the store, the log level and the thread count needs: read without pydantic
    when nothing else is configured (``_settings``, the same values and checks), else the full ``Settings``."""
    from betpipe.cli._settings import quick_settings

    return quick_settings() or settings()


UPGRADE_HINT = "run `betpipe db upgrade`"


def format_clv(clv: float | None, missing: str = "") -> str:
    """CLV in the one unit every command shows: percent with its sign, e.g. ``+14.72 %``."""
    return missing if clv is None else f"{clv * 100:+.2f} %"


@contextmanager
def open_engine(config: Settings | QuickSettings | None = None, *, require_schema: bool = True) -> Iterator[Engine]:
    """The configured database; unless ``require_schema`` is off, refused unless migrated to this code's head."""
    from betpipe.db.engine import make_engine

    url = (config or settings()).effective_database_url
    if require_schema:
        _refuse_missing_sqlite_file(url)
    engine = make_engine(url)
    try:
        if require_schema:
            check_schema(engine, url)
        yield engine
    finally:
        engine.dispose()


def _refuse_missing_sqlite_file(url: str) -> None:
    """Connecting would create the file (and its folder): look first."""
    plain = plain_sqlite_file(url)
    if plain is not None:
        if not plain.is_file():
            raise CliError(f"no database at {plain}: {UPGRADE_HINT} to create it")
        return
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    database = parsed.database
    on_disk = parsed.get_backend_name() == "sqlite" and database and database != ":memory:"
    if on_disk and not Path(str(database)).is_file():
        raise CliError(f"no database at {database}: {UPGRADE_HINT} to create it")


# betpipe/db/migrations, found without importing betpipe.db (which loads SQLAlchemy): db.engine.MIGRATIONS_DIR.
_MIGRATIONS_DIR = Path(__file__).resolve().parents[1] / "db" / "migrations"
_PLAIN_SQLITE_URL = re.compile(r"^sqlite(\+pysqlite)?:///(?P<path>[^?#%]+)$")


def plain_sqlite_file(url: str) -> Path | None:
    """The file of a ``sqlite:///path`` URL with nothing SQLAlchemy interprets (no query, no escapes), else None."""
    match = _PLAIN_SQLITE_URL.match(url)
    if match is None or match["path"] == ":memory:" or match["path"].startswith("file:"):
        return None
    return Path(match["path"])


@contextmanager
def light_sqlite(config: Settings | QuickSettings | None = None) -> Iterator[sqlite3.Connection | None]:
    """A stdlib connection to the configured store when it is a plain SQLite file at this code's schema head, else
    None (the caller then uses ``open_engine``, whose checks say what is wrong). For read-only commands that must
    start fast (``bets list``): SQLAlchemy alone costs more CPU than the rest of such a command."""
    import sqlite3

    url = (config or settings()).effective_database_url
    path = plain_sqlite_file(url)
    if path is None:
        yield None
        return
    _refuse_missing_sqlite_file(url)
    conn = sqlite3.connect(path, timeout=30.0)  # db.engine's busy_timeout
    try:
        heads = migration_heads()
        try:
            rows = conn.execute("SELECT version_num FROM alembic_version").fetchall()
        except sqlite3.Error:
            rows = []
        yield conn if heads is not None and len(rows) == 1 and rows[0][0] in heads else None
    finally:
        conn.close()


@contextmanager
def fail_clearly(*errors: type[BaseException]) -> Iterator[None]:
    """Kept for commands written before the one handler (``_errors``): the listed errors become its one line."""
    from betpipe.cli._errors import fail, one_line

    try:
        yield
    except errors as error:
        fail(one_line(str(error)), cause=error)


_REVISION_LINE = re.compile(r'^(down_revision|revision) = (None|"[^"]+")$', re.MULTILINE)


def migration_heads() -> set[str] | None:
    """This code's schema heads read from the migration files' ``revision`` lines, or None if any file is not in
    the plain one-parent form: loading Alembic to ask costs more CPU than a command like ``bets list`` itself."""
    parents: dict[str, str | None] = {}
    for path in (_MIGRATIONS_DIR / "versions").glob("*.py"):
        found = dict(_REVISION_LINE.findall(path.read_text(encoding="utf-8")))
        if set(found) != {"revision", "down_revision"} or found["revision"] == "None":
            return None
        down = found["down_revision"]
        parents[found["revision"].strip('"')] = None if down == "None" else down.strip('"')
    return set(parents) - {parent for parent in parents.values() if parent is not None} or None


def _at_a_head(engine: Engine) -> bool:
    """True only when the store is certainly at a head; anything unusual is left to Alembic's full check."""
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    heads = migration_heads()
    if heads is None:
        return False
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    except SQLAlchemyError:  # no version table yet: the full check says so
        return False
    return len(rows) == 1 and rows[0] in heads


def check_schema(engine: Engine, url: str) -> None:
    """The store's Alembic revision is one of this code's heads, else a message saying what to do."""
    if _at_a_head(engine):
        return
    from alembic.script import ScriptDirectory

    from betpipe.config import mask_url
    from betpipe.db import current_revision
    from betpipe.db.engine import MIGRATIONS_DIR

    heads = ScriptDirectory(str(MIGRATIONS_DIR)).get_heads()
    current = current_revision(engine)
    if current in heads:
        return
    shown = mask_url(url)
    if current is None:
        raise CliError(f"the database {shown} has no betpipe schema yet: {UPGRADE_HINT}")
    known = {script.revision for script in ScriptDirectory(str(MIGRATIONS_DIR)).walk_revisions()}
    if current in known:
        raise CliError(
            f"the database {shown} is at schema revision {current}, this betpipe needs {', '.join(heads)}: "
            f"{UPGRADE_HINT}"
        )
    raise CliError(
        f"the database {shown} is at schema revision {current}, which this betpipe does not know: "
        "upgrade betpipe (a newer version migrated it)"
    )


def print_ingest_report(report: IngestReport, title: str) -> None:
    """The read / inserted / updated / unchanged / quarantined summary every ingest command ends with."""
    table = Table(title=title)
    for column in ("table", "read", "inserted", "updated", "unchanged", "quarantined"):
        table.add_column(column, justify="left" if column == "table" else "right")
    table.add_row("input rows", str(report.rows_read), "", "", "", str(report.quarantined))
    for name, counts in report.tables.items():
        table.add_row(name, "", str(counts.inserted), str(counts.updated), str(counts.unchanged), "")
    console.print(table)
    console.print(f"{report.files} payload(s) from {report.source}")


def exit_if_nothing_read(report: IngestReport) -> None:
    """Bad rows never fail a run; only a run that could read nothing at all exits non-zero."""
    if report.rows_read == 0 and (report.quarantined > 0 or report.files == 0):
        error_console.print("[red]nothing could be read[/red] (see `betpipe data quarantine`)")
        raise typer.Exit(code=1)


def progress_display(*, transient: bool = False, eta: bool = False) -> Progress:
    """The one progress-bar look of the CLI: on stderr (stdout keeps only the report), and only on a terminal.

    ``eta`` shows a percentage and the time remaining instead of M/N, for work counted in cost units."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        *((TaskProgressColumn(), TimeRemainingColumn()) if eta else (MofNCompleteColumn(),)),
        TimeElapsedColumn(),
        console=error_console,
        transient=transient,
        disable=not error_console.is_terminal,
    )
