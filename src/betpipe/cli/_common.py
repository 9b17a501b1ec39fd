"""What every command shares: settings, the engine, and printing reports. No business logic lives here."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine

from betpipe.config import Settings, load_settings
from betpipe.db import make_engine
from betpipe.ingest.store import IngestReport

# Piped output (CI logs, files) gets wide tables instead of rich's 80-column default.
console = Console() if sys.stdout.isatty() else Console(width=160)
error_console = Console(stderr=True)


def settings() -> Settings:
    return load_settings()


@contextmanager
def open_engine(config: Settings | None = None) -> Iterator[Engine]:
    engine = make_engine((config or settings()).effective_database_url)
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def fail_clearly(*errors: type[BaseException]) -> Iterator[None]:
    """Turn expected library errors (bad ids, unknown names, nothing to do) into a red line and exit code 1."""
    try:
        yield
    except errors as error:
        error_console.print(f"[red]{error}[/red]")
        raise typer.Exit(code=1) from error


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
