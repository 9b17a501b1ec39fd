"""Stored strategies and the live one, as models are made champion: ``betpipe strategy list|show|promote|rollback``.

A strategy is stored once per (sport, content hash) with the lineage of the backtest that judged it (data, seasons,
report hash, headline figures); storing it again adds nothing. The live strategy of a sport is the head of its
``strategy_moves``: a promotion pushes, a rollback pops back to what the current one replaced, so two rollbacks walk
two steps back. With no move, the live run uses the built-in default. Must never move without a history row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select

from betpipe.betting.strategy_spec import StrategySpec
from betpipe.clock import SYSTEM_CLOCK, Clock
from betpipe.db.bulk import as_utc
from betpipe.db.schema_strategies import strategies, strategy_moves
from betpipe.registry.errors import RegistryError
from betpipe.registry.locking import lock, write_transaction

__all__ = [
    "StoredStrategy",
    "StrategyRegistryError",
    "get_strategy",
    "list_strategies",
    "live_strategy_record",
    "promote_strategy",
    "rollback_strategy",
    "store_strategy",
]


class StrategyRegistryError(RegistryError):
    """No such strategy, or nothing to roll back to: one line, nothing changed."""


@dataclass(frozen=True)
class StoredStrategy:
    id: int
    sport: str
    version: str
    name: str
    spec: StrategySpec
    lineage: dict[str, Any]
    created_at: datetime


def _record(row: Any) -> StoredStrategy:
    return StoredStrategy(
        int(row.id), str(row.sport), str(row.version), str(row.name), StrategySpec.from_json(dict(row.spec)),
        dict(row.lineage), as_utc(row.created_at),
    )  # fmt: skip


def store_strategy(
    engine: Engine, spec: StrategySpec, *, lineage: dict[str, Any] | None = None, clock: Clock = SYSTEM_CLOCK
) -> StoredStrategy:
    """Store ``spec`` (idempotent by content hash; a first lineage is kept, a later one is not merged)."""
    with write_transaction(engine) as conn:
        lock(conn, f"strategies:{spec.sport}")
        found = _by_version(conn, spec.sport, spec.version)
        if found is not None:
            return found
        conn.execute(
            insert(strategies).values(
                sport=spec.sport, version=spec.version, name=spec.name[:200], spec=spec.to_json(),
                lineage=lineage or {}, created_at=clock.now(),
            )
        )  # fmt: skip
        stored = _by_version(conn, spec.sport, spec.version)
    assert stored is not None
    return stored


def _by_version(conn: Connection, sport: str, version: str) -> StoredStrategy | None:
    row = conn.execute(select(strategies).where(strategies.c.sport == sport, strategies.c.version == version)).first()
    return None if row is None else _record(row)


def get_strategy(engine: Engine, ref: str, *, sport: str = "soccer") -> StoredStrategy:
    """By id (digits) or by version hash (or a unique prefix of it)."""
    with engine.connect() as conn:
        if ref.isdigit():
            rows = conn.execute(select(strategies).where(strategies.c.id == int(ref))).all()
        else:
            query = select(strategies).where(strategies.c.sport == sport, strategies.c.version.startswith(ref))
            rows = conn.execute(query).all() if ref else []
    if len(rows) != 1:
        what = "no" if not rows else "more than one"
        raise StrategyRegistryError(f"{what} stored {sport} strategy matches {ref!r}: see `betpipe strategy list`")
    return _record(rows[0])


def list_strategies(engine: Engine, *, sport: str = "soccer") -> list[StoredStrategy]:
    with engine.connect() as conn:
        rows = conn.execute(select(strategies).where(strategies.c.sport == sport).order_by(strategies.c.id)).all()
    return [_record(r) for r in rows]


def _moves(conn: Connection, sport: str) -> list[Any]:
    query = select(strategy_moves).where(strategy_moves.c.sport == sport).order_by(strategy_moves.c.id)
    return list(conn.execute(query).all())


def _live_id(moves: list[Any]) -> int | None:
    return None if not moves else (None if moves[-1].to_id is None else int(moves[-1].to_id))


def live_strategy_record(engine: Engine, sport: str) -> StoredStrategy | None:
    """The promoted strategy of ``sport``, or None (the live run then uses the built-in default)."""
    with engine.connect() as conn:
        live = _live_id(_moves(conn, sport))
        if live is None:
            return None
        row = conn.execute(select(strategies).where(strategies.c.id == live)).first()
    return None if row is None else _record(row)


def promote_strategy(
    engine: Engine,
    ref: str,
    *,
    sport: str = "soccer",
    reason: str = "",
    actor: str = "cli",
    clock: Clock = SYSTEM_CLOCK,
) -> StoredStrategy:
    """Make the stored strategy ``ref`` live for ``sport`` (a no-op move is refused: it is live already)."""
    target = get_strategy(engine, ref, sport=sport)
    with write_transaction(engine) as conn:
        lock(conn, f"strategies:{sport}")
        current = _live_id(_moves(conn, sport))
        if current == target.id:
            raise StrategyRegistryError(f"strategy {target.id} ({target.version}) is live already")
        conn.execute(
            insert(strategy_moves).values(
                sport=sport, action="promote", from_id=current, to_id=target.id, moved_at=clock.now(),
                reason=reason, actor=actor,
            )
        )  # fmt: skip
    return target


def rollback_strategy(
    engine: Engine, *, sport: str = "soccer", reason: str = "", actor: str = "cli", clock: Clock = SYSTEM_CLOCK
) -> StoredStrategy | None:
    """Back to what the live strategy replaced (None: the built-in default); a stack, like model rollback."""
    with write_transaction(engine) as conn:
        lock(conn, f"strategies:{sport}")
        moves = _moves(conn, sport)
        current = _live_id(moves)
        if current is None:
            raise StrategyRegistryError(f"no promoted {sport} strategy to roll back: the built-in default is live")
        stack: list[int | None] = []
        for move in moves:  # replay: a promotion pushes what it replaced, a rollback pops
            if move.action == "promote":
                stack.append(None if move.from_id is None else int(move.from_id))
            elif stack:
                stack.pop()
        previous = stack[-1] if stack else None
        conn.execute(
            insert(strategy_moves).values(
                sport=sport, action="rollback", from_id=current, to_id=previous, moved_at=clock.now(),
                reason=reason, actor=actor,
            )
        )  # fmt: skip
        row = None if previous is None else conn.execute(select(strategies).where(strategies.c.id == previous)).first()
    return None if row is None else _record(row)
