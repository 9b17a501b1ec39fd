"""Ledger account names: the one rule the settings and the CLI options share.

A module of its own that imports nothing, so a command that only checks a name (``betpipe bets list --account
paper``) does not load the settings classes (pydantic-settings, about half of that command's start-up CPU) to do it.
"""

from __future__ import annotations

__all__ = ["ACCOUNT_MAX_LENGTH", "account_problem"]

ACCOUNT_MAX_LENGTH = 100  # the ledger's ``account`` columns are VARCHAR(100)


def account_problem(name: str) -> str | None:
    """Why ``name`` cannot be a ledger account, or None.

    '' or ' paper' is a typo, not an account; more than the column holds fails on PostgreSQL mid-transaction."""
    if not name.strip():
        return "an account name cannot be empty"
    if len(name) > ACCOUNT_MAX_LENGTH:
        return f"an account name has at most {ACCOUNT_MAX_LENGTH} characters (got {len(name)})"
    if name != name.strip():
        return f"account {name!r} has leading or trailing blanks"
    return None
