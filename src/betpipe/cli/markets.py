"""``betpipe evaluate-markets``: every market judged against its own close (issue 18): soccer's over/under 2.5 and
Asian handicap from football-data, the NFL's spread and total from nflverse."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from betpipe.cli._common import console
from betpipe.cli._errors import CliError

REFERENCE_LEAGUES = ("E0", "E1", "SP1")


def evaluate_markets(
    data: Path = typer.Option(
        ..., help="soccer: football-data folder (<LEAGUE>/<SEASON>.csv); american_football: nflverse games.csv."
    ),
    sport: str = typer.Option("soccer", help="soccer (O/U 2.5, Asian handicap) or american_football (spread, total)."),
    first_season: str | None = typer.Option(
        None, help="First scored season (soccer: 2019-2020, Pinnacle O/U and AH; NFL: 2006, closing prices)."
    ),
    refit_days: float = typer.Option(7.0, min=1.0, max=400.0, help="Refit the goal models every this many days."),
    competition: list[str] | None = typer.Option(None, "--competition", "-c", help="Score only these competitions."),
    markdown: Path | None = typer.Option(None, help="Also write the tables as Markdown here."),
) -> None:
    """Soccer: Pinnacle close and pre-match, base rates, Dixon–Coles and bivariate Poisson walk-forward and the grid
    implied by the pre-match 1X2 price. NFL: the consensus close, the walk-forward points ratings and the close-centred
    key-number distribution. All on the same rows, with paired bootstrap 95% CIs."""
    import time

    if sport == "american_football":
        if competition:
            raise CliError("--competition applies to soccer only")
        season = first_season or "2006"
        if not season.isdigit():
            raise CliError(f"--first-season {season!r}: an NFL season is a year, e.g. 2006")
        _evaluate_nfl(data, int(season), markdown)
        return
    if sport != "soccer":
        raise CliError(f"unknown sport {sport!r}: soccer or american_football")
    first_season = first_season or "2019-2020"
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


def _evaluate_nfl(data: Path, first_season: int, markdown: Path | None) -> None:
    import time

    from betpipe.modeling.nfl_line_eval import evaluate_nfl_lines, format_nfl_markdown, load_nfl_games

    if not data.is_file():
        raise CliError(f"{data} is not an nflverse games file (games.csv)")
    started, cpu = time.perf_counter(), time.process_time()
    try:
        result = evaluate_nfl_lines(load_nfl_games(data), first_season=first_season)
    except ValueError as error:
        raise CliError(str(error)) from None
    text = f"#### NFL spread and total, seasons {first_season} on\n\n" + format_nfl_markdown(result)
    text += f"- {time.perf_counter() - started:.1f} s wall, {time.process_time() - cpu:.1f} s CPU"
    text += f"\n- load average {os.getloadavg()[0]:.1f}\n"
    console.print(text, markup=False, highlight=False)
    if markdown is not None:
        markdown.write_text(text)
