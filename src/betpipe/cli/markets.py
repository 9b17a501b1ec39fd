"""``betpipe evaluate-markets``: over/under 2.5 and Asian handicap judged against their own close (issue 18)."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from betpipe.cli._common import console
from betpipe.cli._errors import CliError

REFERENCE_LEAGUES = ("E0", "E1", "SP1")


def evaluate_markets(
    data: Path = typer.Option(..., help="football-data folder (<LEAGUE>/<SEASON>.csv), read in place."),
    first_season: str = typer.Option("2019-2020", help="First scored season (Pinnacle O/U and AH from 2019-20)."),
    refit_days: float = typer.Option(7.0, min=1.0, max=400.0, help="Refit the goal models every this many days."),
    competition: list[str] | None = typer.Option(None, "--competition", "-c", help="Score only these competitions."),
    markdown: Path | None = typer.Option(None, help="Also write the tables as Markdown here."),
) -> None:
    """Pinnacle close and pre-match, base rates, Dixon–Coles and bivariate Poisson walk-forward and the grid implied
    by the pre-match 1X2 price, all on the same rows, with paired bootstrap 95% CIs."""
    import time

    from betpipe.modeling.market_data import load_market_frame
    from betpipe.modeling.market_eval import evaluate_markets as run
    from betpipe.modeling.market_eval import format_markdown, subset

    if not data.is_dir():
        raise CliError(f"{data} is not a folder of football-data files (<LEAGUE>/<SEASON>.csv)")
    started, cpu = time.perf_counter(), time.process_time()
    training_from = f"{int(first_season[:4]) - 4}-{int(first_season[:4]) - 3}"  # Dixon–Coles keeps ~3 years
    try:
        frame = load_market_frame(data, first_season=training_from)
        result = run(frame, first_season=first_season, refit_days=refit_days, competitions=competition)
    except ValueError as error:
        raise CliError(str(error)) from None
    text = format_markdown(result.tables, title=f"All scored competitions, seasons {first_season} on")
    reference = subset(result, REFERENCE_LEAGUES)
    if reference:
        text += "\n" + format_markdown(reference, title="E0, E1 and SP1 only (the reference figures' rows)")
    notes = [*result.notes, f"{time.perf_counter() - started:.0f} s wall, {time.process_time() - cpu:.0f} s CPU"]
    text += "\n" + "\n".join(f"- {note}" for note in notes) + f"\n- load average {os.getloadavg()[0]:.1f}\n"
    console.print(text, markup=False, highlight=False)
    if markdown is not None:
        markdown.write_text(text)
