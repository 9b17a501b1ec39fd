"""``betpipe data ...`` and ``betpipe teams ...``: what the store holds, what was quarantined, team aliases."""

from __future__ import annotations

import typer
from rich.table import Table

from betpipe.cli._common import console, open_engine

app = typer.Typer(help="What the store holds.", no_args_is_help=True)
teams_app = typer.Typer(help="Teams and their aliases.", no_args_is_help=True)


@app.command("summary")
def summary() -> None:
    """Events, odds and quarantined rows per source and season."""
    from betpipe.ingest.summary import quarantine_summaries, season_summaries

    with open_engine() as engine:
        seasons = season_summaries(engine)
        quarantined = quarantine_summaries(engine)
    table = Table(title="events and odds per source and season")
    for column in ("source", "competition", "season", "events", "finished", "odds rows"):
        table.add_column(column, justify="right" if column in {"events", "finished", "odds rows"} else "left")
    for row in seasons:
        table.add_row(row.source, row.competition, row.season, str(row.events), str(row.finished), str(row.odds))
    table.add_row(
        "total",
        "",
        "",
        str(sum(r.events for r in seasons)),
        str(sum(r.finished for r in seasons)),
        str(sum(r.odds for r in seasons)),
        style="bold",
    )
    console.print(table)
    q_table = Table(title="quarantine per source and reason")
    for column in ("source", "reason", "rows"):
        q_table.add_column(column)
    for q in quarantined:
        q_table.add_row(q.source, q.reason, str(q.rows))
    console.print(q_table if quarantined else "quarantine: empty")


@app.command("quarantine")
def show_quarantine(
    source: str | None = typer.Option(None, help="Only this source."),
    limit: int = typer.Option(50, help="Rows to show."),
) -> None:
    """The quarantined rows themselves: where they came from, why, and the record as read."""
    from sqlalchemy import select

    from betpipe.db.schema import quarantine

    query = (
        select(
            quarantine.c.source, quarantine.c.locator, quarantine.c.row_ref, quarantine.c.reason, quarantine.c.record
        )
        .order_by(quarantine.c.id)
        .limit(limit)
    )
    if source:
        query = query.where(quarantine.c.source == source)
    table = Table(title="quarantine")
    for column in ("source", "row", "reason", "record"):
        table.add_column(column, overflow="fold")
    with open_engine() as engine, engine.connect() as conn:
        for row in conn.execute(query):
            table.add_row(row.source, row.row_ref, row.reason, row.record[:200])
    console.print(table)


@teams_app.command("alias")
def add_alias(
    alias: str = typer.Argument(..., help="The name a source uses, e.g. 'Manchester United'."),
    team: str = typer.Argument(..., help="The team's canonical name in the store, e.g. 'Man United'."),
    sport: str = typer.Option("soccer", help="Sport of the team."),
) -> None:
    """Map a source's team name onto an existing team, so its quarantined rows ingest on the next run."""
    from betpipe.ingest.teams import add_team_alias
    from betpipe.sports import sport_rules

    sport_rules(sport)
    with open_engine() as engine:
        team_id = add_team_alias(engine, sport=sport, alias=alias, team_name=team)
    console.print(f"{alias!r} -> {team!r} (team id {team_id})")
