"""Team identity across sources: canonical teams and the aliases each source's spelling resolves through.

Also the one rule for what a team name may be, shared by every reader and the writer: a name that breaks it is
quarantined with its row, never sent to the database (where it would fail the whole file).
"""

from __future__ import annotations

import re

import polars as pl
from sqlalchemy import Engine, insert, select, update

from betpipe.db.schema import team_aliases, teams

# The longest real name in any source is about 30 characters; the columns hold 200. A longer "name" is a broken row.
MAX_TEAM_NAME_CHARS = 80
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_CLASS = r"[\x00-\x1f\x7f]"


class UnknownTeamError(LookupError):
    pass


class InvalidTeamNameError(ValueError):
    pass


def team_name_problem(name: str | None) -> str | None:
    """Why ``name`` cannot be a team name (None when it can): empty, too long or holding control characters."""
    if name is None or not name.strip():
        return "empty team name"
    if len(name) > MAX_TEAM_NAME_CHARS:
        return f"team name of {len(name)} characters (at most {MAX_TEAM_NAME_CHARS})"
    if _CONTROL.search(name):
        return f"team name {name!r} holds control characters"
    return None


def team_name_problem_expr(column: pl.Expr, label: str) -> pl.Expr:
    """``team_name_problem`` over a whole column (null where the name is fine); nulls are the caller's business."""
    return (
        pl.when(column.str.len_chars() > MAX_TEAM_NAME_CHARS)
        .then(pl.format("{} of {} characters (at most {})", pl.lit(label), column.str.len_chars(), MAX_TEAM_NAME_CHARS))
        .when(column.str.contains(_CONTROL_CLASS))
        .then(pl.lit(f"{label} holds control characters"))
    )


def add_team_alias(engine: Engine, *, sport: str, alias: str, team_name: str, source: str = "manual") -> int:
    """Point ``alias`` at the team named ``team_name`` (by canonical name or an existing alias)."""
    if problem := team_name_problem(alias):
        raise InvalidTeamNameError(f"cannot use {alias[:40]!r} as an alias: {problem}")
    with engine.begin() as conn:
        team_id = conn.execute(select(teams.c.id).where(teams.c.sport == sport, teams.c.name == team_name)).scalar()
        if team_id is None:
            team_id = conn.execute(
                select(team_aliases.c.team_id).where(team_aliases.c.sport == sport, team_aliases.c.alias == team_name)
            ).scalar()
        if team_id is None:
            raise UnknownTeamError(f"no {sport} team named {team_name!r}; ingest its results first")
        existing = conn.execute(
            select(team_aliases.c.id).where(team_aliases.c.sport == sport, team_aliases.c.alias == alias)
        ).scalar()
        if existing is None:
            conn.execute(insert(team_aliases).values(sport=sport, alias=alias, team_id=team_id, source=source))
        else:
            conn.execute(
                update(team_aliases).where(team_aliases.c.id == existing).values(team_id=team_id, source=source)
            )
        return int(team_id)
