"""``betpipe train`` and ``betpipe evaluate``: fit and register one model; score every model against the market.

Progress goes to stderr (and only to a terminal), so the report on stdout stays pasteable Markdown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from typer.core import TyperCommand

from betpipe.cli._common import console, open_engine, progress_display, settings

if TYPE_CHECKING:
    from typer._click import Context, HelpFormatter

    from betpipe.modeling import EvaluationReport

ProgressCallback = Callable[[str, float, float], None]


def _trainable_help() -> str:
    """The ``--model`` help lists what ``train`` accepts, per sport, from the same line-up ``train`` checks."""
    from betpipe.live.training import trainable_models
    from betpipe.sports import SPORTS

    lines = "; ".join(f"{sport}: {', '.join(trainable_models(sport))}" for sport in sorted(SPORTS))
    return f"Model to train. Trainable: {lines}. (Market anchors are evaluation baselines, not trainable.)"


class TrainCommand(TyperCommand):
    """``train`` whose ``--model`` help is filled in only when shown: the line-up lives with the models, and
    loading them (scikit-learn, LightGBM) when the CLI starts would cost every command seconds of CPU."""

    def format_help(self, ctx: Context, formatter: HelpFormatter) -> None:
        for param in self.params:
            if param.name == "model":
                param.help = _trainable_help()  # type: ignore[attr-defined]
        super().format_help(ctx, formatter)


@contextmanager
def progress_bar(what: str, *, eta: bool = False) -> Iterator[ProgressCallback]:
    """A rich bar driven by a library ``on_progress(description, done, total)`` callback."""
    with progress_display(transient=True, eta=eta) as progress:
        task = progress.add_task(what, total=None)

        def on_progress(description: str, done: float, total: float) -> None:
            progress.update(task, description=f"{what}: {description}", completed=done, total=total)

        yield on_progress


def train(
    sport: str = typer.Option("soccer", help="soccer or american_football."),
    model: str = typer.Option("gbm", help="Model to train (`betpipe train --help` lists the trainable ones)."),
    competition: list[str] = typer.Option(None, help="Only these competition codes (repeatable)."),
    promote: bool = typer.Option(False, help="Make it the champion right away."),
    as_of: datetime | None = typer.Option(None, help="Train only on results known at this UTC date/instant."),
) -> None:
    """Fit one model on every played event, score it on the last season held out, register it with lineage."""
    from betpipe.cli.models import model_name
    from betpipe.db.bulk import as_utc
    from betpipe.live.training import train_model, trainable_models
    from betpipe.registry import promote as promote_version
    from betpipe.sports import sport_rules

    sport_rules(sport)  # an unknown sport is a usage error listing the known ones
    if model not in trainable_models(sport):
        raise typer.BadParameter(
            f"unknown model {model!r} for {sport}; trainable: {', '.join(trainable_models(sport))}",
            param_hint="--model",
        )
    config = settings()
    with open_engine(config) as engine:
        with progress_bar(f"train {model}") as on_progress:
            result = train_model(
                engine,
                sport=sport,
                model=model,
                settings=config,
                competitions=competition or None,
                end=None if as_of is None else as_utc(as_of),
                known_before=None if as_of is None else as_utc(as_of),  # results known by then, date-only included
                on_progress=on_progress,
            )
        if promote:
            promote_version(engine, result.version.id, reason=f"betpipe train --promote ({model})")
    v = result.version
    console.print(
        f"registered {model_name(v)} as {v.sport}/{v.market} v{v.version} (id {v.id}), "
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
    promote_best: bool = typer.Option(
        False, help="Then train the trainable model ranked best (headline metric) on everything and make it champion."
    ),
) -> None:
    """Walk-forward by season; every model and market anchor on the same rows, paired bootstrap 95% CIs."""
    from betpipe.modeling import default_specs, format_markdown
    from betpipe.modeling import evaluate as run_evaluation
    from betpipe.sports import sport_rules

    sport_rules(sport)
    known = [spec.name for spec in default_specs(sport)]
    unknown = sorted(set(model or []) - set(known))
    if unknown:
        raise typer.BadParameter(f"unknown {unknown}; {sport} has: {', '.join(known)}", param_hint="--model")
    config = settings()
    # ETA: work is counted in spec-season cost units (ModelSpec.cost), so the remaining time is roughly linear.
    with open_engine(config) as engine, progress_bar("evaluate", eta=True) as on_progress:
        report = run_evaluation(
            engine,
            sport=sport,
            competitions=competition or None,
            models=model or None,
            first_season=first_season,
            settings=config,
            on_progress=on_progress,
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
    if promote_best:
        _train_and_promote_best(report, competition or None)


def _train_and_promote_best(report: EvaluationReport, competitions: list[str] | None) -> None:
    """Promote what the evaluation just ranked best, never a model fixed in advance, and print why."""
    from betpipe.live.training import best_trainable, train_model
    from betpipe.registry import promote as promote_version

    choice = best_trainable(report)
    config = settings()
    with open_engine(config) as engine:
        with progress_bar(f"train {choice.model}") as on_progress:
            result = train_model(
                engine,
                sport=report.sport,
                model=choice.model,
                settings=config,
                competitions=competitions,
                on_progress=on_progress,
            )
        promote_version(engine, result.version.id, reason=f"betpipe evaluate --promote-best: {choice.reason()}")
    console.print(f"promoted {choice.model} (id {result.version.id}) to champion: {choice.reason()}")
