"""``betpipe close-model judge``: the model of the close judged three ways on the untouched seasons (issue 16)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from betpipe.cli._common import console, open_engine, progress_display, settings
from betpipe.cli._errors import CliError

app = typer.Typer(
    help="The model of the close (Pinnacle's closing price forecast at the decision).", no_args_is_help=True
)


@app.command("judge")
def judge(
    first_season: str = typer.Option("2016-2017", help="First judged season (the untouched seasons by default)."),
    last_season: str | None = typer.Option(None, help="Last judged season (default: the latest)."),
    competition: list[str] | None = typer.Option(None, "--competition", "-c", help="Only these competitions."),
    refit_days: float = typer.Option(7.0, min=1.0, max=400.0, help="Refit the walk-forward every this many days."),
    l2: float | None = typer.Option(None, min=0.0, help="Prior strength toward close = pre-match (default frozen)."),
    markdown: Path | None = typer.Option(None, help="Also write the table as Markdown here."),
    json_out: Path | None = typer.Option(None, "--json", help="Also write the figures as JSON here."),
    tune: bool = typer.Option(False, help="Instead: score each prior strength on the tuning seasons 2013-14..15-16."),
) -> None:
    """(a) close forecast vs close = pre-match, (b) results vs Pinnacle pre-match, (c) CLV vs market-only shopping
    at equal bet counts; paired bootstrap 95% CIs on the same rows."""
    from betpipe.backtest import close_judge

    config = settings()
    with open_engine(config) as engine:
        try:
            frame = close_judge.close_frame(engine, config, competitions=competition)
        except ValueError as error:
            raise CliError(str(error)) from None
    if tune:
        scores = close_judge.tune(frame)
        for value, loss in scores.items():
            console.print(f"l2 = {value:g}: cross-entropy vs the close {loss:.6f}")
        return
    with progress_display() as progress:
        task = progress.add_task("walk-forward", total=None)

        def on_block(method: str, done: int, total: int) -> None:
            progress.update(task, description=f"walk-forward ({method})", completed=done, total=total)

        try:
            result = close_judge.judge(
                frame,
                first_season=first_season,
                last_season=last_season,
                l2=close_judge.DEFAULT_L2 if l2 is None else l2,
                refit_days=refit_days,
                on_block=on_block,
            )
        except ValueError as error:
            raise CliError(str(error)) from None
    text = result.markdown()
    console.print(text, markup=False, highlight=False)
    if markdown is not None:
        markdown.write_text(text)
    if json_out is not None:
        json_out.write_text(json.dumps(result.as_json(), indent=2) + "\n")


@app.command("train")
def train(
    competition: list[str] | None = typer.Option(None, "--competition", "-c", help="Only these competitions."),
    until: str | None = typer.Option(None, help="Train on matches kicked off before this ISO instant (default now)."),
    method: str = typer.Option("multiplicative", help="Margin removal of inputs and target: multiplicative | shin."),
    champion: bool = typer.Option(True, help="Make it the champion of soccer/close_1x2 (what the live run loads)."),
) -> None:
    """Fit the model of the close on every match whose close is known and register it (hashed artifact, lineage):
    what a live strategy with model close_model loads."""
    from datetime import datetime

    from betpipe.live.close_source import CLOSE_MARKET, train_close_model
    from betpipe.registry import RegistryError

    config = settings()
    try:
        cutoff = None if until is None else datetime.fromisoformat(until)
    except ValueError:
        raise CliError(f"--until {until!r} is not an ISO date or instant") from None
    if method not in ("multiplicative", "shin"):
        raise CliError(f"--method must be multiplicative or shin; got {method!r}")
    with open_engine(config) as engine:
        try:
            version = train_close_model(
                engine, config, competitions=competition, until=cutoff, method=method, make_champion=champion
            )
        except (ValueError, RegistryError) as error:
            raise CliError(str(error)) from None
    rows = version.metrics.get("train_rows")
    role = " (champion)" if champion else ""
    console.print(f"registered soccer/{CLOSE_MARKET} v{version.version}{role}: {rows} training rows, id {version.id}")
