"""The ``betpipe`` command line: thin typer shells that parse, call one library function and print with rich."""

from __future__ import annotations

import json

import typer

from betpipe.cli import data as data_commands
from betpipe.cli import features as feature_commands
from betpipe.cli import ingest as ingest_commands
from betpipe.cli import modeling as modeling_commands
from betpipe.cli import models as model_commands
from betpipe.cli._common import console, open_engine, settings

app = typer.Typer(
    help="betpipe: sports data and odds to calibrated predictions and disciplined bets.", no_args_is_help=True
)
config_app = typer.Typer(help="Configuration.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(db_app, name="db")
app.add_typer(ingest_commands.app, name="ingest")
app.add_typer(data_commands.app, name="data")
app.add_typer(data_commands.teams_app, name="teams")
app.add_typer(model_commands.app, name="models")
app.add_typer(feature_commands.app, name="features")
app.command("train")(modeling_commands.train)
app.command("evaluate")(modeling_commands.evaluate)


@app.callback()
def _configure() -> None:
    """Logs (structlog) go to stderr at BETPIPE_LOG_LEVEL; command output stays on stdout."""
    from betpipe.logs import configure_logging

    configure_logging(settings().log_level)


@config_app.command("show")
def config_show() -> None:
    """Print the effective configuration (defaults < betpipe.toml < BETPIPE_* env), secrets masked."""
    console.print_json(json.dumps(settings().masked()))


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head")) -> None:
    """Create or migrate the schema (Alembic) on the configured database."""
    from betpipe.config import mask_url
    from betpipe.db import current_revision, upgrade

    config = settings()
    with open_engine(config) as engine:
        upgrade(engine, revision)
        console.print(f"database {mask_url(config.effective_database_url)} at revision {current_revision(engine)}")


def main() -> None:  # pragma: no cover - console entry point
    app()
