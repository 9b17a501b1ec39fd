"""``betpipe ingest ...``: one command per source, each ending with the same summary table."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from betpipe.cli._common import (
    exit_if_nothing_read,
    open_engine,
    print_ingest_report,
    progress_display,
    settings,
)

if TYPE_CHECKING:
    from betpipe.ingest.store import IngestReport

app = typer.Typer(help="Ingest results and odds from a source.", no_args_is_help=True)


@app.command("football-data")
def football_data(
    paths: list[Path] = typer.Argument(None, help="CSV files or folders of football-data.co.uk files."),
    league: str | None = typer.Option(None, help="Download this league (E0, SP1, ...) from the site."),
    season: str | None = typer.Option(None, help="Season to download, e.g. 2019-2020."),
) -> None:
    """football-data.co.uk CSVs: results, match stats, 1X2 / over-under / Asian handicap odds."""
    from betpipe.ingest import football_data as source
    from betpipe.ingest.sample_league import ensure_unmixed

    config = settings()
    with open_engine(config) as engine:
        if league or season:
            if not (league and season):
                raise typer.BadParameter("--league and --season go together")
            ensure_unmixed(engine, sample=False)
            from betpipe.ingest.http import RateLimitedClient

            with RateLimitedClient(
                config.football_data.base_url,
                requests_per_second=config.football_data.requests_per_second,
                timeout_seconds=30.0,
                max_attempts=4,
                source="football-data",
            ) as client:
                report = source.ingest_football_data_download(engine, client, league, season)
        else:
            try:
                files = source.football_data_files(paths or [])
            except FileNotFoundError as error:
                raise typer.BadParameter(str(error)) from error
            if not files:
                raise typer.BadParameter("give CSV files/folders, or --league and --season")
            ensure_unmixed(engine, sample=False)
            report = _ingest_files_with_progress(engine, files, source.ingest_football_data)
    print_ingest_report(report, "football-data.co.uk")
    exit_if_nothing_read(report)


def _ingest_files_with_progress(engine: object, files: list[Path], ingest: object) -> IngestReport:
    with progress_display(transient=True) as progress:  # the summary table is what stays on the terminal
        task = progress.add_task("ingesting", total=len(files))

        def on_file(path: Path, _report: IngestReport) -> None:
            progress.update(task, advance=1, description=f"ingested {path.name}")

        return ingest(engine, files, on_file=on_file)  # type: ignore[operator, no-any-return]


@app.command("nflverse")
def nflverse(path: Path = typer.Argument(..., exists=True, help="nflverse games.csv")) -> None:
    """nflverse games.csv: results, moneylines, spreads and totals (closing-type lines), rest days, venue."""
    from betpipe.ingest.nflverse import ingest_nflverse
    from betpipe.ingest.sample_league import ensure_unmixed

    with open_engine() as engine:
        ensure_unmixed(engine, sample=False)
        report = ingest_nflverse(engine, path)
    print_ingest_report(report, "nflverse")
    exit_if_nothing_read(report)


@app.command("odds-api")
def odds_api(
    sport: str = typer.Option(..., help="The Odds API sport key, e.g. soccer_epl, americanfootball_nfl."),
    markets: str = typer.Option("h2h,spreads,totals", help="Comma-separated markets."),
    scores: bool = typer.Option(False, help="Also fetch /scores for recently completed events."),
) -> None:
    """Live odds (and optionally scores) from The Odds API v4; the API key comes from BETPIPE_ODDS_API__API_KEY."""
    from betpipe.ingest.odds_api import ingest_odds_api, ingest_odds_api_scores
    from betpipe.ingest.sample_league import ensure_unmixed

    config = settings()
    if config.odds_api.api_key is None:
        raise typer.BadParameter("set BETPIPE_ODDS_API__API_KEY (or [odds_api] api_key in betpipe.toml)")
    # A SourceError (recorded in ingest_runs / api_requests, key masked) becomes the handler's one line, exit 1.
    with open_engine(config) as engine:
        ensure_unmixed(engine, sample=False)
        report = ingest_odds_api(engine, config, sport, [m.strip() for m in markets.split(",") if m.strip()])
        if scores:
            report = report + ingest_odds_api_scores(engine, config, sport)
    print_ingest_report(report, f"The Odds API: {sport}")
    exit_if_nothing_read(report)


@app.command("sample")
def sample(
    seed: int = typer.Option(7, help="Random seed: the same seed always generates the same league."),
    teams: int = typer.Option(20, help="Number of teams."),
    seasons: int = typer.Option(6, help="Number of seasons."),
) -> None:
    """The built-in sample league: generated results and bookmaker prices, no third-party data, offline."""
    from betpipe.ingest.sample_league import SampleLeagueConfig, ingest_sample

    try:
        league = SampleLeagueConfig(seed=seed, n_teams=teams, n_seasons=seasons)
    except ValueError as error:  # the options are wrong: a usage error naming the bad value
        raise typer.BadParameter(str(error)) from None
    with open_engine() as engine:
        report = ingest_sample(engine, league)
    print_ingest_report(report, "sample league")
    exit_if_nothing_read(report)
