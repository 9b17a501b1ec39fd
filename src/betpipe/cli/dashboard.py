"""``betpipe dashboard``: start the Streamlit dashboard (``monitoring/dashboard/app.py``) headless on a port.

A thin launcher: checks that the store (and any ledger file) can be opened, then becomes ``streamlit run`` (exec,
so stopping this pid stops the server) with the account and ledger URLs in its environment. It never writes to the
database and never creates one.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from betpipe.cli._common import open_engine, settings
from betpipe.cli._errors import USAGE, CliError


def _check_ledger(url: str) -> None:
    from sqlalchemy import inspect
    from sqlalchemy.exc import SQLAlchemyError

    from betpipe.monitoring.dashboard_data import read_only_engine

    try:
        engine = read_only_engine(url)
    except FileNotFoundError as error:
        raise CliError(f"--ledger-url: {error}") from None
    except Exception as error:  # a URL SQLAlchemy cannot parse or has no driver for
        raise CliError(f"--ledger-url {url!r} is not a database URL: {error}", exit_code=USAGE) from None
    try:
        if not inspect(engine).has_table("bets"):
            raise CliError(f"--ledger-url {url!r} has no `bets` table: not a betpipe ledger")
    except SQLAlchemyError as error:
        raise CliError(f"--ledger-url {url!r} cannot be read: {str(error).splitlines()[0]}") from None
    finally:
        engine.dispose()


def dashboard(
    port: int = typer.Option(8501, min=1, max=65535, help="Port to serve on."),
    address: str = typer.Option("127.0.0.1", help="Address to bind (127.0.0.1: this machine only)."),
    account: str | None = typer.Option(
        None,
        help="Ledger account, e.g. paper or backtest:<run id>; * matches any text (default: paper, or "
        "backtest:* with --ledger-url).",
    ),
    ledger_url: list[str] = typer.Option(
        [], "--ledger-url", help="Read bets from this ledger database (a backtest's SQLite file); repeat for several."
    ),
) -> None:
    """Start the read-only Streamlit dashboard: model health, betting, risk, system."""
    from betpipe.monitoring.dashboard import APP_PATH

    with open_engine(settings()):  # refuses a missing or unmigrated store in one line
        pass
    urls = [u if "://" in u else f"sqlite:///{Path(u).resolve()}" for u in ledger_url]
    for url in urls:
        _check_ledger(url)
    env = dict(os.environ)
    env.pop("BETPIPE_DASHBOARD_ACCOUNT", None)
    if account:
        env["BETPIPE_DASHBOARD_ACCOUNT"] = account
    env["BETPIPE_DASHBOARD_LEDGER_URLS"] = "\n".join(urls)
    command = [sys.executable, "-m", "streamlit", "run", str(APP_PATH), "--server.headless", "true"]
    command += ["--server.port", str(port), "--server.address", address, "--browser.gatherUsageStats", "false"]
    command += ["--client.toolbarMode", "viewer"]
    sys.stdout.flush()
    os.execve(sys.executable, command, env)  # streamlit takes over this process: one pid to stop, signals reach it
