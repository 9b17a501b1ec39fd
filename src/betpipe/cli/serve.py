"""``betpipe serve``: the prediction service (FastAPI) on one uvicorn worker.

Settings come from ``BETPIPE_SERVING__*`` (host, port, A/B share, alias poll interval, API token). Must never print
the API token or the database password.
"""

from __future__ import annotations

from datetime import datetime

import typer

from betpipe.cli._common import console, settings


def serve(
    host: str | None = typer.Option(None, help="Interface to bind (default: serving.host, 127.0.0.1)."),
    port: int | None = typer.Option(None, help="Port (default: serving.port, 8000)."),
    as_of: datetime | None = typer.Option(
        None, help="Pretend 'now' is this UTC instant (demos on the historical sample league; never in production)."
    ),
) -> None:
    """Serve over HTTP: /predict, /predict/batch, /opportunities, /bets, /models, /health, /ready, /metrics (/docs)."""
    import uvicorn

    from betpipe.clock import SYSTEM_CLOCK, Clock, FixedClock
    from betpipe.config import mask_url
    from betpipe.db.bulk import as_utc
    from betpipe.logs import is_verbose
    from betpipe.serving import create_app

    config = settings()
    clock: Clock = SYSTEM_CLOCK if as_of is None else FixedClock(as_utc(as_of))
    app = create_app(config, clock=clock)
    bind_host = host or config.serving.host
    bind_port = config.serving.port if port is None else port
    console.print(f"serving {mask_url(config.effective_database_url)} on http://{bind_host}:{bind_port}")
    uvicorn.run(
        app,
        host=bind_host,
        port=bind_port,
        workers=1,
        loop="uvloop",
        http="httptools",
        access_log=is_verbose(),  # `betpipe -v serve` shows every request; quiet by default
        log_level="info" if is_verbose() else "warning",
    )
