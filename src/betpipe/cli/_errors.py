"""The CLI's one application-level error handler: an expected failure becomes one line that says what to do.

Exit codes: 2 for bad usage (arguments, options, configuration: the user can fix the command line), 1 for a bad
state (no schema yet, nothing ingested, unknown ids, a source or database that is down). Unexpected errors (bugs)
are never swallowed here: they keep their traceback. This module must never print a secret: messages come from the
library, which masks credentials, and database errors show the driver's first line only, never SQL parameters.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TypeVar

import typer

# typer vendors click (``typer._click``): these are the classes typer itself raises and builds commands from.
from typer._click import Context
from typer._click.exceptions import NoArgsIsHelpError, UsageError
from typer.core import TyperGroup

log = logging.getLogger(__name__)

T = TypeVar("T")

USAGE = 2
STATE = 1
# SQLite's and PostgreSQL's words for a table or column the schema does not have (yet).
_MISSING_TABLE = re.compile(r"no such (table|column)|relation .* does not exist|column .* does not exist")


class CliError(Exception):
    """An expected failure whose message already says what to do; raised by commands, printed by the handler."""

    def __init__(self, message: str, *, exit_code: int = STATE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def one_line(text: str) -> str:
    """The first non-empty line of ``text``, whitespace collapsed: a message, not a dump."""
    for line in text.splitlines():
        if line.strip():
            return " ".join(line.split())
    return text.strip()


def _config_message(error: Any) -> str:
    """Each problem as ``setting: why``; a check across settings names them in its own words, so it has no prefix."""
    problems = []
    for e in error.errors():
        why = str(e["msg"]).removeprefix("Value error, ")
        where = ".".join(str(p) for p in e["loc"])
        problems.append(f"{where}: {why}" if where else why)
    return f"invalid configuration ({'; '.join(problems)}): fix the BETPIPE_* variables or betpipe.toml"


class _NotLoadedError(Exception):
    """Stands in for an error class whose module was never imported: nothing can be an instance of it."""


def _loaded(module: str, name: str) -> type[Exception]:
    found = getattr(sys.modules.get(module), name, None)
    return found if isinstance(found, type) and issubclass(found, Exception) else _NotLoadedError


def classify(error: BaseException) -> tuple[int, str] | None:
    """(exit code, one-line message) for an expected error; None for anything else (a bug keeps its traceback).

    An error's class is loaded whenever the error exists, so classes are looked up in ``sys.modules`` rather than
    imported: failing fast (``no database at ...``) must not load the HTTP client, the registry or polars first.
    """
    ValidationError = _loaded("pydantic", "ValidationError")
    OperationalError, InterfaceError, ProgrammingError = (
        _loaded("sqlalchemy.exc", name) for name in ("OperationalError", "InterfaceError", "ProgrammingError")
    )
    SourceError = _loaded("betpipe.ingest.http", "SourceError")
    RegistryError = _loaded("betpipe.registry.errors", "RegistryError")
    UnknownMarketError, UnknownSportError = (
        _loaded("betpipe.sports", name) for name in ("UnknownMarketError", "UnknownSportError")
    )
    TOMLDecodeError = _loaded("tomllib", "TOMLDecodeError")

    if isinstance(error, NoArgsIsHelpError):
        return None  # the help text is the answer
    if isinstance(error, UsageError):
        if error.ctx is None:  # raised by a command body: its message says what to give
            return USAGE, one_line(error.format_message())
        return USAGE, f"{one_line(error.format_message())} (see `{error.ctx.command_path} --help`)"
    if isinstance(error, CliError):
        return error.exit_code, one_line(str(error))
    if isinstance(error, ValidationError):
        return USAGE, one_line(_config_message(error))
    if isinstance(error, TOMLDecodeError):
        return (
            USAGE,
            f"the configuration file is not valid TOML ({one_line(str(error))}): fix betpipe.toml or BETPIPE_CONFIG",
        )
    if isinstance(error, (UnknownSportError, UnknownMarketError)):
        return USAGE, one_line(str(error))
    if isinstance(error, (OperationalError, InterfaceError, ProgrammingError)):
        orig = getattr(error, "orig", None)
        reason = one_line(str(orig)) if orig is not None else type(error).__name__
        if _MISSING_TABLE.search(reason):  # a command that skipped the schema check met an old or empty store
            return STATE, f"the database schema is missing or old ({reason}): run `betpipe db upgrade`"
        if isinstance(error, ProgrammingError):
            return None  # bad SQL is a bug
        return STATE, f"the database is unavailable ({reason}): check BETPIPE_DATABASE_URL and that the server is up"
    if isinstance(error, (SourceError, RegistryError, ValueError)):
        return STATE, one_line(str(error))
    if isinstance(error, KeyError):  # str(KeyError) is the repr of its key: show the message itself
        return STATE, one_line(str(error.args[0]) if error.args else "not found")
    if isinstance(error, LookupError):
        return STATE, one_line(str(error))
    if isinstance(error, OSError) and error.filename is not None:
        return STATE, f"{error.strerror or type(error).__name__}: {error.filename}"
    return None


def _handled(call: Callable[[], T]) -> T:
    try:
        return call()
    except (typer.Exit, typer.Abort):
        raise
    except Exception as error:
        verdict = classify(error)
        if verdict is None:
            raise
        code, message = verdict
        log.debug("command failed", exc_info=error)  # BETPIPE_LOG_LEVEL=DEBUG shows the traceback
        fail(message, code=code, cause=error)


def fail(message: str, *, code: int = STATE, cause: BaseException | None = None) -> NoReturn:
    """Print ``message`` as the one error line on stderr and exit with ``code``."""
    from betpipe.cli._common import error_console

    error_console.print(f"error: {message}", style="red", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code=code) from cause


class ErrorHandlingGroup(TyperGroup):
    """The root command group: parsing and every sub-command run inside the handler above."""

    def make_context(
        self, info_name: str | None, args: list[str], parent: Context | None = None, **extra: Any
    ) -> Context:
        return _handled(lambda: super(ErrorHandlingGroup, self).make_context(info_name, args, parent, **extra))

    def invoke(self, ctx: Context) -> Any:
        return _handled(lambda: super(ErrorHandlingGroup, self).invoke(ctx))


def list_commands(group: TyperGroup, prefix: Sequence[str] = ()) -> list[tuple[str, ...]]:
    """Every leaf command as its path of names, e.g. ``("models", "show")``: for help texts and tests."""
    found: list[tuple[str, ...]] = []
    ctx = Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if isinstance(command, TyperGroup):
            found += list_commands(command, (*prefix, name))
        elif command is not None:
            found.append((*prefix, name))
    return found
