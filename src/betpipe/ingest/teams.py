"""Team identity across sources: canonical teams and the aliases each source's spelling resolves through."""

from __future__ import annotations

from sqlalchemy import Engine, insert, select, update

from betpipe.db.schema import team_aliases, teams


class UnknownTeamError(LookupError):
    pass


def add_team_alias(engine: Engine, *, sport: str, alias: str, team_name: str, source: str = "manual") -> int:
    """Point ``alias`` at the team named ``team_name`` (by canonical name or an existing alias)."""
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
