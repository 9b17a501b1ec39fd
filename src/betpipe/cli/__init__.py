"""The ``betpipe`` command line: thin typer shells that parse, call one library function and print with rich.

Start-up stays cheap (docs/benchmarks.md, CLI start-up): registering a command imports its typer shell
only; the libraries behind it (scikit-learn, LightGBM, Dask, Streamlit, FastAPI, polars) load inside the command body
that uses them. tests/test_cli_startup.py keeps them out of ``import betpipe.cli``. A command that reads only the
store (``bets list``) needs no pydantic either: plain option values are coerced without it (``_params``) and, when
nothing but the store and the log level is configured, its settings are read without it (``_settings``);
tests/test_cli_startup_bets.py keeps it so.

Expected failures are handled once, in ``_errors.ErrorHandlingGroup``: one line that says what to do, exit 1 or 2.
A command never prints a traceback for an input or state problem, and never prints a secret.
"""

from __future__ import annotations

import json

import typer

from betpipe.cli import _params
from betpipe.cli import betting as betting_commands
from betpipe.cli import data as data_commands
from betpipe.cli import features as feature_commands
from betpipe.cli import ingest as ingest_commands
from betpipe.cli import modeling as modeling_commands
from betpipe.cli import models as model_commands
from betpipe.cli._common import console, open_engine, settings, store_settings
from betpipe.cli._errors import USAGE, CliError, ErrorHandlingGroup

_params.install()  # options coerced without importing pydantic where typer's answer needs none (start-up CPU)

app = typer.Typer(
    help="betpipe: sports data and odds to calibrated predictions and disciplined bets.",
    no_args_is_help=True,
    cls=ErrorHandlingGroup,
    pretty_exceptions_show_locals=False,  # a bug's traceback must not print settings (secrets) held in locals
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
app.command("train", cls=modeling_commands.TrainCommand)(modeling_commands.train)
app.command("evaluate")(modeling_commands.evaluate)
app.command("evaluate-markets")(__import__("betpipe.cli.markets", fromlist=["x"]).evaluate_markets)
app.command("serve")(__import__("betpipe.cli.serve", fromlist=["serve"]).serve)
app.command("predict")(__import__("betpipe.cli.predict", fromlist=["predict"]).predict)
betting_commands.register(app)  # bets list|show|settle, risk status|halt|resume, bankroll
__import__("betpipe.cli.monitoring", fromlist=["register"]).register(app)  # monitor run, alerts list
app.command("backtest")(__import__("betpipe.cli.backtest", fromlist=["backtest"]).backtest)
app.add_typer(__import__("betpipe.cli.strategy", fromlist=["app"]).app, name="strategy")
app.command("dashboard")(__import__("betpipe.cli.dashboard", fromlist=["dashboard"]).dashboard)
__import__("betpipe.cli.pipeline", fromlist=["register"]).register(app)  # run, bet run
app.add_typer(__import__("betpipe.cli.close_model", fromlist=["app"]).app, name="close-model")


@app.callback()
def _configure(
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help="Also show other libraries' logs (Dask, APScheduler, uvicorn, alembic)."
    ),
) -> None:
    """Logs go to stderr, output stays on stdout. Quiet by default: WARNING and above, INFO with -v (other libraries'
    INFO too), or exactly BETPIPE_LOG_LEVEL when it is set."""
    from betpipe.logs import configure_logging
    from betpipe.threads import configure_threads

    config = store_settings()  # the full Settings, checked, unless only the store and log level are configured
    level = config.log_level if "log_level" in config.model_fields_set else ("INFO" if verbose else "WARNING")
    configure_logging(level, verbose=verbose)
    configure_threads(config.compute)  # thread pools sized once, before any command loads LightGBM


@config_app.command("show")
def config_show() -> None:
    """Print the effective configuration (defaults < betpipe.toml < BETPIPE_* env), secrets masked."""
    console.print_json(json.dumps(settings().masked()))


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head")) -> None:
    """Create or migrate the schema (Alembic) on the configured database."""
    from alembic.util.exc import CommandError

    from betpipe.config import mask_url
    from betpipe.db import current_revision, upgrade

    config = settings()
    with open_engine(config, require_schema=False) as engine:
        try:
            upgrade(engine, revision)
        except CommandError as error:  # unknown or unreachable revision: the argument is wrong
            raise CliError(f"{error}: give `head` or one of {', '.join(_revisions())}", exit_code=USAGE) from None
        console.print(f"database {mask_url(config.effective_database_url)} at revision {current_revision(engine)}")


def _revisions() -> list[str]:
    from alembic.script import ScriptDirectory

    from betpipe.db.engine import MIGRATIONS_DIR

    return sorted(script.revision for script in ScriptDirectory(str(MIGRATIONS_DIR)).walk_revisions())


def main() -> None:  # pragma: no cover - console entry point
    app()
