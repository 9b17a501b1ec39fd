"""``betpipe train`` and ``betpipe evaluate``: fit and register one model; score every model against the market."""

from __future__ import annotations

from pathlib import Path

import typer

from betpipe.cli._common import console, fail_clearly, open_engine, settings


def train(
    sport: str = typer.Option("soccer", help="soccer or american_football."),
    model: str = typer.Option("gbm", help="Model name (see `betpipe evaluate --help` for the line-up)."),
    competition: list[str] = typer.Option(None, help="Only these competition codes (repeatable)."),
    promote: bool = typer.Option(False, help="Make it the champion right away."),
) -> None:
    """Fit one model on every played event, score it on the last season held out, register it with lineage."""
    from betpipe.registry import promote as promote_version
    from betpipe.training import train_model

    config = settings()
    with open_engine(config) as engine:
        with fail_clearly(ValueError, KeyError):
            result = train_model(engine, sport=sport, model=model, settings=config, competitions=competition or None)
        if promote:
            promote_version(engine, result.version.id, reason=f"betpipe train --promote ({model})")
    v = result.version
    console.print(
        f"registered {v.model_type} as {v.sport}/{v.market} v{v.version} (id {v.id}), "
        f"{v.lineage.row_count} rows {v.lineage.start.date()}..{v.lineage.end.date()}, "
        f"artifact {v.artifact_sha256[:12]}"
    )
    if result.holdout_season:
        scores = ", ".join(f"{k} {val:.4f}" for k, val in result.metrics.items())
        console.print(f"held-out season {result.holdout_season} ({result.holdout_rows} rows): {scores}")
    if promote:
        console.print("promoted to champion")


def evaluate(
    sport: str = typer.Option("soccer", help="soccer or american_football."),
    competition: list[str] = typer.Option(None, help="Only these competition codes (repeatable)."),
    model: list[str] = typer.Option(None, help="Only these models (anchors always included; repeatable)."),
    first_season: str | None = typer.Option(None, help="First season scored (default: EVALUATION.md's)."),
    markdown: Path | None = typer.Option(None, help="Also write the report as Markdown to this file."),
    reliability: Path | None = typer.Option(None, help="Write the best model's reliability plot (SVG) here."),
) -> None:
    """Walk-forward by season; every model and market anchor on the same rows, paired bootstrap 95% CIs."""
    from betpipe.modeling import evaluate as run_evaluation
    from betpipe.modeling import format_markdown

    with open_engine() as engine, fail_clearly(ValueError, LookupError):
        report = run_evaluation(
            engine, sport=sport, competitions=competition or None, models=model or None, first_season=first_season
        )
    from betpipe.modeling import reliability_svg

    text = format_markdown(report)
    console.print(text, markup=False, highlight=False, soft_wrap=True)  # Markdown: pasteable into docs
    for note in report.notes:
        console.print(f"note: {note}")
    if markdown is not None:
        markdown.write_text(text + "\n")
        console.print(f"wrote {markdown}")
    if reliability is not None:
        best = report.best_model()
        labels = ("home", "draw", "away") if report.predictions[best].shape[1] == 3 else ("home", "away")
        reliability.write_text(reliability_svg(report.reliability(best), title=f"{sport}: {best}", labels=labels))
        console.print(f"wrote {reliability} (reliability of {best})")
