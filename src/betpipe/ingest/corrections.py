"""Corrections that change an event's natural key: a fixture the source moved to another date.

The natural key holds the kickoff date, so a corrected date would otherwise store the fixture a second time. The
source's own id (``event_refs``) says it is the same fixture: the event row is updated in place (logged in
``change_log``) and the prices this source stamped at the old times are retired (logged too), so features never see
two closing prices for one selection. It never touches an event another key already holds, and never deletes events.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from sqlalchemy import Connection, delete, insert, select

from betpipe.clock import Clock
from betpipe.db.bulk import upsert
from betpipe.db.schema import change_log, event_refs, events, odds_snapshots

_ODDS_KEY = ("event_id", "bookmaker_id", "market", "selection", "line", "kind", "captured_at")


def correct_moved_events(
    conn: Connection,
    source: str,
    refs: Sequence[tuple[str, str, str]],
    rows_by_key: Mapping[str, tuple[object, ...]],
    columns: Sequence[str],
    *,
    clock: Clock,
) -> int:
    """Move events whose source id now arrives under another natural key; returns how many moved.

    ``refs`` are (source, external id, new natural key); ``rows_by_key`` the batch's event rows (``columns`` order,
    natural key first) by natural key."""
    new_keys = {external_id: key for _, external_id, key in refs if key in rows_by_key}
    if not new_keys:
        return 0
    stored = conn.execute(
        select(event_refs.c.external_id, events.c.id, events.c.natural_key)
        .join(events, events.c.id == event_refs.c.event_id)
        .where(event_refs.c.source == source, event_refs.c.external_id.in_(list(new_keys)))
    ).all()
    moves = {int(event_id): new_keys[ext] for ext, event_id, old_key in stored if new_keys[ext] != old_key}
    if not moves:
        return 0
    taken = set(conn.execute(select(events.c.natural_key).where(events.c.natural_key.in_(list(moves.values())))))
    moves = {event_id: key for event_id, key in moves.items() if (key,) not in taken}
    if not moves:
        return 0
    _retire_odds(conn, source, list(moves), clock)
    rows = [(event_id, *rows_by_key[key]) for event_id, key in moves.items()]
    upsert(conn, events, rows, ("id",), columns, source=source, clock=clock)
    return len(moves)


def _retire_odds(conn: Connection, source: str, event_ids: list[int], clock: Clock) -> None:
    """Delete this source's prices for moved events, each logged with its old values; the batch re-adds them."""
    condition = (odds_snapshots.c.event_id.in_(event_ids)) & (odds_snapshots.c.source == source)
    stale = conn.execute(
        select(*[odds_snapshots.c[name] for name in _ODDS_KEY], odds_snapshots.c.price).where(condition)
    )
    now = clock.now()
    entries = [
        {
            "table_name": odds_snapshots.name,
            "record_key": json.dumps([v.isoformat() if hasattr(v, "isoformat") else v for v in row[:-1]]),
            "old_values": {"price": row[-1]},
            "new_values": {"retired": "the event's date was corrected by its source"},
            "source": source,
            "changed_at": now,
        }
        for row in stale
    ]
    if entries:
        conn.execute(insert(change_log), entries)
        conn.execute(delete(odds_snapshots).where(condition))
