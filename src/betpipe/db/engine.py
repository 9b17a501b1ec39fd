"""Engine creation and schema migration; the only place that knows SQLite from PostgreSQL connection details.

The store holds the ledger and the raw payloads, so what betpipe creates of it is private to its user whatever the
umask: folders 0700 (``private_dir``), the SQLite file 0600. SQLite gives its ``-wal``, ``-shm`` and ``-journal``
files the database file's mode, so creating the file 0600 before SQLite opens it covers them too. Folders and files
that already exist keep their mode: that was someone's choice.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """``path`` as a folder, each missing component created 0700 (``mkdir -p`` would make the parents 0755)."""
    missing: list[Path] = []
    cursor = path
    while not cursor.exists() and cursor != cursor.parent:
        missing.append(cursor)
        cursor = cursor.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):  # made meanwhile by a concurrent process: its creator's mode
            folder.mkdir(mode=PRIVATE_DIR_MODE)
    if not path.is_dir():
        raise NotADirectoryError(f"not a folder: {path}")
    return path


def _create_private_file(path: Path) -> None:
    """An empty file 0600 unless ``path`` exists; SQLite then opens it as an empty database."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        return
    except OSError:
        return  # SQLite's own open reports the problem (no such folder, read-only disk) in its words
    os.close(descriptor)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite files get their folder created (0700), the file itself 0600 when the first
    connection creates it, foreign keys on and WAL journaling."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        on_disk = bool(database) and database != ":memory:" and not str(database).startswith("file:")
        if on_disk:
            private_dir(Path(str(database)).parent)
        engine = create_engine(url, **kwargs)

        if on_disk and "mode" not in parsed.query:

            @event.listens_for(engine, "do_connect")
            def _private_database_file(_dialect: Any, _record: Any, _args: Any, _params: Any) -> None:
                _create_private_file(Path(str(database)))

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA temp_store=MEMORY")
            cursor.close()

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` with Alembic, on the given engine's database."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    from alembic.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
