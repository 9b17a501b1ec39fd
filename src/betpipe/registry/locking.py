"""Serialised registry writes: one writer per sport and market at a time, on SQLite and on PostgreSQL.

An alias move reads the current pointer and the history, then writes both. Two moves interleaved between the read
and the write lose an update (SQLite's default deferred transaction reads without a lock) or collide on the first
insert (an IntegrityError on both backends). ``write_transaction`` therefore takes the write lock before the first
read: ``BEGIN IMMEDIATE`` on SQLite (one writer per database file), and on PostgreSQL ``lock`` takes a
transaction-scoped advisory lock per key, so that every later statement (READ COMMITTED) sees the previous writer's
commit. Must never be used for read-only work: it blocks other writers until the transaction ends.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, func, select

_NAMESPACE = "betpipe.registry:"


def lock_id(key: str) -> int:
    """A stable signed 64-bit advisory-lock id for ``key`` (Python's ``hash`` is salted per process)."""
    digest = hashlib.sha256((_NAMESPACE + key).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A committed-on-success transaction that already holds SQLite's write lock (a no-op elsewhere)."""
    with engine.connect() as conn, conn.begin():
        if conn.dialect.name == "sqlite":
            # pysqlite opens its transaction lazily at the first write; reads before it would be unlocked.
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        yield conn


def lock(conn: Connection, key: str) -> None:
    """Wait for the registry lock ``key`` until the end of the transaction (PostgreSQL; SQLite already holds one)."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock(lock_id(key))))


def alias_key(sport: str, market: str) -> str:
    return f"aliases:{sport}/{market}"


def versions_key(sport: str, market: str) -> str:
    return f"versions:{sport}/{market}"
