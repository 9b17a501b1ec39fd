"""``betpipe features ...``: build the point-in-time store, inspect one event, list definitions."""

from __future__ import annotations

from datetime import datetime

import typer
from rich.table import Table

from betpipe.cli._common import console, open_engine, progress_display, settings
from betpipe.cli._errors import CliError
from betpipe.cli._inputs import MAX_ID

app = typer.Typer(help="Features and the point-in-time feature store.", no_args_is_help=True)


@app.command("build")
def build(
    sport: str | None = typer.Option(None, help="Only this sport (soccer, american_football, ...)."),
    competition: str | None = typer.Option(None, help="Only the sport of this competition code."),
) -> None:
    """Compute every feature definition for every event and store the versioned, as-of indexed result."""
    from betpipe.features import build_features
    from betpipe.sports import sport_rules

    if sport is not None:
        sport_rules(sport)
    config = settings()
    with (
        open_engine(config) as engine,
        progress_display() as progress,
    ):
        task = progress.add_task("building features", total=None)

        def on_progress(description: str, completed: int, total: int) -> None:
            progress.update(task, description=description, completed=completed, total=total)

        report = build_features(engine, sport=sport, competition=competition, settings=config, on_progress=on_progress)
    if not report.builds:
        raise CliError("no events to build features for: ingest something first (e.g. `betpipe ingest sample`)")
    table = Table(title="feature builds")
    for column in ("sport", "feature set", "build", "events", "played", "seconds"):
        table.add_column(column)
    for b in report.builds:
        table.add_row(
            b.sport,
            b.feature_set_version,
            str(b.build_id),
            str(b.events),
            str(b.played),
            f"{sum(b.seconds.values()):.2f}",
        )
    console.print(table)


@app.command("show")
def show(
    event_id: int = typer.Argument(..., min=1, max=MAX_ID, help="Event id."),
    as_of: datetime | None = typer.Option(None, help="Instant (UTC) the values are as known at; default now."),
) -> None:
    """One event's feature vector as known at an instant: values, definition versions and when each was known."""
    from betpipe.features import event_features

    with open_engine() as engine:
        features = event_features(engine, event_id, as_of=as_of, settings=settings())
    console.print(
        f"event {features.event_id} ({features.competition}, kickoff {features.kickoff_utc}) as of "
        f"{features.as_of}; feature set {features.feature_set_version}, build {features.build_id}"
    )
    table = Table()
    for column in ("feature", "value", "version", "known at"):
        table.add_column(column)
    for name, value in features.values.items():
        known = features.known_at.get(name)
        table.add_row(
            name,
            "" if value is None else f"{value:.6g}",
            features.versions.get(name, ""),
            "" if known is None else known.isoformat(),
        )
    console.print(table)


@app.command("list")
def list_features() -> None:
    """Every feature definition with its parameters and version, per sport."""
    from betpipe.features import list_definitions

    table = Table(title="feature definitions")
    for column in ("sport", "feature set", "definition", "version", "parameters"):
        table.add_column(column, overflow="fold")
    for row in list_definitions():
        params = ", ".join(f"{k}={v}" for k, v in dict(row.get("parameters", {})).items())
        table.add_row(
            str(row["sport"]), str(row["feature_set_version"]), str(row.get("name")), str(row.get("version")), params
        )
    console.print(table)


@app.command("sanity-check")
def sanity_check(competition: str = typer.Option("E0", help="Competition code.")) -> None:
    """Does Elo carry signal? Log loss of Elo's p(home win) vs the earlier seasons' home-win base rate."""
    from betpipe.features import elo_sanity_check

    with open_engine() as engine:
        result = elo_sanity_check(engine, competition, settings=settings())
    table = Table(title=f"Elo sanity check: {competition}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, value in result.items():
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    console.print(table)
