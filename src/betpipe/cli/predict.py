"""``betpipe predict``: the champion's probabilities for every scheduled event of a competition, with its version.

The same ``SportPredictor`` the service answers with, so the command line and ``POST /predict`` agree to the last
digit. Writes a table to the terminal, or CSV / Parquet by the ``--out`` suffix. Never trains or promotes anything.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer
from rich.table import Table

from betpipe.cli._common import console, open_engine, settings
from betpipe.cli._errors import USAGE, CliError


def predict(
    competition: str = typer.Option(..., help="Competition code, e.g. E0."),
    upcoming: bool = typer.Option(True, "--upcoming/--no-upcoming", help="Scheduled events after --as-of (default)."),
    out: Path | None = typer.Option(None, help="Write to this .csv or .parquet file instead of the terminal."),
    as_of: datetime | None = typer.Option(None, help="Only events kicking off after this UTC instant (default: now)."),
) -> None:
    """Print or write the champion's probabilities for every scheduled event of a competition."""
    from betpipe.clock import SYSTEM_CLOCK
    from betpipe.db.bulk import as_utc
    from betpipe.predict import predict_upcoming

    if not upcoming:
        raise CliError("only --upcoming predictions exist so far (scheduled events)", exit_code=USAGE)
    if out is not None and out.suffix.lower() not in (".csv", ".parquet"):
        raise CliError(f"--out {out}: give a .csv or .parquet file", exit_code=USAGE)
    after = SYSTEM_CLOCK.now() if as_of is None else as_utc(as_of)
    config = settings()
    with open_engine(config) as engine:
        frame = predict_upcoming(engine, config, competition=competition, after=after)
    if out is not None:
        if out.suffix.lower() == ".csv":
            frame.write_csv(out)
        else:
            frame.write_parquet(out)
        console.print(f"wrote {frame.height} predictions to {out}")
        return
    if frame.height == 0:
        console.print(f"no scheduled {competition} events after {after.isoformat()}")
        return
    table = Table(title=f"{competition}: champion predictions")
    for column in frame.columns:
        table.add_column(column, justify="right" if column.startswith("p_") else "left")
    for row in frame.iter_rows():
        table.add_row(*[f"{value:.4f}" if isinstance(value, float) else str(value) for value in row])
    console.print(table)
