"""Checks of command-line values before they reach the store: ids, accounts, bet states, competitions, instants.

A value the database cannot hold (an id past 64 bits, an account past its column) or one that names nothing
(``--account nobody``, ``--state bogus``, ``--competition NOPE``) is bad usage: one line, exit 2, nothing written.
Without these checks the first would be a driver traceback and the second a silent empty answer or a phantom row.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from betpipe.cli._errors import USAGE, CliError

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from betpipe.config import Settings

__all__ = [
    "EARLIEST_INSTANT",
    "LATEST_INSTANT",
    "MAX_ID",
    "STATE_FILTERS",
    "check_account_text",
    "check_competition",
    "check_instant",
    "check_state",
    "known_account",
]

MAX_ID = 2**63 - 1
"""The largest id either backend stores (SQLite INTEGER, PostgreSQL BIGINT): the bound of every id argument."""
# ("open", "settled", *db.schema_betting.BET_STATES), spelt out because option help texts are built when the CLI
# starts and the schema module loads SQLAlchemy; tests/test_cli_startup.py checks the two agree.
STATE_FILTERS = ("open", "settled", "proposed", "rejected", "placed", "won", "lost", "void", "half_won", "half_lost")
# Replays and decisions happen between the first season anyone has odds for and a century ahead: an instant outside
# is a typo, and one near datetime's limits overflows the first window computed from it.
EARLIEST_INSTANT = datetime(1900, 1, 1, tzinfo=UTC)
LATEST_INSTANT = datetime(2200, 1, 1, tzinfo=UTC)


def _configured_accounts(config: Settings) -> list[str]:
    return sorted({config.pipeline.account, *config.monitoring.accounts})


def known_account(engine: Engine, account: str, config: Settings, *, option: str = "--account") -> str:
    """``account`` if it is configured or has ledger history (bets or a halt/resume on record), else a usage error.

    The ledger is shared by every account, so a typo must not open a new one: ``risk halt --account ''`` would halt
    nothing that bets, and ``bets settle --account nobody`` would leave a risk row behind.
    """
    from sqlalchemy import select, union

    from betpipe.db.schema_betting import bets, risk_events

    problem = _account_problem(account)
    if problem is not None:
        raise CliError(f"{option}: {problem}", exit_code=USAGE)
    configured = _configured_accounts(config)
    if account in configured:
        return account
    with engine.connect() as conn:
        seen = conn.execute(
            union(
                select(bets.c.account).where(bets.c.account == account),
                select(risk_events.c.account).where(risk_events.c.account == account),
            )
        ).first()
    if seen is None:
        raise CliError(
            f"{option}: unknown account {account!r}: give a configured one ({', '.join(configured)}) or one with "
            "ledger history (see `betpipe bets list`)",
            exit_code=USAGE,
        )
    return account


def _account_problem(account: str) -> str | None:
    from betpipe.accounts import account_problem

    return account_problem(account)


def check_account_text(account: str, *, option: str = "--account") -> str:
    """Only the form of an account name, for read-only filters that may name any account."""
    problem = _account_problem(account)
    if problem is not None:
        raise CliError(f"{option}: {problem}", exit_code=USAGE)
    return account


def check_state(state: str | None) -> str | None:
    if state is not None and state not in STATE_FILTERS:
        raise CliError(f"--state: unknown bet state {state!r}; give one of {', '.join(STATE_FILTERS)}", exit_code=USAGE)
    return state


def check_competition(engine: Engine, sport: str, competition: str | None) -> str | None:
    """``competition`` if the store has it for ``sport``, else a usage error naming the ones it has."""
    if competition is None:
        return None
    from sqlalchemy import select

    from betpipe.db.schema import competitions

    with engine.connect() as conn:
        codes = sorted(conn.execute(select(competitions.c.code).where(competitions.c.sport == sport)).scalars())
    if competition not in codes:
        known = ", ".join(codes) or "none yet: ingest something first"
        raise CliError(f"--competition: unknown {sport} competition {competition!r}; known: {known}", exit_code=USAGE)
    return competition


def check_instant(instant: datetime, *, option: str = "--as-of") -> datetime:
    if not EARLIEST_INSTANT <= instant < LATEST_INSTANT:
        raise CliError(
            f"{option}: {instant.isoformat()} is out of range; give an instant from {EARLIEST_INSTANT.year} "
            f"to before {LATEST_INSTANT.year}",
            exit_code=USAGE,
        )
    return instant
