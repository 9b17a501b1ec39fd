"""Structured logging (structlog) to stderr: key=value lines on a terminal, JSON lines otherwise.

Configured once at the edge (CLI, service); library modules only call ``get_logger``. Secrets never go into events:
callers log names and counts, never keys or URLs with credentials.

Quiet by default: other libraries' loggers (Dask's distributed, APScheduler, uvicorn, alembic, numba, httpx) log
WARNING and above only, unless ``verbose`` (``betpipe -v``); a successful run prints its answer, not their chatter,
and never the connection-closed tracebacks Dask logs while a local cluster shuts down. structlog itself is imported
only when a module first asks for a logger, so a command that logs nothing (``betpipe bets list``) never loads it.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

# Loggers of the libraries betpipe drives; "distributed" also reaches Dask's worker processes (see _quiet_dask).
LIBRARY_LOGGERS = (
    "alembic",
    "apscheduler",
    "asyncio",
    "bokeh",
    "distributed",
    "httpcore",
    "httpx",
    "numba",
    "tornado",
    "uvicorn",
    "uvicorn.access",
    "uvicorn.error",
)
# What a closing Dask cluster raises between its own processes: expected at shutdown, noise on a successful run.
_SHUTDOWN_ERRORS = ("CommClosedError", "StreamClosedError")

_state: dict[str, Any] = {"level": "INFO", "json": None, "verbose": False, "structlog": False}


class _CurrentStderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is now (test runners and embedding apps swap it)."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


class _LibraryNoiseFilter(logging.Filter):
    """Drops Dask's connection-closed errors (its own shutdown, not a failure) unless the run is verbose."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _state["verbose"] or not record.name.startswith(("distributed", "tornado", "asyncio")):
            return True
        names = [type(record.exc_info[1]).__name__] if record.exc_info and record.exc_info[1] else []
        text = f"{record.msg}"
        return not any(error in names or error in text for error in _SHUTDOWN_ERRORS)


def _stderr_logger(*_args: Any) -> Any:
    import structlog

    return structlog.PrintLogger(file=sys.stderr)


def _quiet_dask(verbose: bool) -> None:
    """Dask sets its loggers' levels from its config when ``distributed`` is imported (later, lazily) and in each
    worker process: the environment reaches both, a ``setLevel`` here would be overwritten."""
    level = "info" if verbose else "warning"
    os.environ["DASK_LOGGING__DISTRIBUTED"] = level
    if "dask.config" in sys.modules:  # already read its environment: tell it directly
        import dask.config

        dask.config.set({"logging.distributed": level})
        logging.getLogger("distributed").setLevel(level.upper())


def configure_logging(level: str = "INFO", *, json: bool | None = None, verbose: bool = False) -> None:
    """Set up stdlib logging now and structlog when it is first needed; ``verbose`` lets libraries speak."""
    _state.update(level=level.upper(), json=json, verbose=verbose)
    handler = _CurrentStderrHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_LibraryNoiseFilter())
    logging.basicConfig(handlers=[handler], level=level.upper(), force=True)
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if verbose else logging.WARNING)
    _quiet_dask(verbose)
    if _state["structlog"] or "structlog" in sys.modules:
        _configure_structlog()


def is_verbose() -> bool:
    """Whether ``-v`` asked for libraries' own logs (uvicorn's access log, the scheduler's job lines)."""
    return bool(_state["verbose"])


def _configure_structlog() -> None:
    import structlog

    level = str(_state["level"])
    as_json = (not sys.stderr.isatty()) if _state["json"] is None else bool(_state["json"])
    renderer: Any = structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level]),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )
    _state["structlog"] = True


def get_logger(name: str) -> Any:
    import structlog

    if not _state["structlog"]:
        _configure_structlog()
    return structlog.get_logger(name)
