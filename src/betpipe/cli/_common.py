"""What every command shares: settings, the engine (with its schema checked), and printing reports.

No business logic lives here. Opening the store must never create it: before `betpipe db upgrade` a command says
so in one line instead of leaving an empty SQLite file behind.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import Engine

from betpipe.cli._errors import CliError
from betpipe.config import Settings, load_settings, mask_url
from betpipe.db import make_engine
from betpipe.ingest.store import IngestReport

# Piped output (CI logs, files) gets wide tables instead of rich's 80-column default.
console = Console() if sys.stdout.isatty() else Console(width=160)
error_console = Console(stderr=True)


def settings() -> Settings:
    return load_settings()


UPGRADE_HINT = "run `betpipe db upgrade`"


@contextmanager
def open_engine(config: Settings | None = None, *, require_schema: bool = True) -> Iterator[Engine]:
    """The configured database; unless ``require_schema`` is off, refused unless migrated to this code's head."""
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
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    database = parsed.database
    on_disk = parsed.get_backend_name() == "sqlite" and database and database != ":memory:"
    if on_disk and not Path(str(database)).is_file():
        raise CliError(f"no database at {database}: {UPGRADE_HINT} to create it")


@contextmanager
def fail_clearly(*errors: type[BaseException]) -> Iterator[None]:
    """Kept for commands written before the one handler (``_errors``): the listed errors become its one line."""
    from betpipe.cli._errors import fail, one_line

    try:
        yield
    except errors as error:
        fail(one_line(str(error)), cause=error)


def check_schema(engine: Engine, url: str) -> None:
    """The store's Alembic revision is one of this code's heads, else a message saying what to do."""
    from alembic.script import ScriptDirectory

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


def progress_display(*, transient: bool = False) -> Progress:
    """The one progress-bar look of the CLI: on stderr (stdout keeps only the report), and only on a terminal."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=error_console,
        transient=transient,
        disable=not error_console.is_terminal,
    )
