"""Champion and challenger aliases per sport and market, every move recorded, and one-command rollback.

The alias table holds the current pointer; ``model_alias_history`` holds every move (who, when, why, from, to).
Rollback replays the champion history as a stack (a promotion pushes, a rollback pops), so rolling back twice walks
two steps back instead of flipping between the last two champions. Moves of one sport and market are serialised
(``locking``), so the history of each alias is a chain (each move starts where the previous one ended) whose head is
the alias. Must never move an alias without a history row, nor outside a ``write_transaction``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, delete, insert, or_, select, update

from betpipe.clock import SYSTEM_CLOCK, Clock
from betpipe.db.bulk import as_utc
from betpipe.db.schema_registry import ALIASES, model_alias_history, model_aliases
from betpipe.registry.errors import AliasError, NoPreviousChampionError
from betpipe.registry.locking import alias_key, lock, write_transaction
from betpipe.registry.versions import ModelVersion, get_version

CHAMPION = "champion"
CHALLENGER = "challenger"


@dataclass(frozen=True)
class AliasMove:
    id: int
    sport: str
    market: str
    alias: str
    action: str
    from_version_id: int | None
    to_version_id: int | None
    moved_at: datetime
    reason: str
    actor: str


@dataclass(frozen=True)
class VersionDetails:
    """What ``betpipe models show`` prints: the version, its lineage, and every alias move that involved it."""

    version: ModelVersion
    history: tuple[AliasMove, ...]


def _current(conn: Connection, sport: str, market: str, alias: str, *, lock: bool = False) -> int | None:
    query = select(model_aliases.c.version_id).where(
        model_aliases.c.sport == sport, model_aliases.c.market == market, model_aliases.c.alias == alias
    )
    if lock:
        query = query.with_for_update()
    found = conn.execute(query).scalar()
    return None if found is None else int(found)


def _set(
    conn: Connection,
    sport: str,
    market: str,
    alias: str,
    to_version: int | None,
    *,
    action: str,
    reason: str,
    actor: str,
    now: datetime,
) -> None:
    """Point ``alias`` at ``to_version`` (``None`` clears it) plus its history row, in the caller's transaction."""
    from_version = _current(conn, sport, market, alias, lock=True)
    key = (model_aliases.c.sport == sport, model_aliases.c.market == market, model_aliases.c.alias == alias)
    if to_version is None:
        conn.execute(delete(model_aliases).where(*key))
    elif from_version is None:
        conn.execute(
            insert(model_aliases).values(sport=sport, market=market, alias=alias, version_id=to_version, moved_at=now)
        )
    else:
        conn.execute(update(model_aliases).where(*key).values(version_id=to_version, moved_at=now))
    conn.execute(
        insert(model_alias_history).values(
            sport=sport,
            market=market,
            alias=alias,
            action=action,
            from_version_id=from_version,
            to_version_id=to_version,
            moved_at=now,
            reason=reason,
            actor=actor,
        )
    )


def _require_reason(reason: str) -> str:
    if not reason.strip():
        raise AliasError("an alias move needs a reason (it is kept in the alias history)")
    return reason.strip()


def promote(
    engine: Engine,
    version_id: int,
    alias: str = CHAMPION,
    *,
    reason: str,
    actor: str = "unknown",
    clock: Clock = SYSTEM_CLOCK,
) -> ModelVersion:
    """Point ``alias`` of the version's sport and market at it; a challenger promoted to champion stops being one."""
    if alias not in ALIASES:
        raise AliasError(f"unknown alias {alias!r}; use one of {', '.join(ALIASES)}")
    reason = _require_reason(reason)
    with write_transaction(engine) as conn:
        version = get_version(conn, version_id)
        sport, market = version.sport, version.market
        lock(conn, alias_key(sport, market))
        now = clock.now()
        current = _current(conn, sport, market, alias, lock=True)
        if current == version.id:
            return version  # already there: nothing moves, nothing is recorded
        if alias == CHALLENGER and _current(conn, sport, market, CHAMPION) == version.id:
            raise AliasError(f"{version.label} is the champion; it cannot also be the challenger")
        _set(conn, sport, market, alias, version.id, action="promote", reason=reason, actor=actor, now=now)
        if alias == CHAMPION:
            _clear_challenger_if(
                conn, sport, market, version.id, reason=f"promoted to champion: {reason}", actor=actor, now=now
            )
        return get_version(conn, version.id)


def _champion_stack(conn: Connection, sport: str, market: str) -> list[int]:
    stack: list[int] = []
    moves = conn.execute(
        select(model_alias_history.c.action, model_alias_history.c.to_version_id)
        .where(
            model_alias_history.c.sport == sport,
            model_alias_history.c.market == market,
            model_alias_history.c.alias == CHAMPION,
        )
        .order_by(model_alias_history.c.id)
    )
    for action, to_version in moves:
        if action == "rollback":
            if stack:
                stack.pop()
        elif to_version is not None:
            stack.append(int(to_version))
    return stack


def _clear_challenger_if(
    conn: Connection, sport: str, market: str, version_id: int, *, reason: str, actor: str, now: datetime
) -> None:
    """A version that becomes champion stops being the challenger, and the history says why."""
    if _current(conn, sport, market, CHALLENGER) == version_id:
        _set(conn, sport, market, CHALLENGER, None, action="clear", reason=reason, actor=actor, now=now)


def rollback(
    engine: Engine,
    sport: str,
    market: str,
    *,
    reason: str,
    actor: str = "unknown",
    clock: Clock = SYSTEM_CLOCK,
) -> ModelVersion:
    """Move the champion back to the one it replaced; repeated rollbacks keep walking back, one step each.

    Concurrent rollbacks are serialised, so two of them walk back two steps and the history says so move by move.
    """
    reason = _require_reason(reason)
    with write_transaction(engine) as conn:
        lock(conn, alias_key(sport, market))
        now = clock.now()
        current = _current(conn, sport, market, CHAMPION, lock=True)
        if current is None:
            raise NoPreviousChampionError(f"{sport}/{market} has no champion, so there is nothing to roll back")
        stack = _champion_stack(conn, sport, market)
        if len(stack) < 2:
            raise NoPreviousChampionError(
                f"{sport}/{market}: champion {get_version(conn, current).label} has no previous champion to roll "
                "back to; promote a version instead"
            )
        target = stack[-2]
        _set(conn, sport, market, CHAMPION, target, action="rollback", reason=reason, actor=actor, now=now)
        _clear_challenger_if(
            conn, sport, market, target, reason=f"rolled back to champion: {reason}", actor=actor, now=now
        )
        return get_version(conn, target)


def alias_version(engine: Engine, sport: str, market: str, alias: str) -> ModelVersion | None:
    with engine.connect() as conn:
        version_id = _current(conn, sport, market, alias)
        return None if version_id is None else get_version(conn, version_id)


def champion(engine: Engine, sport: str, market: str) -> ModelVersion | None:
    return alias_version(engine, sport, market, CHAMPION)


def challenger(engine: Engine, sport: str, market: str) -> ModelVersion | None:
    return alias_version(engine, sport, market, CHALLENGER)


def _moves(conn: Connection, *conditions: object) -> tuple[AliasMove, ...]:
    rows = conn.execute(select(model_alias_history).where(*conditions).order_by(model_alias_history.c.id)).mappings()  # type: ignore[arg-type]
    return tuple(
        AliasMove(
            id=int(row["id"]),
            sport=row["sport"],
            market=row["market"],
            alias=row["alias"],
            action=row["action"],
            from_version_id=None if row["from_version_id"] is None else int(row["from_version_id"]),
            to_version_id=None if row["to_version_id"] is None else int(row["to_version_id"]),
            moved_at=as_utc(row["moved_at"]),
            reason=row["reason"],
            actor=row["actor"],
        )
        for row in rows
    )


def alias_history(engine: Engine, sport: str, market: str, alias: str | None = None) -> tuple[AliasMove, ...]:
    """Every alias move for a sport and market, oldest first."""
    conditions = [model_alias_history.c.sport == sport, model_alias_history.c.market == market]
    if alias is not None:
        conditions.append(model_alias_history.c.alias == alias)
    with engine.connect() as conn:
        return _moves(conn, *conditions)


def show_version(engine: Engine, version_id: int) -> VersionDetails:
    with engine.connect() as conn:
        version = get_version(conn, version_id)
        history = _moves(
            conn,
            or_(model_alias_history.c.from_version_id == version_id, model_alias_history.c.to_version_id == version_id),
        )
    return VersionDetails(version=version, history=history)
